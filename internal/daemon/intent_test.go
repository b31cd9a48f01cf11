package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestInterruptedWANUpdateFinishedAtStart: a kill -9 between the fast path's two commits left the old and the
// new WAN address forwarding. The update's recorded set is installed at the next start before anything else,
// even while the first observation is still to come (a router still unreachable, an interface not up yet).
func TestInterruptedWANUpdateFinishedAtStart(t *testing.T) {
	ctx := context.Background()
	be, fake := newFakeNft()
	cfg := mustConfig(t, baseConfig)
	first, _ := plan.Build(cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, plan.Options{})
	if err := be.Apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The crash: the new address was added, the old one not yet retired, the intent still on disk.
	tx := fake.NewTransaction()
	tx.Add(&knftables.Element{Set: "wan_addrs", Key: []string{wan2.String()}})
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	intent := filepath.Join(t.TempDir(), "wan-set.intent")
	if err := os.WriteFile(intent, []byte(wan2.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wanSet := func() []string {
		elems, _ := fake.ListElements(ctx, "set", "wan_addrs")
		var out []string
		for _, e := range elems {
			out = append(out, e.Key...)
		}
		slices.Sort(out)
		return out
	}
	if got := wanSet(); len(got) != 2 {
		t.Fatalf("set before the restart = %v, want both addresses", got)
	}

	obs := make(chan plan.Observed) // nothing observed yet
	d := New(cfg, Deps{Backend: be, IntentFile: intent,
		Observe: func(context.Context, *config.Config) (<-chan plan.Observed, error) { return obs, nil }})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	poll.Wait(t, "the old address retired before the first observation", func() bool {
		return slices.Equal(wanSet(), []string{wan2.String()})
	})
	if _, err := os.Stat(intent); !os.IsNotExist(err) {
		t.Errorf("the intent file is still there: %v", err)
	}
}

// TestWANUpdateRecordsIntent: the set being installed is on disk while the fast path runs, and gone after.
func TestWANUpdateRecordsIntent(t *testing.T) {
	intent := filepath.Join(t.TempDir(), "wan-set.intent")
	be := &intentBackend{Fake: &backend.Fake{}, path: intent}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) { d.IntentFile = intent })
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN set update", func() bool { return be.seen() != "" })
	if got := be.seen(); got != wan2.String()+"\n" {
		t.Errorf("during the update the intent file held %q, want %s", got, wan2)
	}
	if _, err := os.Stat(intent); !os.IsNotExist(err) {
		t.Errorf("the intent file is still there after the update: %v", err)
	}
}

// intentBackend remembers what the intent file held while SetWANAddrs ran.
type intentBackend struct {
	*backend.Fake
	path string
	mu   sync.Mutex
	held string
}

func (b *intentBackend) SetWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	data, _ := os.ReadFile(b.path)
	b.mu.Lock()
	b.held = string(data)
	b.mu.Unlock()
	return b.Fake.SetWANAddrs(ctx, addrs)
}

func (b *intentBackend) seen() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// TestTwoStepWANRecordsIntentBetweenSteps: with a backend that commits in two steps, the record is written
// after the new addresses are in (so it never delays them) and before the old ones are retired.
func TestTwoStepWANRecordsIntentBetweenSteps(t *testing.T) {
	intent := filepath.Join(t.TempDir(), "wan-set.intent")
	be := &twoStepBackend{intentBackend: intentBackend{Fake: &backend.Fake{}, path: intent}}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) { d.IntentFile = intent })
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN set update", func() bool { return be.seen() != "" })
	be.mu.Lock()
	atAdd := be.atAdd
	be.mu.Unlock()
	if atAdd != "" {
		t.Errorf("the intent was written before the new address went in: %q", atAdd)
	}
	if got := be.seen(); got != wan2.String()+"\n" {
		t.Errorf("while retiring, the intent file held %q, want %s", got, wan2)
	}
	if _, err := os.Stat(intent); !os.IsNotExist(err) {
		t.Errorf("the intent file is still there after the update: %v", err)
	}
}

// twoStepBackend remembers what the intent file held during each step.
type twoStepBackend struct {
	intentBackend
	atAdd string
}

func (b *twoStepBackend) AddWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	data, _ := os.ReadFile(b.path)
	b.mu.Lock()
	b.atAdd = string(data)
	b.mu.Unlock()
	return nil
}

func (b *twoStepBackend) RetireWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	return b.intentBackend.SetWANAddrs(ctx, addrs)
}

// TestIntentOnFullDisk: when the record cannot be written (a full disk) the update still goes through, the
// failure is an error in the log and in status (it was a debug line), said once however many updates fail,
// and no empty temporary file is left behind; once the disk has room the status clears.
func TestIntentOnFullDisk(t *testing.T) {
	dir := fullDir(t)
	intent := filepath.Join(dir, "wan-set.intent")
	var logBuf syncBuffer
	be := &backend.Fake{}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) {
			d.IntentFile = intent
			d.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
		})
	for _, a := range []netip.Addr{wan2, wan1, wan2} {
		h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{a}, LANNets: []netip.Prefix{lan}}
		poll.Wait(t, "the WAN set update", func() bool {
			c := be.Calls()
			return c[len(c)-1].Method == "SetWANAddrs" && slices.Equal(c[len(c)-1].Addrs, []netip.Addr{a})
		})
	}
	st := h.d.Status(context.Background())
	if !strings.Contains(st.CrashRecordError, "no space left on device") {
		t.Errorf("status crash_record_error = %q, want the write's error", st.CrashRecordError)
	}
	if n := strings.Count(logBuf.String(), "level=ERROR msg=\"cannot record the WAN set update in progress"); n != 1 {
		t.Errorf("%d error lines for three failed records, want one:\n%s", n, logBuf.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left on the full disk: %v, want only the filler", entries)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the status clears once the record is written", func() bool { return h.d.Status(context.Background()).CrashRecordError == "" })
	if !strings.Contains(logBuf.String(), "recording WAN set updates again") {
		t.Errorf("the log does not say the record works again:\n%s", logBuf.String())
	}
}
