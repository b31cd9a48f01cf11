package wan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// testNS creates a throwaway network namespace and returns its name and the open namespace.
func testNS(t *testing.T) (string, *os.File) {
	t.Helper()
	name := netnstest.New(t, "wan")
	return name, netnstest.File(t, name)
}

func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// addLink creates an interface in ns. Not every CI kernel has dummy interfaces, so it is one end of a veth
// pair whose other end ("NAMEp") is up, so the interface runs as soon as it is set up.
func addLink(t *testing.T, ns, name string) {
	t.Helper()
	ipIn(t, ns, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	ipIn(t, ns, "link", "set", name+"p", "up")
}

// waitFor reads snapshots until one equals want.
func waitFor(t *testing.T, ch <-chan Snapshot, want Snapshot) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var last Snapshot
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed waiting for %v", want)
			}
			if s.Equal(want) {
				return
			}
			last = s
		case <-deadline:
			t.Fatalf("no snapshot %v within 5s; last %v", want, last)
		}
	}
}

func TestNetnsWatch(t *testing.T) {
	ns, h := testNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, []string{"wan0", "lan0"}, WatchOptions{NS: h, Logger: discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	waitFor(t, ch, Snapshot{"wan0": {}, "lan0": {}})

	// Created later, as PPPoE or a DHCP-configured VLAN would be.
	addLink(t, ns, "wan0")
	waitFor(t, ch, Snapshot{"wan0": {Exists: true}, "lan0": {}})
	ipIn(t, ns, "link", "set", "wan0", "up")
	ipIn(t, ns, "addr", "add", "198.51.100.2/24", "dev", "wan0")
	ipIn(t, ns, "addr", "add", "2001:db8::1/64", "dev", "wan0") // ignored: IPv4 only
	waitFor(t, ch, Snapshot{"wan0": up("198.51.100.2/24"), "lan0": {}})

	// The address changes.
	ipIn(t, ns, "addr", "add", "203.0.113.9/28", "dev", "wan0")
	ipIn(t, ns, "addr", "del", "198.51.100.2/24", "dev", "wan0")
	waitFor(t, ch, Snapshot{"wan0": up("203.0.113.9/28"), "lan0": {}})

	// Renamed away, and another interface renamed to the watched name.
	ipIn(t, ns, "link", "set", "wan0", "down")
	ipIn(t, ns, "link", "set", "wan0", "name", "old0")
	waitFor(t, ch, Snapshot{"wan0": {}, "lan0": {}})
	addLink(t, ns, "tmp0")
	ipIn(t, ns, "addr", "add", "192.0.2.1/24", "dev", "tmp0")
	ipIn(t, ns, "link", "set", "tmp0", "name", "lan0")
	waitFor(t, ch, Snapshot{"wan0": {}, "lan0": {Exists: true, Addrs: up("192.0.2.1/24").Addrs, Nets: up("192.0.2.1/24").Nets}})

	// Deleted.
	ipIn(t, ns, "link", "del", "lan0")
	waitFor(t, ch, Snapshot{"wan0": {}, "lan0": {}})

	snap, _, err := NetlinkSource{NS: h}.List([]string{"old0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Snapshot{"old0": {Exists: true, Addrs: up("203.0.113.9/28").Addrs, Nets: up("203.0.113.9/28").Nets}}); !snap.Equal(want) {
		t.Errorf("List = %v, want %v", snap, want)
	}
}

// TestNetnsLatency: 100 kernel address changes in a row each come out as the right snapshot (and the log
// shows how long that took).
func TestNetnsLatency(t *testing.T) {
	ns, h := testNS(t)
	addLink(t, ns, "wan0")
	ipIn(t, ns, "link", "set", "wan0", "up")
	nl, err := netlink.NewHandleAt(vnetns.NsHandle(h.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	link, err := nl.LinkByName("wan0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, []string{"wan0"}, WatchOptions{NS: h, Logger: discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	waitFor(t, ch, Snapshot{"wan0": {Exists: true, Up: true}})

	const rounds = 100
	var lat []time.Duration
	for i := range rounds {
		// Alternate subnets: deleting a primary address would take its secondaries in the same subnet along.
		addr := testAddr(i)
		start := time.Now()
		if err := nl.AddrReplace(link, addr); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := nl.AddrDel(link, testAddr(i-1)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, ch, Snapshot{"wan0": up(addr.IPNet.String())})
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[rounds/2], lat[rounds*99/100-1]
	// Informational only: speed goals live in BenchmarkReactionTime (integration/), and the rule that a gain
	// is never held back by a timer is TestWatchGainGoesOutAtOnce, which does not depend on the machine.
	t.Logf("address change -> snapshot over %d rounds: p50 %v, p99 %v, max %v", rounds, p50, p99, lat[rounds-1])
}

func testAddr(i int) *netlink.Addr {
	ip := net.IPv4(203, 0, 113, 1)
	if i%2 == 1 {
		ip = net.IPv4(198, 51, 100, 1)
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}
}

// countingSource counts subscriptions, to see re-subscriptions after a loss.
type countingSource struct {
	Source
	subs atomic.Int32
}

func (c *countingSource) Subscribe(ctx context.Context) (<-chan Event, error) {
	c.subs.Add(1)
	return c.Source.Subscribe(ctx)
}

// TestNetnsOverflow shrinks the subscription's socket buffer so that a burst of address changes overflows it
// (ENOBUFS); the watcher must re-subscribe, re-list and still end with the full state.
func TestNetnsOverflow(t *testing.T) {
	ns, h := testNS(t)
	addLink(t, ns, "wan0")
	ipIn(t, ns, "link", "set", "wan0", "up")
	src := &countingSource{Source: NetlinkSource{NS: h, recvBuf: 1}}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, []string{"wan0"}, WatchOptions{Source: src, Logger: discard()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	waitFor(t, ch, Snapshot{"wan0": {Exists: true, Up: true}})

	var batch strings.Builder
	want := IfaceState{Exists: true, Up: true}
	for _, pfx := range []string{"192.0.2.", "198.51.100.", "203.0.113."} {
		for i := 1; i <= 250; i++ {
			fmt.Fprintf(&batch, "addr add %s%d/32 dev wan0\n", pfx, i)
			want.Addrs = append(want.Addrs, netip.MustParseAddr(fmt.Sprint(pfx, i)))
		}
	}
	want.Nets = make([]netip.Prefix, len(want.Addrs))
	for i, a := range want.Addrs {
		want.Nets[i] = netip.PrefixFrom(a, 32)
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	waitFor(t, ch, Snapshot{"wan0": want.normalise()})
	t.Logf("subscriptions: %d", src.subs.Load())
	if src.subs.Load() < 2 {
		t.Error("the burst did not overflow the subscription; the test no longer covers re-subscription")
	}
}

// A one-shot read (Addrs, for hairpin apply) sees exactly what the watcher sees (for the daemon): the same
// addresses, the same subnets, sorted and without the duplicate a second address in one subnet gives.
func TestNetnsAddrsMatchesWatcher(t *testing.T) {
	ns, h := testNS(t)
	addLink(t, ns, "if0")
	ipIn(t, ns, "addr", "add", "10.0.0.2/24", "dev", "if0")
	ipIn(t, ns, "addr", "add", "10.0.0.1/24", "dev", "if0")
	ipIn(t, ns, "addr", "add", "192.0.2.7/32", "dev", "if0")
	snap, _, err := NetlinkSource{NS: h}.List([]string{"if0"})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	var nets []netip.Prefix
	err = netns.Do(ns, func() error {
		var err error
		addrs, nets, err = Addrs("if0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := snap["if0"]
	if !slices.Equal(addrs, want.Addrs) || !slices.Equal(nets, want.Nets) {
		t.Errorf("Addrs = %v %v, the watcher lists %v %v", addrs, nets, want.Addrs, want.Nets)
	}
	if len(nets) != 2 {
		t.Errorf("subnets %v, want 10.0.0.0/24 once and 192.0.2.7/32", nets)
	}
}
