package nft

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// renumbered is dualPlan after the LAN moved to 2001:db8:1:2::/64 and the WAN got another address.
func renumbered(t *testing.T) *plan.Desired {
	d := dualPlan(t)
	v6 := *d.V6
	v6.WANAddrs = []netip.Addr{netip.MustParseAddr("2001:db8::8")}
	v6.LANNets = []netip.Prefix{netip.MustParsePrefix("2001:db8:1:2::/64"), netip.MustParsePrefix("fd00:88::/64")}
	v6.Rules = append([]plan.Rule(nil), v6.Rules...)
	v6.Rules[0].To = netip.MustParseAddr("2001:db8:1:2:21a:2bff:fe3c:4d5e")
	d.V6 = &v6
	return d
}

// SetIPv6 leaves table ip6 hairpin exactly as a full apply of the same plan would, and the IPv4 table alone.
func TestSetIPv6EqualsApply(t *testing.T) {
	ctx := context.Background()
	b, fake, fake6 := NewFakeDual()
	apply(t, b, dualPlan(t))
	v4 := fake.Dump()
	want := renumbered(t)
	if err := b.SetIPv6(ctx, want.V6); err != nil {
		t.Fatal(err)
	}
	got := fake6.Dump()
	bf, _, full6 := NewFakeDual()
	apply(t, bf, want)
	if diff := lineDiff(full6.Dump(), got); diff != "" {
		t.Errorf("SetIPv6 differs from a full apply:\n%s", diff)
	}
	if fake.Dump() != v4 {
		t.Error("SetIPv6 changed the IPv4 table")
	}
}

func TestSetIPv6CreatesNothing(t *testing.T) {
	ctx := context.Background()
	b, _, fake6 := NewFakeDual()
	if err := b.SetIPv6(ctx, renumbered(t).V6); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("without the table: %v, want ErrNotInstalled", err)
	}
	tx := fake6.NewTransaction()
	tx.Add(&knftables.Table{})
	if err := fake6.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := b.SetIPv6(ctx, renumbered(t).V6); !errors.Is(err, ErrNotOwned6) {
		t.Errorf("over someone's table: %v, want ErrNotOwned6", err)
	}
}

// Over real netlink: the batch leaves the kernel's table as nft -f of the same plan does (the interval set
// and the concatenated map encoded as nft encodes them), and twenty changes open no new socket.
func TestSetIPv6Netlink(t *testing.T) {
	ns := testNS(t)
	ns2 := testNS(t)
	ctx := context.Background()
	want := renumbered(t)
	var dials int
	err := withBackend(ns, func(b *Backend) error {
		if err := b.Apply(ctx, dualPlan(t)); err != nil {
			return err
		}
		for i := 0; i < 20; i++ {
			d := dualPlan(t)
			if i%2 == 1 {
				d = want
			}
			if err := b.SetIPv6(ctx, d.V6); err != nil {
				return err
			}
		}
		if err := b.SetIPv6(ctx, want.V6); err != nil {
			return err
		}
		dials = b.k.(*netKernel).dials
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = withBackend(ns2, func(b *Backend) error {
		return b.Apply(ctx, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, full := nftIn(t, ns, "list", "table", "ip6", Table), nftIn(t, ns2, "list", "table", "ip6", Table)
	if diff := lineDiff(full, got); diff != "" {
		t.Errorf("after SetIPv6 the kernel's table differs from a full apply:\n%s", diff)
	}
	if dials != 1 {
		t.Errorf("21 IPv6 changes opened %d netlink sockets, want 1", dials)
	}
}

func TestPrefixElements6(t *testing.T) {
	els := prefixElements(ipv6, []netip.Prefix{netip.MustParsePrefix("2001:db8:1:2::/64"), netip.MustParsePrefix("ffff::/16")}, true)
	want := []string{"::/end", "2001:db8:1:2::", "2001:db8:1:3::/end", "ffff::"}
	if len(els) != len(want) {
		t.Fatalf("got %d elements, want %d", len(els), len(want))
	}
	for i, e := range els {
		a, _ := netip.AddrFromSlice(e.key)
		s := a.String()
		if e.intervalEnd {
			s += "/end"
		}
		if s != want[i] {
			t.Errorf("element %d = %s, want %s", i, s, want[i])
		}
	}
}
