package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	cfg, err := Parse(file, yamlLines(
		"wan: {interface: eth0}",
		"lan: {interface: br-lan}",
		"notify:",
		"  - url: https://ntfy.sh/my-router",
		"    format: ntfy",
		"    events: [wan_address, dns_failed]",
		"  - {url_file: /etc/hairpin/telegram.url, format: telegram, chat_id: \"-100123\"}",
		"  - {url_env: HAIRPIN_HOOK}",
		"  - {url: http://192.168.1.5:8080/hook}",
	))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify
	if len(n) != 4 || n[0].Format != "ntfy" || !slices.Equal(n[0].Events, []string{"wan_address", "dns_failed"}) || n[0].Line != 4 ||
		n[1].URLFile != "/etc/hairpin/telegram.url" || n[1].ChatID != "-100123" || n[2].URLEnv != "HAIRPIN_HOOK" || n[2].Format != "json" ||
		n[3].URL != "http://192.168.1.5:8080/hook" || n[1].ConfigDir == "" {
		t.Errorf("notify = %+v", n)
	}
	if !n[2].Wants("daemon") || n[0].Wants("daemon") || !n[0].Wants("dns_failed") {
		t.Error("Wants: an entry without events wants all; one with events only those")
	}
}

func TestParseNotifyErrors(t *testing.T) {
	tests := []struct {
		name, entry, want string
	}{
		{"plain http to the internet", "{url: http://203.0.113.9/hook}", "notify[0].url: plain http goes only to a loopback or LAN address, not 203.0.113.9"},
		{"other scheme", "{url: ftp://x/}", `notify[0].url: scheme "ftp" is not https`},
		{"credentials", "{url: https://u:p@x/}", "notify[0].url: not an http(s) URL without credentials"},
		{"no url", "{format: slack}", "notify[0].url: 0 of url, url_file and url_env are set"},
		{"two urls", "{url: https://x/, url_env: X}", "notify[0].url: 2 of url, url_file and url_env are set"},
		{"relative file", "{url_file: hook.url}", `notify[0].url_file: "hook.url" is not an absolute path`},
		{"format", "{url: https://x/, format: teams}", `notify[0].format: "teams" is not allowed`},
		{"event", "{url: https://x/, events: [wan_changed]}", `notify[0].events[0]: "wan_changed" is not allowed`},
		{"telegram without chat", "{url_env: T, format: telegram}", "notify[0].chat_id: telegram needs chat_id"},
		{"chat without telegram", "{url_env: T, chat_id: \"1\"}", "notify[0].chat_id: chat_id is only for telegram"},
		{"unknown key", "{url: https://x/, token: abc}", "notify[0].token: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "notify:", "  - "+tt.entry))
			got := strings.Join(issues(t, err), "\n")
			if !strings.Contains(got, tt.want) || !strings.Contains(got, "hairpin.yaml:4:") {
				t.Errorf("got %q, want it to contain %q on line 4", got, tt.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		lines := []string{"wan: {interface: eth0}", "lan: {interface: br-lan}", "notify:"}
		for i := range MaxNotify + 5 {
			lines = append(lines, fmt.Sprintf("  - {url: https://x/%d}", i))
		}
		_, err := Parse(file, yamlLines(lines...))
		got := strings.Join(issues(t, err), "\n")
		if !strings.Contains(got, fmt.Sprintf("hairpin.yaml:%d:", 4+MaxNotify)) || !strings.Contains(got, "more than 16 notify entries") {
			t.Errorf("got %q", got)
		}
	})
}

// Every notify: example in docs/notify.md is a valid config.
func TestNotifyDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/notify.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) < 8 {
		t.Fatalf("%d yaml examples in docs/notify.md, want one per format", len(blocks))
	}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		if _, err := Parse(file, []byte("wan: {interface: eth0}\nlan: {interface: br-lan}\n"+b)); err != nil {
			t.Errorf("example %d:\n%s\n%v", i+1, b, err)
		}
	}
}

// FuzzCheckNotifyURL: URLs also come from files and the environment; none panics, and whatever is accepted is
// https, or http to this machine or the LAN, without credentials.
func FuzzCheckNotifyURL(f *testing.F) {
	for _, s := range []string{"https://ntfy.sh/x", "http://192.168.1.5:8080/h", "http://203.0.113.9/", "http://[fe80::1%25eth0]/", "http://localhost/", "https://u:p@x/", "http://10.0.0.1#f", "ftp://x", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckNotifyURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.User != nil || u.Host == "" {
			t.Fatalf("accepted %q", s)
		}
		if u.Scheme == "http" {
			a, err := netip.ParseAddr(u.Hostname())
			if u.Hostname() != "localhost" && (err != nil || !(a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast())) {
				t.Fatalf("accepted plain http to %q", u.Hostname())
			}
		} else if u.Scheme != "https" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
	})
}
