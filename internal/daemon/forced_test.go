package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHolder: no lock file, or one nobody holds, is no daemon; a held lock names the holder's PID, and asking
// takes no lock (the daemon's own Lock still succeeds after many asks, and a holder is found while it holds).
func TestHolder(t *testing.T) {
	dir := t.TempDir()
	if pid, err := Holder(filepath.Join(dir, "none")); pid != 0 || err != nil {
		t.Fatalf("no state directory: %d %v", pid, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Fatal("Holder created the state directory")
	}
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := Holder(dir); pid != os.Getpid() || err != nil {
		t.Errorf("held by this process: Holder = %d %v, want %d", pid, err, os.Getpid())
	}
	release()
	for range 3 {
		if pid, err := Holder(dir); pid != 0 || err != nil {
			t.Fatalf("released: Holder = %d %v", pid, err)
		}
	}
	release, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Holder: %v", err)
	}
	release()
}

// TestMarkForced: the record is read once by the daemon and then gone.
func TestMarkForced(t *testing.T) {
	dir := t.TempDir()
	if err := MarkForced(dir, "hairpin down --force (PID 42)"); err != nil {
		t.Fatal(err)
	}
	if got := forced(dir); got == "" || got[:len("hairpin down --force (PID 42) at ")] != "hairpin down --force (PID 42) at " {
		t.Errorf("forced = %q", got)
	}
}
