package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config/hostile"
)

// TestCheckHostileFiles: `hairpin check` on a FIFO fails at once instead of hanging (it also ignored
// SIGTERM while it hung), and on 2,000 forwards sharing a port prints a bounded list with the full count.
func TestCheckHostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	same := filepath.Join(dir, "same.yaml")
	if err := os.WriteFile(same, hostile.SamePort(2000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, want string
		maxLines   int
	}{
		{fifo, "is a FIFO, not a regular file", 1},
		{same, "1999 error(s) in the config; nothing was changed", 102},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), "test", []string{"check", "-c", tc.file}, &out, &errOut); code != exitConfig {
			t.Errorf("%s: exit %d, want %d", tc.file, code, exitConfig)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: stderr does not say %q:\n%.1000s", tc.file, tc.want, errOut.String())
		}
		if n := strings.Count(errOut.String(), "\n"); n > tc.maxLines {
			t.Errorf("%s: %d lines of errors, want at most %d", tc.file, n, tc.maxLines)
		}
	}
}

// A missing config points at hairpin init and is still os.ErrNotExist, which `hairpin down` relies on to work
// without a config (the table is found by name and marker).
func TestMissingConfigIsNotExist(t *testing.T) {
	cmd := checkCmd()
	_, err := loadConfig(cmd, filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "hairpin init") {
		t.Fatalf("err = %v, want the pointer at hairpin init", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v is not os.ErrNotExist: hairpin down would refuse to run without a config", err)
	}
}
