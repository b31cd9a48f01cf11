package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// testNS creates a throwaway network namespace, removed when the test ends.
func testNS(t *testing.T) string {
	t.Helper()
	netnstest.NeedRoot(t, "creates a network namespace")
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft command (apt-get install nftables)")
	}
	return netnstest.New(t, "nft")
}

func nftIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v: %s", args, err, out)
	}
	return string(out)
}

// The WAN fast path keeps its netlink sockets: twenty address changes open none beyond the first ones, and the
// kernel's set follows every change.
func TestFastPathReusesItsSockets(t *testing.T) {
	ns := testNS(t)
	ctx := context.Background()
	var last netip.Addr
	var dials int
	err := withBackend(ns, func(b *Backend) error {
		if err := b.Apply(ctx, camerasPlan(t)); err != nil {
			return err
		}
		for i := 1; i <= 20; i++ {
			last = netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
			if err := b.SetWANAddrs(ctx, []netip.Addr{last}); err != nil {
				return err
			}
		}
		dials = b.k.(*netKernel).dials
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dials != 1 {
		t.Errorf("20 WAN changes opened %d netlink sockets, want 1 (the ownership check's and the set's)", dials)
	}
	set := nftIn(t, ns, "list", "set", "ip", Table, setWAN)
	if !strings.Contains(set, "elements = { "+last.String()+" }") {
		t.Errorf("wan_addrs after the changes, want only %s:\n%s", last, set)
	}
}

// The fast path refuses a table that is not hairpin's with ErrNotOwned, and a missing one with
// ErrNotInstalled, and says so in words.
func TestFastPathRefusesForeignOrMissingTable(t *testing.T) {
	ns := testNS(t)
	ctx := context.Background()
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.9")}
	var missing, foreign error
	err := withBackend(ns, func(b *Backend) error {
		missing = b.SetWANAddrs(ctx, addrs)
		// An error, not t.Fatalf: this runs on netns.Do's goroutine, and a Fatalf there would leave Do waiting.
		if out, err := exec.Command("nft", "add table ip "+Table+"; add set ip "+Table+" "+setWAN+" { type ipv4_addr; }").CombinedOutput(); err != nil {
			return fmt.Errorf("making a foreign table: %v: %s", err, out)
		}
		foreign = b.SetWANAddrs(ctx, addrs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(missing, ErrNotInstalled) {
		t.Errorf("SetWANAddrs without a table = %v, want ErrNotInstalled", missing)
	}
	if !errors.Is(foreign, ErrNotOwned) || strings.Contains(foreign.Error(), "<nil>") {
		t.Errorf("SetWANAddrs on a foreign table = %v, want ErrNotOwned in words", foreign)
	}
	if set := nftIn(t, ns, "list", "set", "ip", Table, setWAN); strings.Contains(set, "203.0.113.9") {
		t.Errorf("the foreign set was written to:\n%s", set)
	}
}

// Counters with no table installed (a daemon's status after hairpin down) read as no traffic, not an error.
func TestCountersWithoutTable(t *testing.T) {
	ns := testNS(t)
	var got map[string]backend.Counter
	err := withBackend(ns, func(b *Backend) error {
		var err error
		got, err = b.Counters(context.Background(), camerasPlan(t))
		return err
	})
	if err != nil {
		t.Fatalf("Counters without a table: %v", err)
	}
	if c := got["front-cam"]; c.Packets != 0 {
		t.Errorf("front-cam counted %d packets without a table", c.Packets)
	}
}

// The counters read over netlink are what `nft -j list set` shows of the counting sets, port by port: counters
// set by hand to distinct values (packets and bytes swapped would show), an element of each protocol, and a
// counted port the plan no longer forwards; then the sum per forward that `hairpin status` prints.
func TestCountersNetlinkMatchNft(t *testing.T) {
	ns := testNS(t)
	ctx := context.Background()
	if err := withBackend(ns, func(b *Backend) error { return b.Apply(ctx, camerasPlan(t)) }); err != nil {
		t.Fatal(err)
	}
	nftIn(t, ns, "add", "element", "ip", Table, "count_tcp", "{ 8090 counter packets 5 bytes 300, 8091 counter packets 70000 bytes 9000000000, 9999 counter packets 1 bytes 2 }")
	nftIn(t, ns, "add", "element", "ip", Table, "count_udp", "{ 53 counter packets 3 bytes 4 }")
	var got, want map[string]map[uint16]backend.Counter
	var sums map[string]backend.Counter
	err := withBackend(ns, func(b *Backend) error {
		var err error
		if want, err = readCounters(ctx, b.k.(*netKernel).nftPath); err != nil {
			return err
		}
		if got, err = b.k.portCounters(ctx); err != nil {
			return err
		}
		sums, err = b.Counters(ctx, camerasPlan(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want["tcp"]) != 3 || want["tcp"][8091].Bytes != 9000000000 || want["udp"][53].Packets != 3 {
		t.Fatalf("nft lists %v: the elements were not added as meant", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("netlink read %v, nft lists %v", got, want)
	}
	if c := sums["back-cam"]; c.Packets != 70000 || c.Bytes != 9000000000 {
		t.Errorf("back-cam = %+v, want 70000 packets, 9000000000 bytes", c)
	}
}
