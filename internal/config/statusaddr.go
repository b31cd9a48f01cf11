package config

import "strings"

// StatusAddress finds daemon.status in a config file that does not parse, line by line, so that `hairpin
// status` can still ask the daemon at the configured address: a broken file is when status is needed most. It
// knows the block form (`daemon:` then an indented `status: X`) and the flow form (`daemon: {status: X}`);
// anything else, or no such key, is "".
func StatusAddress(data []byte) string {
	inDaemon := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		top := !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t")
		if top {
			inDaemon = false
			rest, ok := strings.CutPrefix(trimmed, "daemon:")
			if !ok {
				continue
			}
			rest = strings.TrimSpace(rest)
			if !strings.HasPrefix(rest, "{") {
				inDaemon = true
				continue
			}
			_, after, ok := strings.Cut(rest, "status:")
			if !ok {
				continue
			}
			v, _, _ := strings.Cut(strings.TrimSpace(after), ",")
			return unquote(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(v), "}")))
		}
		if v, ok := strings.CutPrefix(trimmed, "status:"); ok && inDaemon {
			v, _, _ = strings.Cut(v, " #")
			return unquote(strings.TrimSpace(v))
		}
	}
	return ""
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
