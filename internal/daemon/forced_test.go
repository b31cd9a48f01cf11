package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
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

// TestForcedReapplies: a record left by `down --force` shows in status, and the daemon's next event consumes it
// with a full apply (not the WAN set alone) and an event; without a record the same event touches the WAN set
// only (the negative control). A record left before the daemon started is dropped at start.
func TestForcedReapplies(t *testing.T) {
	file := filepath.Join(t.TempDir(), ForcedFile)
	if err := MarkForced(filepath.Dir(file), "hairpin apply --force (PID 1)"); err != nil {
		t.Fatal(err)
	}
	be := &backend.Fake{}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) { d.ForcedFile = file })
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a record from before the start survived it")
	}
	st := h.d.Status(context.Background())
	if st.ChangedUnder != "" || strings.Contains(fmt.Sprint(st.Events), "changed under") {
		t.Fatalf("status after start: %q, events %v", st.ChangedUnder, st.Events)
	}

	// Negative control: a WAN change without a record is a WAN set update.
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN set update", func() bool { return len(be.Calls()) == 2 })
	if m := be.Calls()[1].Method; m != "SetWANAddrs" {
		t.Fatalf("without a record: %s, want SetWANAddrs", m)
	}

	if err := MarkForced(filepath.Dir(file), "hairpin down --force (PID 42)"); err != nil {
		t.Fatal(err)
	}
	if got := h.d.Status(context.Background()).ChangedUnder; !strings.HasPrefix(got, "hairpin down --force (PID 42) at ") {
		t.Errorf("status shows %q, want the record", got)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the full apply", func() bool { return len(be.Calls()) == 3 })
	if m := be.Calls()[2].Method; m != "Apply" {
		t.Errorf("with a record: %s, want a full Apply", m)
	}
	st = h.d.Status(context.Background())
	if st.ChangedUnder != "" || !strings.Contains(fmt.Sprint(st.Events), "the rules were changed under the daemon; re-applying its config by=hairpin down --force (PID 42)") {
		t.Errorf("after the event: record %q, events %v", st.ChangedUnder, st.Events)
	}
}
