package wan

import (
	"context"
	"net/netip"
	"testing"
)

// IPv6 addresses are watched only when asked for; tentative addresses wait for duplicate address detection,
// deprecated ones count as gone, link-local ones never count.
func TestNetnsWatchIPv6(t *testing.T) {
	ns, h := testNS(t)
	addLink(t, ns, "lan0")
	ipIn(t, ns, "link", "set", "lan0", "up")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, []string{"lan0"}, WatchOptions{NS: h, Logger: discard(), IPv6: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	// The watcher reads the namespace handle until its channel closes; testNS closes the handle after this.
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	p1 := netip.MustParsePrefix("2001:db8:1:1::1/64")
	p2 := netip.MustParsePrefix("2001:db8:1:2::1/64")
	ula := netip.MustParsePrefix("fd00:88::1/64")
	state := func(a ...netip.Prefix) Snapshot {
		return Snapshot{"lan0": {Exists: true, Up: true, Addrs6: a}}
	}
	ipIn(t, ns, "-6", "addr", "add", ula.String(), "dev", "lan0", "nodad")
	ipIn(t, ns, "-6", "addr", "add", p1.String(), "dev", "lan0", "nodad")
	waitFor(t, ch, state(p1, ula))

	// A new prefix arrives and the old one is deprecated, as with a new delegated prefix.
	ipIn(t, ns, "-6", "addr", "add", p2.String(), "dev", "lan0", "nodad")
	ipIn(t, ns, "-6", "addr", "change", p1.String(), "dev", "lan0", "preferred_lft", "0")
	waitFor(t, ch, state(p2, ula))

	// A tentative address (DAD running) does not count until DAD is done.
	ipIn(t, ns, "-6", "addr", "add", "2001:db8:1:3::1/64", "dev", "lan0")
	snap, _, err := NetlinkSource{NS: h, IPv6: true}.List([]string{"lan0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range snap["lan0"].Addrs6 {
		if a.Addr() == netip.MustParseAddr("2001:db8:1:3::1") {
			t.Errorf("a tentative address counts: %v", snap["lan0"].Addrs6)
		}
	}
	waitFor(t, ch, state(p2, netip.MustParsePrefix("2001:db8:1:3::1/64"), ula))

	// Negative control: without IPv6 the same interface shows no IPv6 address at all.
	snap, _, err = NetlinkSource{NS: h}.List([]string{"lan0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap["lan0"].Addrs6) != 0 {
		t.Errorf("IPv6 listed without being asked for: %v", snap["lan0"].Addrs6)
	}
}
