package bind

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestConfChecks: named-checkconf, BIND's own parser, accepts what Conf writes, with and without keys.
func TestConfChecks(t *testing.T) {
	check, err := exec.LookPath("named-checkconf")
	if err != nil {
		if check, err = exec.LookPath("/usr/bin/named-checkconf"); err != nil {
			t.Skip("named-checkconf is not installed (apt-get install bind9-utils)")
		}
	}
	dir := t.TempDir()
	for name, conf := range map[string]string{
		"address":     Conf(dir, "192.0.2.53", 53, "example.net", []string{"192.0.2.1"}),
		"key":         Conf(dir, "127.0.0.1", 5353, "example.net", nil, Key{"hairpin-key", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MDA="}),
		"address+key": Conf(dir, "192.0.2.53", 53, "example.net", []string{"192.0.2.1"}, Key{"k", "c2VjcmV0"}),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "named.conf")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(check, path).CombinedOutput(); err != nil {
				t.Errorf("named-checkconf: %v: %s\n%s", err, out, conf)
			}
		})
	}
}
