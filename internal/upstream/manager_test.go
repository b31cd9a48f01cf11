package upstream

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// fakeGateway is a mapping box the Manager talks to through fakeProto: it holds mappings per port, pointing
// at the address that made them, and can restart (forgetting them), refuse a port (another device has it) or
// stay silent.
type fakeGateway struct {
	mu       sync.Mutex
	maps     map[Want]netip.Addr
	lease    time.Duration // granted; 0: as asked
	taken    map[uint16]bool
	silent   bool
	restart  bool // the next restart check says the box restarted
	calls    []string
	deletes  int
	staleDel int
}

func newGateway() *fakeGateway {
	return &fakeGateway{maps: map[Want]netip.Addr{}, taken: map[uint16]bool{}}
}

func (g *fakeGateway) log(s string) { g.calls = append(g.calls, s) }

func (g *fakeGateway) count(prefix string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		if c == prefix {
			n++
		}
	}
	return n
}

func (g *fakeGateway) held() map[Want]netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[Want]netip.Addr{}
	for w, a := range g.maps {
		out[w] = a
	}
	return out
}

// fakeProto speaks to g from local, as one protocol; upnp adds deleting a stale mapping by port.
type fakeProto struct {
	g     *fakeGateway
	local netip.Addr
	upnp  bool
}

type conflict struct{}

func (conflict) Error() string  { return "the port is mapped to another device" }
func (conflict) Conflict() bool { return true }

func (p *fakeProto) name() string {
	if p.upnp {
		return "upnp"
	}
	return "pcp"
}

func (p *fakeProto) connect(context.Context) error {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.g.log("connect")
	if p.g.silent {
		return errors.New("no answer")
	}
	return nil
}

func (p *fakeProto) external(context.Context) (netip.Addr, error) {
	return netip.MustParseAddr("198.51.100.7"), nil
}

func (p *fakeProto) mapOne(_ context.Context, w Want, lease time.Duration) (time.Duration, error) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.g.log("map")
	if p.g.silent {
		return 0, errors.New("no answer")
	}
	if a, ok := p.g.maps[w]; (ok && a != p.local) || p.g.taken[w.Port] {
		return 0, conflict{}
	}
	p.g.maps[w] = p.local
	if p.g.lease > 0 {
		return p.g.lease, nil
	}
	return lease, nil
}

func (p *fakeProto) unmapOne(_ context.Context, w Want) error {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.g.log("unmap")
	if p.g.maps[w] == p.local {
		delete(p.g.maps, w)
		p.g.deletes++
	}
	return nil
}

func (p *fakeProto) restarted(context.Context, []Want) (bool, error) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.g.log("check")
	r := p.g.restart
	if r {
		p.g.restart = false
		p.g.maps = map[Want]netip.Addr{}
	}
	return r, nil
}

// upnpFake is a fakeProto that can delete a stale mapping by port, as UPnP can.
type upnpFake struct{ *fakeProto }

func (p upnpFake) deleteStale(_ context.Context, w Want, old netip.Addr) error {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	if p.g.maps[w] == old {
		delete(p.g.maps, w)
		p.g.staleDel++
	}
	return nil
}

var (
	gw     = netip.MustParseAddr("192.168.1.1")
	local1 = netip.MustParseAddr("192.168.1.10")
	local2 = netip.MustParseAddr("192.168.1.11")
	wants  = []Want{{"cam", "tcp", 8090}, {"cam", "udp", 8090}, {"nvr", "tcp", 8443}}
)

// startManager runs a Manager over g in the bubble, with a one-minute lease.
func startManager(t *testing.T, g *fakeGateway, upnp bool) (*Manager, context.CancelFunc) {
	t.Helper()
	m, err := New(config.Upstream{Mode: config.UpstreamPCP, Lease: time.Minute}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.protos = func(local, _ netip.Addr) map[config.UpstreamMode]proto {
		var p proto = &fakeProto{g: g, local: local}
		if upnp {
			p = upnpFake{&fakeProto{g: g, local: local, upnp: true}}
		}
		return map[config.UpstreamMode]proto{config.UpstreamPCP: p}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, cancel
}

func pointAt(t *testing.T, g *fakeGateway, want []Want, local netip.Addr) {
	t.Helper()
	got := g.held()
	if len(got) != len(want) {
		t.Fatalf("the gateway holds %v, want %v to %s", got, want, local)
	}
	for _, w := range want {
		if got[w] != local {
			t.Errorf("%v points at %v, want %s", w, got[w], local)
		}
	}
}

// TestManagerSync: Set maps every port, renews each at 40-50% of its lease (not sooner), deletes the one no
// longer wanted, and status counts requests and renewals.
func TestManagerSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateway()
		m, _ := startManager(t, g, false)
		m.Set(local1, gw, wants, 0)
		synctest.Wait()
		pointAt(t, g, wants, local1)
		if st := m.Status(); st.Mapped() != 3 || st.Protocol != "pcp" || st.External != "198.51.100.7" || st.Renewals != 0 {
			t.Errorf("status after the first pass: %+v", st)
		}
		time.Sleep(23 * time.Second) // before 40% of the lease: nothing renews
		synctest.Wait()
		if n := g.count("map"); n != 3 {
			t.Errorf("%d map requests before any renewal is due, want 3", n)
		}
		time.Sleep(8 * time.Second) // past 50%: every mapping renewed once
		synctest.Wait()
		if st := m.Status(); st.Renewals != 3 || g.count("map") != 6 {
			t.Errorf("after half the lease: %d renewals, %d map requests; want 3 and 6", st.Renewals, g.count("map"))
		}
		m.Set(local1, gw, wants[:2], 0)
		synctest.Wait()
		pointAt(t, g, wants[:2], local1)
		if g.deletes != 1 {
			t.Errorf("%d deletes, want the one no longer wanted", g.deletes)
		}
	})
}

// TestManagerCheckRestart: a gateway that says it restarted gets every mapping again at once; one that did not
// gets only its checks (the negative control).
func TestManagerCheckRestart(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "not restarted"
		if restart {
			name = "restarted"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGateway()
				m, _ := startManager(t, g, false)
				m.Set(local1, gw, wants, 0)
				synctest.Wait()
				g.mu.Lock()
				g.restart = restart
				g.mu.Unlock()
				time.Sleep(15 * time.Second) // the check runs every quarter lease
				synctest.Wait()
				maps, remaps := g.count("map"), m.Status().Remaps
				if g.count("check") == 0 {
					t.Fatal("the gateway was never asked whether it restarted")
				}
				if restart && (maps != 6 || remaps != 1) {
					t.Errorf("after a restart: %d map requests, %d remaps; want 6 and 1", maps, remaps)
				}
				if !restart && (maps != 3 || remaps != 0) {
					t.Errorf("without a restart: %d map requests, %d remaps; want 3 and 0", maps, remaps)
				}
				pointAt(t, g, wants, local1)
			})
		})
	}
}

// TestManagerWANChange: after the WAN address moves, every port is mapped again to the new address. A protocol
// that can delete by port (UPnP) deletes the old address's mappings first; one that cannot (PCP) meets them
// as conflicts, which are retried when the old leases have run out rather than every retry period.
func TestManagerWANChange(t *testing.T) {
	t.Run("upnp deletes the stale mappings", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g, m := movedWAN(t, true)
			pointAt(t, g, wants, local2)
			if st := m.Status(); g.staleDel != 3 || st.Remaps != 1 || st.Mapped() != 3 {
				t.Errorf("%d stale deletes, status %+v", g.staleDel, st)
			}
		})
	})
	t.Run("pcp waits for the stale leases", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g, m := movedWAN(t, false)
			st := m.Status()
			for _, ms := range st.Mappings {
				if ms.State != StateConflict || ms.Renew.IsZero() {
					t.Errorf("%+v: want a conflict retried at a set time", ms)
				}
			}
			// The box lets the old mappings lapse at the end of their lease.
			maps := g.count("map")
			g.mu.Lock()
			g.maps = map[Want]netip.Addr{}
			g.mu.Unlock()
			time.Sleep(20 * time.Second) // well within the retry period, before the stale leases end
			synctest.Wait()
			if n := g.count("map"); n != maps {
				t.Errorf("%d map requests while the old leases still run, want none", n-maps)
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			pointAt(t, g, wants, local2)
			if st := m.Status(); st.Mapped() != 3 {
				t.Errorf("after the old leases ended: %+v", st)
			}
		})
	})
}

// movedWAN maps wants to local1, then moves the WAN address to local2, in the bubble.
func movedWAN(t *testing.T, upnp bool) (*fakeGateway, *Manager) {
	t.Helper()
	g := newGateway()
	m, _ := startManager(t, g, upnp)
	m.Set(local1, gw, wants, 0)
	synctest.Wait()
	m.Set(local2, gw, wants, 0)
	synctest.Wait()
	return g, m
}

// TestManagerGatewaySilent: a gateway that answers nothing is retried with a growing wait, and status says so.
func TestManagerGatewaySilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGateway()
		g.silent = true
		m, _ := startManager(t, g, false)
		m.Set(local1, gw, wants, 0)
		synctest.Wait()
		if st := m.Status(); st.Error == "" || st.Mapped() != 0 {
			t.Errorf("status with a silent gateway: %+v", st)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		// A retry every 15 s doubling (a quarter lease): 15, 30, 60, 120, 240 s in 10 minutes, not 40.
		if n := g.count("connect"); n < 4 || n > 7 {
			t.Errorf("%d connects in 10 minutes, want a doubling wait", n)
		}
		g.mu.Lock()
		g.silent = false
		g.mu.Unlock()
		time.Sleep(15 * time.Minute)
		synctest.Wait()
		pointAt(t, g, wants, local1)
	})
}
