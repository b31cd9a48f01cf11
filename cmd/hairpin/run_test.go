package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReloadKeepsStatusFlag: a reload of a changed config keeps `run --status`, so the daemon does not refuse
// it as a change of the status listener; without the flag the file's value is read (the control).
func TestReloadKeepsStatusFlag(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "cameras.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag, want string
	}{
		{"flag", "127.0.0.1:9911", "127.0.0.1:9911"},
		{"no flag", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hairpin.yaml")
			if err := os.WriteFile(path, example, 0o600); err != nil {
				t.Fatal(err)
			}
			running, err := reloadConfig(path, tc.flag, nil)
			if err != nil {
				t.Fatal(err)
			}
			fromFile := running.Daemon.Status
			if tc.want == "" {
				tc.want = fromFile
			}
			changed := strings.Replace(string(example), "port: 8090", "port: 8190", 1)
			if changed == string(example) {
				t.Fatal("the example has no forward on port 8090 to change")
			}
			if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
				t.Fatal(err)
			}
			next, err := reloadConfig(path, tc.flag, running)
			if err != nil {
				t.Fatal(err)
			}
			if next.Daemon.Status != tc.want || next.Daemon.Status != running.Daemon.Status {
				t.Errorf("status after reload %q, running %q, want %q", next.Daemon.Status, running.Daemon.Status, tc.want)
			}
		})
	}
}
