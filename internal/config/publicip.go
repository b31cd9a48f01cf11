package config

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckPublicIPSource validates one wan.public_ip entry.
func CheckPublicIPSource(s string) error {
	switch {
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%q is not a valid URL", s)
		}
	case strings.HasPrefix(s, "stun:"):
		if _, _, err := splitHostPortDefault(strings.TrimPrefix(s, "stun:"), "3478"); err != nil {
			return err
		}
	case strings.HasPrefix(s, "dns:"):
		// dns:server[:port][/name]: the name to ask for follows a slash.
		server, _, _ := strings.Cut(strings.TrimPrefix(s, "dns:"), "/")
		if _, _, err := splitHostPortDefault(server, "53"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%q has an unknown scheme", s)
	}
	return nil
}

func splitHostPortDefault(s, def string) (string, string, error) {
	if s == "" {
		return "", "", fmt.Errorf("no host given")
	}
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return host, def, nil
	}
	if _, err := parsePort(port); err != nil || host == "" {
		return "", "", fmt.Errorf("%q is not host:port", s)
	}
	return host, port, nil
}
