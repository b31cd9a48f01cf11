package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSecondDaemonRefusedByLock: a second daemon for the same state directory, whatever its status path, is
// refused and told the first one's PID; once the first releases the lock, a new one starts.
func TestSecondDaemonRefusedByLock(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if err == nil || !strings.Contains(err.Error(), "(pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second Lock = %v, want a refusal naming pid %d", err, os.Getpid())
	}
	release()
	release2, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	release2()
}

// TestStatusPathKeepsOtherFiles: --status naming a regular file (or a directory) is refused and the file is
// left as it was; only a stale socket is replaced.
func TestStatusPathKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, dir} {
		if l, err := Listen(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen(%s) = %v, want a refusal", path, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "data" {
		t.Errorf("the file was changed: %q, %v", b, err)
	}
	// A stale socket (its daemon gone) is replaced.
	sock := filepath.Join(dir, "s.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l, err = Listen(sock)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	l.Close()
}
