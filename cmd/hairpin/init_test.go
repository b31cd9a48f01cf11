package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInit: init writes a config that check accepts, never over a config, but over a comments-only
// placeholder; a bad --forward writes nothing.
func TestInit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hairpin.yaml")
	hp := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), "test", args, &out, &out)
		return code, out.String()
	}
	os.WriteFile(file, []byte("# placeholder: run hairpin init\n\n"), 0o644)
	code, out := hp("init", "--wan", "eth0", "--lan", "br-lan", "--forward", "front-cam=8090:192.168.88.180:80", "-o", file)
	if code != 0 || !strings.Contains(out, "wrote "+file+": 1 forwards") {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	if code, out := hp("check", "-c", file); code != 0 || !strings.Contains(out, "ok (1 forwards") {
		t.Fatalf("check of init's config: exit %d\n%s", code, out)
	}
	before, _ := os.ReadFile(file)
	code, out = hp("init", "--wan", "eth1", "--lan", "br-lan", "-o", file)
	if after, _ := os.ReadFile(file); code != 2 || !strings.Contains(out, "never overwrites") || !bytes.Equal(before, after) {
		t.Errorf("init over a config: exit %d, changed %v\n%s", code, !bytes.Equal(before, after), out)
	}
	other := filepath.Join(dir, "other.yaml")
	if code, out := hp("init", "--wan", "eth0", "--lan", "br-lan", "--forward", "cam=8090:192.168.88.300:80", "-o", other); code != 2 || !strings.Contains(out, "nothing written") {
		t.Errorf("bad --forward: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a bad --forward wrote the file")
	}
	if code, out := hp("init", "--wan", "eth0", "--lan", "br-lan", "--ddns", "nosuch", "-o", other); code != 2 || !strings.Contains(out, "dyndns2") {
		t.Errorf("unknown --ddns: exit %d\n%s", code, out)
	}

	// With --ddns, the entry's password file is not there yet: check says so, at the entry's line, and exits 2;
	// --no-secrets (a config written for another machine) passes.
	dns := filepath.Join(dir, "dns.yaml")
	if code, out := hp("init", "--wan", "eth0", "--lan", "br-lan", "--forward", "front-cam=8090:192.168.88.180:80", "--ddns", "dyndns2", "-o", dns); code != 0 {
		t.Fatalf("init --ddns: exit %d\n%s", code, out)
	}
	if code, out := hp("check", "-c", dns); code != 2 || !strings.Contains(out, dns+":") || !strings.Contains(out, "ddns[0] (home.example.net)") || !strings.Contains(out, "ddns.secret") {
		t.Errorf("check with the password file missing: exit %d\n%s", code, out)
	}
	if code, out := hp("check", "--no-secrets", "-c", dns); code != 0 {
		t.Errorf("check --no-secrets: exit %d\n%s", code, out)
	}
}

// TestUsageExitCodes: everything the command line gets wrong exits 2, and --version names the commit and Go.
func TestUsageExitCodes(t *testing.T) {
	for _, args := range [][]string{{"frob"}, {"check", "extra"}, {"check", "--nosuch"}, {"ddns", "frob"}, {"lab", "extra"}, {"check", "-c", filepath.Join(t.TempDir(), "missing.yaml")}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), "test", args, &out, &out); code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, out.String())
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), "1.2.3", []string{"--version"}, &out, &out); code != 0 || !strings.Contains(out.String(), "hairpin 1.2.3 (commit ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: exit %d: %s", code, out.String())
	}
}
