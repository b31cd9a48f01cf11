package daemon

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

const haConfig = baseConfig + "ha: {lan_address: 192.168.88.1}\n"

var vip = netip.MustParseAddr("192.168.88.1")

func haObs(wan netip.Addr, held bool) plan.Observed {
	o := plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan}, LANNets: []netip.Prefix{lan}, LANAddrs: []netip.Addr{netip.MustParseAddr("192.168.88.2")}}
	if held {
		o.LANAddrs = []netip.Addr{vip, netip.MustParseAddr("192.168.88.2")}
	}
	return o
}

func (h *harness) role(t *testing.T) string {
	t.Helper()
	return h.d.Status(context.Background()).HARole
}

func (h *harness) engineRunning() bool {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return h.d.ddns != nil
}

// TestHARoleFollowsTheVirtualAddress: a backup builds no DNS engine at all (so nothing, not even a stale
// state file, makes it send), becomes the master the moment keepalived gives it the LAN virtual address,
// and stops publishing when the address leaves.
func TestHARoleFollowsTheVirtualAddress(t *testing.T) {
	h := start(t, haConfig, haObs(wan1, false))
	if r := h.role(t); r != "backup" {
		t.Errorf("role = %q, want backup", r)
	}
	if n := h.ddnsBuilt.Load(); n != 0 || len(h.ddns.got()) != 0 {
		t.Fatalf("backup built %d DNS engines and fed %v", n, h.ddns.got())
	}
	if p := h.be.Calls()[0].Plan; p.SNATTo != vip {
		t.Errorf("backup's rules SNAT to %v, want %v", p.SNATTo, vip)
	}

	h.obs <- haObs(wan1, true)
	poll.Wait(t, "the new master publishes its WAN address", func() bool { return slices.Equal(h.ddns.got(), []netip.Addr{wan1}) })
	if r := h.role(t); r != "master" {
		t.Errorf("role = %q, want master", r)
	}
	for _, c := range h.be.Calls() {
		if c.Method == "Apply" && c.Plan.SNATTo != vip {
			t.Errorf("the master's rules differ: SNAT to %v", c.Plan.SNATTo)
		}
	}

	h.obs <- haObs(wan1, false)
	poll.Wait(t, "the DNS engine stops on the backup", func() bool { return !h.engineRunning() })
	if r := h.role(t); r != "backup" {
		t.Errorf("role = %q, want backup", r)
	}
	// A WAN change on the backup is not published.
	h.obs <- haObs(wan2, false)
	poll.Wait(t, "the WAN set follows on the backup", func() bool {
		calls := h.be.Calls()
		last := calls[len(calls)-1]
		return last.Method == "SetWANAddrs" && slices.Equal(last.Addrs, []netip.Addr{wan2})
	})
	if got := h.ddns.got(); !slices.Equal(got, []netip.Addr{wan1}) {
		t.Errorf("the backup published: %v", got)
	}
}

// TestNoHABothPublish is the negative control: without ha:, the same two routers both publish.
func TestNoHABothPublish(t *testing.T) {
	for _, held := range []bool{false, true} {
		h := start(t, baseConfig, haObs(wan1, held))
		poll.Wait(t, "publishes", func() bool { return slices.Equal(h.ddns.got(), []netip.Addr{wan1}) })
		if r := h.role(t); r != "" {
			t.Errorf("role = %q without ha", r)
		}
	}
}

// TestHABackupMapsNothing: the backup builds no upstream mapper; the new master builds one and tells it the
// forwards, and stops it when it turns backup again. The control is a router on its own, which maps at start.
func TestHABackupMapsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ha   bool
	}{{"ha pair", true}, {"on its own", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var built atomic.Int32
			up := &fakeUpstream{ch: make(chan struct{}, 1)}
			cfg := strings.Replace(baseConfig, "wan: {interface: wan0}", "wan: {interface: wan0, upstream: auto, upstream_gateway: 192.168.1.1}", 1)
			if tc.ha {
				cfg += "ha: {lan_address: 192.168.88.1}\n"
			}
			private := netip.MustParseAddr("192.168.1.2")
			h := startWithDeps(t, cfg, haObs(private, false), netip.Addr{}, &backend.Fake{},
				func(d *Deps) {
					d.NewUpstream = func(*config.Config) (Upstream, error) { built.Add(1); return up, nil }
				})
			told := func() bool {
				up.mu.Lock()
				defer up.mu.Unlock()
				return up.local == private && len(up.wants) == 1
			}
			if !tc.ha {
				poll.Wait(t, "a router on its own maps at start", told)
				return
			}
			if n := built.Load(); n != 0 || told() {
				t.Fatalf("the backup built %d mappers", n)
			}
			h.obs <- haObs(private, true)
			poll.Wait(t, "the new master maps", told)
			h.obs <- haObs(private, false)
			poll.Wait(t, "the backup stops mapping", func() bool { return h.d.Status(context.Background()).Upstream == nil })
		})
	}
}
