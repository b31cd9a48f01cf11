package nft

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/nft/nftfake"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// dualPlan is the cameras with IPv6 targets for the first two: an interface identifier and a ULA.
func dualPlan(t *testing.T) *plan.Desired {
	t.Helper()
	cfg := &config.Config{
		WAN: config.WAN{Interface: "ether1", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "bridge-local"},
	}
	for i, name := range []string{"front-cam", "back-cam", "pool-cam"} {
		cfg.Forwards = append(cfg.Forwards, config.Forward{
			Name: name, Protocol: config.TCP,
			Port: config.PortRange{First: uint16(8090 + i), Last: uint16(8090 + i)},
			To:   netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}), ToPort: config.PortRange{First: 80, Last: 80},
		})
	}
	cfg.Forwards[0].To6 = config.Target6{Addr: netip.MustParseAddr("::21a:2bff:fe3c:4d5e"), IID: true, Port: config.PortRange{First: 80, Last: 80}}
	cfg.Forwards[1].To6 = config.Target6{Addr: netip.MustParseAddr("fd00:88::181"), Port: config.PortRange{First: 80, Last: 80}}
	d, _ := plan.Build(cfg, plan.Observed{
		WANAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")},
		LANNets:  []netip.Prefix{netip.MustParsePrefix("192.168.88.1/24")},
		WAN6:     []netip.Addr{netip.MustParseAddr("2001:db8::7")},
		LAN6:     []netip.Prefix{netip.MustParsePrefix("2001:db8:1:1::1/64"), netip.MustParsePrefix("fd00:88::1/64")},
	}, plan.Options{})
	return d
}

func TestApplyIPv6Golden(t *testing.T) {
	b, fake, fake6 := NewFakeDual()
	d := dualPlan(t)
	apply(t, b, d)
	golden(t, "ipv6.golden", fake6.Dump())
	// The IPv4 table is exactly what the same forwards give without IPv6.
	v4 := *d
	v4.V6 = nil
	b4, fake4 := NewFake()
	apply(t, b4, &v4)
	if diff := lineDiff(fake4.Dump(), fake.Dump()); diff != "" {
		t.Errorf("IPv6 changed the IPv4 table:\n%s", diff)
	}
	if got := Render(d); !strings.Contains(got, "add table ip6 hairpin") || !strings.Contains(got, "add table ip hairpin") {
		t.Errorf("Render lacks one of the tables:\n%s", got)
	}
}

func TestApplyIPv6FollowsThePlan(t *testing.T) {
	ctx := context.Background()
	b, _, fake6 := NewFakeDual()
	d := dualPlan(t)
	apply(t, b, d)
	first := fake6.Dump()
	apply(t, b, d)
	if diff := lineDiff(first, fake6.Dump()); diff != "" {
		t.Errorf("second Apply changed table ip6 hairpin:\n%s", diff)
	}

	// A hand-added chain in our table is gone after the next apply.
	tx := fake6.NewTransaction()
	tx.Add(&knftables.Chain{Name: "someone"})
	if err := fake6.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	apply(t, b, d)
	if strings.Contains(fake6.Dump(), "someone") {
		t.Errorf("a foreign chain survived the apply:\n%s", fake6.Dump())
	}

	// Without IPv6 forwards the table goes.
	v4 := *d
	v4.V6 = nil
	apply(t, b, &v4)
	if fake6.Table != nil {
		t.Errorf("table ip6 hairpin is still there:\n%s", fake6.Dump())
	}

	apply(t, b, d)
	if err := b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if fake6.Table != nil {
		t.Errorf("Down left table ip6 hairpin:\n%s", fake6.Dump())
	}
}

func TestApplyIPv6LeavesAForeignTable(t *testing.T) {
	ctx := context.Background()
	b, fake, fake6 := NewFakeDual()
	tx := fake6.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "theirs"})
	if err := fake6.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	before := fake6.Dump()
	err := b.Apply(ctx, dualPlan(t))
	if !errors.Is(err, ErrNotOwned6) || !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Apply over someone's ip6 hairpin table: %v, want ErrNotOwned6", err)
	}
	if fake.Table != nil || fake6.Dump() != before {
		t.Errorf("a refused apply changed something")
	}
	// An IPv4-only plan does not need their table and leaves it alone; so does Down.
	v4 := *dualPlan(t)
	v4.V6 = nil
	apply(t, b, &v4)
	if err := b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if fake6.Dump() != before {
		t.Errorf("their table changed:\n%s", fake6.Dump())
	}
}

func TestApplyIPv6FailureChangesNothing(t *testing.T) {
	b, fake, fake6 := NewFakeDual()
	d := dualPlan(t)
	apply(t, b, d)
	before, before6 := fake.Dump(), fake6.Dump()
	k := b.k.(*fakeKernel)
	k.failRun = errors.New("boom")
	d2 := dualPlan(t)
	d2.V6.WANAddrs = []netip.Addr{netip.MustParseAddr("2001:db8::8")}
	if err := b.Apply(context.Background(), d2); err == nil {
		t.Fatal("Apply succeeded")
	}
	if fake.Dump() != before || fake6.Dump() != before6 {
		t.Error("a failed apply changed a table")
	}
}

// fail6 is a kernel whose ip6 family does not answer, as on a kernel without IPv6.
type fail6 struct{ *fakeKernel }

func (k fail6) tableState(ctx context.Context, fam family) (bool, bool, error) {
	if fam == ipv6 {
		return false, false, errors.New("address family not supported")
	}
	return k.fakeKernel.tableState(ctx, fam)
}

// An IPv4-only plan applies, and Down works, on a kernel whose ip6 family does not answer; a plan with IPv6
// forwards fails there and changes nothing.
func TestIPv4OnlyWithoutIPv6Kernel(t *testing.T) {
	ctx := context.Background()
	tables := nftfake.New(Table)
	fake := tables.V4
	b := newBackend(fail6{&fakeKernel{t: tables}})
	apply(t, b, camerasPlan(t))
	if fake.Table == nil {
		t.Fatal("the IPv4 table was not installed")
	}
	before := fake.Dump()
	if err := b.Apply(ctx, dualPlan(t)); err == nil {
		t.Error("a plan with IPv6 forwards applied on a kernel without IPv6")
	}
	if fake.Dump() != before {
		t.Error("a failed apply changed the IPv4 table")
	}
	if err := b.Down(ctx); err != nil || fake.Table != nil {
		t.Errorf("Down: %v, table left: %v", err, fake.Table != nil)
	}
}
