package rtnl

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// kernelNS makes a namespace with a router's kind of interfaces and routes, and returns its name and a Conn in
// it: wan0 up (an Ethernet address, IPv6 addresses, default routes in the main table and in another one, a
// blackhole default), ppp0 with a peer address, lan0 down with two addresses.
func kernelNS(t *testing.T) (string, *Conn) {
	t.Helper()
	ns := netnstest.New(t, "rtnl")
	for _, args := range []string{
		"link add wan0 type veth peer name wan0p",
		"link set wan0p up",
		"link set wan0 up",
		"addr add 198.51.100.2/24 dev wan0",
		"addr add 2001:db8:1::2/64 dev wan0 nodad",
		"route add default via 198.51.100.1 dev wan0 metric 100",
		"route add blackhole default metric 10",
		"route add default via 198.51.100.254 dev wan0 table 100",
		"link add ppp0 type veth peer name ppp0p",
		"addr add 203.0.113.9 peer 192.0.2.1 dev ppp0",
		"link add lan0 type veth peer name lan0p",
		"addr add 192.168.1.1/24 dev lan0",
		"addr add 10.0.0.1/8 dev lan0",
	} {
		netnstest.IP(t, ns, args)
	}
	c, err := Dial(netnstest.File(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ns, c
}

// vishvananda opens github.com/vishvananda/netlink in ns: an independent reader of the same kernel tables,
// which the tests (not the router build) may use, to check ours against.
func vishvananda(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	h, err := vnetns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	return nl
}

func TestNetnsLinks(t *testing.T) {
	ns, c := kernelNS(t)
	nl := vishvananda(t, ns)
	theirs, err := nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	ours, err := c.Links()
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != len(theirs) {
		t.Fatalf("%d links, vishvananda/netlink lists %d", len(ours), len(theirs))
	}
	for i, l := range theirs {
		a := l.Attrs()
		if got := ours[i]; got.Index != a.Index || got.Name != a.Name || got.Flags != a.RawFlags || got.Kind != l.Type() && l.Type() != "device" {
			t.Errorf("link %d: %+v, vishvananda/netlink: %d %s %#x %s", i, got, a.Index, a.Name, a.RawFlags, l.Type())
		}
		byName, err := c.LinkByName(a.Name)
		if err != nil || byName.Index != a.Index {
			t.Errorf("LinkByName(%s) = %+v, %v; want index %d", a.Name, byName, err, a.Index)
		}
		byIndex, err := c.LinkByIndex(a.Index)
		if err != nil || byIndex.Name != a.Name {
			t.Errorf("LinkByIndex(%d) = %+v, %v; want %s", a.Index, byIndex, err, a.Name)
		}
	}
	wan, err := c.LinkByName("wan0")
	if err != nil || wan.Flags&(unix.IFF_UP|unix.IFF_RUNNING) != unix.IFF_UP|unix.IFF_RUNNING {
		t.Errorf("wan0 = %+v, %v: want up and running", wan, err)
	}
	if _, err := c.LinkByName("nosuch0"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Errorf("LinkByName of a missing interface: %v, want ErrNotFound naming it", err)
	}
	if _, err := c.LinkByIndex(99999); !errors.Is(err, ErrNotFound) {
		t.Errorf("LinkByIndex of a missing interface: %v, want ErrNotFound", err)
	}
}

func TestNetnsAddrs(t *testing.T) {
	ns, c := kernelNS(t)
	nl := vishvananda(t, ns)
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6, unix.AF_UNSPEC} {
		t.Run(fmt.Sprint("family ", family), func(t *testing.T) {
			ours, err := c.Addrs(family)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := nl.AddrList(nil, int(family))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, a := range theirs {
				p, _ := netip.AddrFromSlice(a.IP)
				ones, _ := a.Mask.Size()
				want = append(want, fmt.Sprintf("%d %v %#x", a.LinkIndex, netip.PrefixFrom(p.Unmap(), ones), a.Flags))
			}
			var got []string
			for _, a := range ours {
				got = append(got, fmt.Sprintf("%d %v %#x", a.Index, a.Prefix, a.Flags))
			}
			if !slices.Equal(got, want) {
				t.Errorf("addresses\n%s\nvishvananda/netlink lists\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	// The peer address is ours alone: 203.0.113.9/32, not the peer's 192.0.2.1.
	addrs, _ := c.Addrs(unix.AF_INET)
	ppp, _ := c.LinkByName("ppp0")
	if !slices.Contains(addrs, Addr{Index: ppp.Index, Prefix: netip.MustParsePrefix("203.0.113.9/32"), Flags: unix.IFA_F_PERMANENT}) {
		t.Errorf("no 203.0.113.9/32 on ppp0 in %+v", addrs)
	}
}

func TestNetnsDefaultRoutes(t *testing.T) {
	ns, c := kernelNS(t)
	wan, err := c.LinkByName("wan0")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := c.DefaultRoutes(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	// Only the main table's unicast default: not table 100's, not the blackhole (the negative controls, both
	// in the kernel's tables as `ip route` shows below).
	want := []Route{{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("0.0.0.0/0"),
		Gateway: netip.MustParseAddr("198.51.100.1"), OIF: wan.Index, Priority: 100}}
	if !slices.Equal(routes, want) {
		t.Errorf("DefaultRoutes = %+v, want %+v", routes, want)
	}
	for _, table := range []string{"main", "100"} {
		if out := netnstest.Exec(t, ns, "ip", "route", "show", "default", "table", table); !strings.Contains(out, "default") {
			t.Fatalf("table %s has no default route to leave out: %s", table, out)
		}
	}
	if out := netnstest.Exec(t, ns, "ip", "route", "show", "default"); !strings.Contains(out, "blackhole default") {
		t.Fatalf("no blackhole default to leave out: %s", out)
	}

	// IPv6: the default route learnt nowhere yet, then added.
	if r, err := c.DefaultRoutes(unix.AF_INET6); err != nil || len(r) != 0 {
		t.Fatalf("IPv6 default routes before any: %+v, %v", r, err)
	}
	netnstest.IP(t, ns, "-6 route add default via 2001:db8:1::1 dev wan0")
	r6, err := c.DefaultRoutes(unix.AF_INET6)
	if err != nil || len(r6) != 1 || r6[0].Gateway != netip.MustParseAddr("2001:db8:1::1") || r6[0].Dst != netip.MustParsePrefix("::/0") {
		t.Errorf("IPv6 default routes: %+v, %v", r6, err)
	}
}

// receive reads changes until one satisfies ok, failing after a few seconds.
func receive(t *testing.T, s *Subscription, ok func(Change) bool) []Change {
	t.Helper()
	var seen []Change
	done := make(chan error, 1)
	go func() {
		for {
			changes, err := s.Receive()
			if err != nil {
				done <- err
				return
			}
			seen = append(seen, changes...)
			if slices.ContainsFunc(changes, ok) {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Receive: %v (after %+v)", err, seen)
		}
	case <-time.After(5 * time.Second):
		s.Close()
		<-done
		t.Fatalf("no such change within 5s; saw %+v", seen)
	}
	return seen
}

func TestNetnsSubscribe(t *testing.T) {
	ns := netnstest.New(t, "rtnlsub")
	s, err := Subscribe(netnstest.File(t, ns), 0, unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	netnstest.IP(t, ns, "link add wan0 type veth peer name wan0p")
	receive(t, s, func(c Change) bool { return c.Type == unix.RTM_NEWLINK && c.Name == "wan0" && c.Index > 0 })

	// Not in the groups joined: an IPv6 address gives no change, so the IPv4 address that follows is the
	// first address change to arrive.
	netnstest.IP(t, ns, "link set wan0 up")
	netnstest.IP(t, ns, "addr add 2001:db8::1/64 dev wan0 nodad")
	netnstest.IP(t, ns, "addr add 198.51.100.2/24 dev wan0")
	seen := receive(t, s, func(c Change) bool { return c.Type == unix.RTM_NEWADDR })
	if last := seen[len(seen)-1]; last.Family != unix.AF_INET {
		t.Errorf("first address change %+v, want the IPv4 one", last)
	}
	netnstest.IP(t, ns, "link set wan0 name old0")
	receive(t, s, func(c Change) bool { return c.Type == unix.RTM_NEWLINK && c.Name == "old0" })
	netnstest.IP(t, ns, "link del old0")
	receive(t, s, func(c Change) bool { return c.Type == unix.RTM_DELLINK && c.Name == "old0" })

	// After Close, Receive ends with an error once what was queued before is read. (That Close also ends a
	// Receive already waiting is what the watcher's namespace tests rely on to end at all.)
	done := make(chan error, 1)
	go func() {
		for range 100 {
			if _, err := s.Receive(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Receive after Close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Receive")
	}
}

// A burst larger than the receive buffer is reported as ENOBUFS, which is what tells the watcher to re-read
// everything; with the default buffer the same burst arrives whole (the control).
func TestNetnsSubscribeOverflow(t *testing.T) {
	ns := netnstest.New(t, "rtnlovf")
	netnstest.IP(t, ns, "link add wan0 type veth peer name wan0p")
	burst := func() {
		var b strings.Builder
		for i := 1; i <= 200; i++ {
			fmt.Fprintf(&b, "addr add 192.0.2.%d/32 dev wan0\n", i)
		}
		cmd := exec.Command("ip", "-n", ns, "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip -batch: %v: %s", err, out)
		}
	}
	small, err := Subscribe(netnstest.File(t, ns), 1, unix.RTNLGRP_IPV4_IFADDR)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	big, err := Subscribe(netnstest.File(t, ns), 1<<20, unix.RTNLGRP_IPV4_IFADDR)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	burst()
	var err2 error
	for err2 == nil {
		_, err2 = small.Receive()
	}
	if !errors.Is(err2, unix.ENOBUFS) {
		t.Errorf("overrun reported as %v, want ENOBUFS", err2)
	}
	n := 0
	for n < 200 {
		changes, err := big.Receive()
		if err != nil {
			t.Fatalf("after %d changes: %v", n, err)
		}
		n += len(changes)
	}
}
