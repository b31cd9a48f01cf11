package daemon

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestReloadReadsOffTheLoop: while a reload is still reading and checking the file (a SIGHUP with a
// pathological file once held the loop for 23.5 s), a WAN change is applied.
func TestReloadReadsOffTheLoop(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	reading, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // a loop stuck in the reload must not hang the test
	h.load = func() (*config.Config, error) {
		close(reading)
		<-release
		return mustConfig(t, baseConfig), nil
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- h.d.Reload(context.Background()) }()
	<-reading
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN change applied during the reload", func() bool {
		c := h.be.Calls()
		return len(c) == 2 && c[1].Method == "SetWANAddrs" && slices.Equal(c[1].Addrs, []netip.Addr{wan2})
	})
	unblock()
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
}

// TestReloadKeepsDDNSUnlessItChanged: a reload that leaves the ddns entries alone does not restart the engine
// (30 reloads once sent 31 updates for one unchanged address); one that changes them does.
func TestReloadKeepsDDNSUnlessItChanged(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	// Moved down a line and with another forward, but the same DDNS entry.
	moved := "# a comment\n" + baseConfig + "  - {name: back-cam, port: 8091, to: \"192.168.88.181:80\"}\n"
	h.load = func() (*config.Config, error) { return mustConfig(t, moved), nil }
	for range 30 {
		if err := h.d.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.ddnsBuilt.Load(); n != 1 {
		t.Errorf("%d DDNS engines built after 30 reloads that left DDNS alone, want 1", n)
	}
	changed := strings.Replace(baseConfig, "home.duckdns.org", "other.duckdns.org", 1)
	h.load = func() (*config.Config, error) { return mustConfig(t, changed), nil }
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.ddnsBuilt.Load(); n != 2 {
		t.Errorf("%d DDNS engines built after a reload that changed DDNS, want 2", n)
	}
}

// TestEventsStayShort: a reload rejected for a huge error list leaves a short event in status.
func TestEventsStayShort(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	h.load = func() (*config.Config, error) { return nil, errors.New(strings.Repeat("x", 1<<20)) }
	if err := h.d.Reload(context.Background()); err == nil {
		t.Fatal("Reload succeeded")
	}
	for _, e := range h.d.Status(context.Background()).Events {
		if len(e.Message) > 20<<10 {
			t.Errorf("an event of %d bytes", len(e.Message))
		}
	}
}

// TestReloadPausesGC: a reload runs with the collector paused (Deps.PauseGC) from reading the file to the end
// of its change of rules, and resumes it even when the file is refused.
func TestReloadPausesGC(t *testing.T) {
	var paused, resumed int
	var pausedDuringLoad bool
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, &backend.Fake{}, func(d *Deps) {
		d.PauseGC = func() func() { paused++; return func() { resumed++ } }
	})
	h.load = func() (*config.Config, error) {
		pausedDuringLoad = paused == resumed+1
		return mustConfig(t, baseConfig), nil
	}
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.load = func() (*config.Config, error) { return nil, errors.New("refused") }
	if err := h.d.Reload(context.Background()); err == nil {
		t.Fatal("a refused config reloaded")
	}
	if !pausedDuringLoad || paused != 2 || resumed != 2 {
		t.Errorf("paused %d, resumed %d, paused while loading %v; want each reload paused around its load and resumed", paused, resumed, pausedDuringLoad)
	}
}
