package preflight

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// TestSecrets: every secret the daemon reads is read now, and each that cannot be is an error at its entry's
// line; a file others can read is a warning. The same config with every secret in place has neither.
func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("pw", "secret\n", 0o600)
	open := write("open", "secret\n", 0o644)
	tsigBad := write("tsig-bad", "not base64 at all!\n", 0o600)
	tsig := write("tsig", "VLuNnpuJHmXqWAgrae9WBLyzLyvhvuQ5RpPRvuQcNxA=\n", 0o600)
	missing := filepath.Join(dir, "missing")
	t.Setenv("H19_SET", "token")
	cfgText := func(pw, tok, tsigFile, probe, control string) string {
		return fmt.Sprintf(`wan:
  interface: eth0
  probe: {url: "https://probe.example.net:9470/", secret_file: %s}
lan: {interface: br-lan}
daemon: {status: "127.0.0.1:9469", control: true, control_token_file: %s}
forwards: [{name: cam, port: 8090, to: 192.168.88.180:80}]
ddns:
  - {provider: dyndns2, server: "https://members.dyndns.org", hostname: a.example.net, username: me, password_file: %s}
  - {provider: duckdns, hostname: me.duckdns.org, token_env: %s}
  - {provider: rfc2136, server: "192.0.2.53:53", zone: example.net, hostname: c.example.net, tsig_key: k, tsig_secret_file: %s}
`, probe, control, pw, tok, tsigFile)
	}
	parse := func(text string) *config.Config {
		t.Helper()
		p := write("hairpin.yaml", text, 0o600)
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	errs, warns := Secrets(parse(cfgText(good, "H19_SET", tsig, good, good)))
	if len(errs)+len(warns) != 0 {
		t.Fatalf("every secret in place: errors %v, warnings %v", errs, warns)
	}
	errs, warns = Secrets(parse(cfgText(missing, "H19_UNSET", tsigBad, missing, missing)))
	want := []string{
		"hairpin.yaml:3:", "wan.probe",
		"hairpin.yaml:5:", "daemon.control_token_file",
		"hairpin.yaml:8:1: ddns[0] (a.example.net)", "missing",
		"hairpin.yaml:9:1: ddns[1] (me.duckdns.org)", "H19_UNSET",
		"hairpin.yaml:10:1: ddns[2] (c.example.net)",
	}
	got := errs.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q:\n%s", w, got)
		}
	}
	if len(errs) != 5 || len(warns) != 0 {
		t.Errorf("want 5 errors and no warning, got %d and %v", len(errs), warns)
	}
	if strings.Contains(got, "secret\n") {
		t.Error("an error shows a secret")
	}
	_, warns = Secrets(parse(cfgText(open, "H19_SET", tsig, good, good)))
	if len(warns) != 1 || warns[0].Line != 8 || !strings.Contains(warns[0].Hint, "chmod 600") {
		t.Errorf("a password file others can read: want one warning at line 8, got %v", warns)
	}
}
