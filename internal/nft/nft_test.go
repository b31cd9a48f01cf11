package nft

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

func apply(t *testing.T, b *Backend, d *plan.Desired) {
	t.Helper()
	if err := b.Apply(context.Background(), d); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestApplyCamerasGolden(t *testing.T) {
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	golden(t, "cameras.golden", fake.Dump())
}

func TestApplyDoubleNATGolden(t *testing.T) {
	d := camerasPlan(t)
	d.DoubleNAT = true
	d.WANAddrs = plan.WANSet([]netip.Addr{netip.MustParseAddr("192.168.1.2")}, netip.MustParseAddr("198.51.100.1"), true)
	d.Rules = append(d.Rules,
		plan.Rule{Name: "game", Protocol: "tcp", Port: config.PortRange{First: 27015, Last: 27016},
			To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 27015, Last: 27016}},
		plan.Rule{Name: "game", Protocol: "udp", Port: config.PortRange{First: 27015, Last: 27016},
			To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 27015, Last: 27016}})
	b, fake := NewFake()
	apply(t, b, d)
	golden(t, "double-nat.golden", fake.Dump())
}

func TestApplyIsIdempotent(t *testing.T) {
	b, fake := NewFake()
	d := camerasPlan(t)
	apply(t, b, d)
	first := fake.Dump()
	apply(t, b, d)
	if diff := lineDiff(first, fake.Dump()); diff != "" {
		t.Errorf("second Apply changed the table:\n%s", diff)
	}
	// The counting sets are diffed, not flushed: a re-apply must not touch their elements, so that their
	// counters survive.
	tx := fake.LastTransaction.String()
	for _, set := range []string{"count_tcp", "count_udp"} {
		t.Run(set, func(t *testing.T) {
			if strings.Contains(tx, "element ip hairpin "+set) || strings.Contains(tx, "flush set ip hairpin "+set) {
				t.Errorf("re-apply touched %s:\n%s", set, tx)
			}
		})
	}
}

func TestApplyDiffsCountingSets(t *testing.T) {
	b, fake := NewFake()
	d := camerasPlan(t)
	apply(t, b, d)
	// Traffic creates the counting elements in the kernel (the set is dynamic); do what the packets would.
	traffic := fake.NewTransaction()
	for _, p := range []string{"8090", "8091", "8092", "8093"} {
		t.Run(p, func(t *testing.T) {
			traffic.Add(&knftables.Element{Set: "count_tcp", Key: []string{p}})
		})
	}
	if err := fake.Run(context.Background(), traffic); err != nil {
		t.Fatal(err)
	}
	before := fake.Dump()

	// The pool camera moves from 8092 to 9092, and a UDP forward appears.
	next := *d
	next.Rules = append([]plan.Rule(nil), d.Rules...)
	next.Rules[2].Port = config.PortRange{First: 9092, Last: 9092}
	next.Rules = append(next.Rules, plan.Rule{Name: "dns", Protocol: "udp", Port: config.PortRange{First: 53, Last: 53},
		To: netip.MustParseAddr("192.168.88.2"), ToPort: config.PortRange{First: 53, Last: 53}})
	apply(t, b, &next)

	tx := fake.LastTransaction.String()
	if !strings.Contains(tx, "delete element ip hairpin count_tcp { 8092 }") {
		t.Errorf("the counter of the port no longer forwarded is not deleted:\n%s", tx)
	}
	for _, unwanted := range []string{"count_tcp { 8090 }", "count_tcp { 8091 }", "count_tcp { 8093 }", "add element ip hairpin count_", "flush set ip hairpin count_"} {
		t.Run(unwanted, func(t *testing.T) {
			if strings.Contains(tx, unwanted) {
				t.Errorf("transaction touches counters it must leave to the packets (%q):\n%s", unwanted, tx)
			}
		})
	}
	got := changed(lineDiff(before, fake.Dump()))
	want := []string{
		"- add element ip hairpin count_tcp { 8092 }",
		"- add element ip hairpin fwd_dnat { tcp . 8092 : 192.168.88.182 . 80 }",
		"+ add element ip hairpin fwd_dnat { tcp . 9092 : 192.168.88.182 . 80 }",
		"+ add element ip hairpin fwd_dnat { udp . 53 : 192.168.88.2 . 53 }",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dump changed by\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestApplyRangeExpands(t *testing.T) {
	d := camerasPlan(t)
	d.Rules = []plan.Rule{
		{Name: "cams", Protocol: "tcp", Port: config.PortRange{First: 8090, Last: 8092},
			To: netip.MustParseAddr("192.168.88.180"), ToPort: config.PortRange{First: 80, Last: 82}},
		{Name: "nvr", Protocol: "udp", Port: config.PortRange{First: 9000, Last: 9001},
			To: netip.MustParseAddr("192.168.88.190"), ToPort: config.PortRange{First: 554, Last: 554}},
	}
	b, fake := NewFake()
	apply(t, b, d)
	dump := fake.Dump()
	for _, want := range []string{
		"fwd_dnat { tcp . 8090 : 192.168.88.180 . 80 }",
		"fwd_dnat { tcp . 8091 : 192.168.88.180 . 81 }",
		"fwd_dnat { tcp . 8092 : 192.168.88.180 . 82 }",
		"fwd_dnat { udp . 9000 : 192.168.88.190 . 554 }",
		"fwd_dnat { udp . 9001 : 192.168.88.190 . 554 }",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
}

// The rules themselves, read as a packet would meet them: the shape every other test takes for granted.
func TestRuleShape(t *testing.T) {
	tests := []struct {
		name       string
		masquerade bool
		chains     map[string][]string
	}{
		{"with masquerade", true, map[string][]string{
			"prerouting":    {`iifname "bridge-local" ip daddr @wan_addrs ct mark set ct mark or 0x10000000`, "ip daddr @wan_addrs jump dnat_forwards"},
			"output":        {"ip daddr @wan_addrs ct mark set ct mark or 0x10000000", "ip daddr @wan_addrs jump dnat_forwards"},
			"dnat_forwards": {"dnat ip to meta l4proto . th dport map @fwd_dnat"},
			"postrouting":   {"ct status dnat ct mark and 0x10000000 != 0 ip saddr @lan_nets ct original ip daddr @wan_addrs masquerade"},
			"forward": {
				"ct status dnat ct original ip daddr @wan_addrs ct original protocol tcp update @count_tcp { ct original proto-dst }",
				"ct status dnat ct original ip daddr @wan_addrs ct original protocol udp update @count_udp { ct original proto-dst }",
			},
		}},
		// The negative control of the lab: everything but the hairpin masquerade.
		{"without masquerade", false, map[string][]string{"postrouting": nil}},
		// An HA pair: the LAN's virtual address, not the router's own, so the flow outlives the router.
		{"ha pair", true, map[string][]string{
			"postrouting": {"ct status dnat ct mark and 0x10000000 != 0 ip saddr @lan_nets ct original ip daddr @wan_addrs snat ip to 192.168.88.1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := camerasPlan(t)
			d.Masquerade = tt.masquerade
			if tt.name == "ha pair" {
				d.SNATTo = netip.MustParseAddr("192.168.88.1")
			}
			b, fake := NewFake()
			apply(t, b, d)
			for chain, want := range tt.chains {
				rules, err := fake.ListRules(context.Background(), chain)
				if err != nil {
					t.Fatalf("ListRules(%s): %v", chain, err)
				}
				var got []string
				for _, r := range rules {
					got = append(got, r.Rule)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("chain %s = %q, want %q", chain, got, want)
				}
			}
		})
	}
}

func TestBaseChains(t *testing.T) {
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	want := map[string]struct {
		typ  knftables.BaseChainType
		hook knftables.BaseChainHook
		prio knftables.BaseChainPriority
	}{
		"prerouting":  {knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
		"output":      {knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
		"postrouting": {knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
		// Before a filter-priority forward chain can drop the packet, so that counted is what arrived.
		"forward": {knftables.FilterType, knftables.ForwardHook, "filter - 5"},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			c := fake.Table.Chains[name]
			if c == nil || c.Type == nil || c.Hook == nil || c.Priority == nil {
				t.Errorf("chain %s missing or not a base chain: %+v", name, c)
				return
			}
			if *c.Type != w.typ || *c.Hook != w.hook || *c.Priority != w.prio {
				t.Errorf("chain %s is type %s hook %s priority %s, want %s %s %s", name, *c.Type, *c.Hook, *c.Priority, w.typ, w.hook, w.prio)
			}
		})
	}
	if c := fake.Table.Chains["dnat_forwards"]; c == nil || c.Hook != nil {
		t.Errorf("dnat_forwards must be a regular chain: %+v", c)
	}
}

func TestSetWANAddrsChangesOnlyTheSet(t *testing.T) {
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	before := fake.Dump()
	addrs := []netip.Addr{netip.MustParseAddr("198.51.100.20"), netip.MustParseAddr("203.0.113.99")}
	if err := b.SetWANAddrs(context.Background(), addrs); err != nil {
		t.Fatalf("SetWANAddrs: %v", err)
	}
	got := changed(lineDiff(before, fake.Dump()))
	want := []string{
		"- add element ip hairpin wan_addrs { 203.0.113.7 }",
		"+ add element ip hairpin wan_addrs { 198.51.100.20 }",
		"+ add element ip hairpin wan_addrs { 203.0.113.99 }",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dump changed by\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range strings.Split(strings.TrimSpace(fake.LastTransaction.String()), "\n") {
		if f := strings.Fields(line); len(f) < 5 || f[4] != "wan_addrs" {
			t.Errorf("SetWANAddrs transaction touches more than wan_addrs: %s", line)
		}
	}

	// No address at all empties the set and keeps the rest.
	if err := b.SetWANAddrs(context.Background(), nil); err != nil {
		t.Fatalf("SetWANAddrs(nil): %v", err)
	}
	if n := len(fake.Table.Sets["wan_addrs"].Elements); n != 0 {
		t.Errorf("wan_addrs has %d elements after SetWANAddrs(nil)", n)
	}
	if n := len(fake.Table.Maps["fwd_dnat"].Elements); n != 4 {
		t.Errorf("fwd_dnat has %d elements after SetWANAddrs(nil), want 4", n)
	}
}

func TestSetWANAddrsWithoutTable(t *testing.T) {
	b, fake := NewFake()
	err := b.SetWANAddrs(context.Background(), []netip.Addr{netip.MustParseAddr("203.0.113.7")})
	if err == nil || !strings.Contains(err.Error(), "updating the WAN address set (a full apply is needed)") {
		t.Errorf("SetWANAddrs without a table: err = %v", err)
	}
	if fake.Dump() != "" {
		t.Errorf("SetWANAddrs without a table created something:\n%s", fake.Dump())
	}
}

func TestDown(t *testing.T) {
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	if err := b.Down(context.Background()); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if d := fake.Dump(); d != "" {
		t.Errorf("after Down the fake still holds:\n%s", d)
	}
	// Twice, and on a machine where hairpin never ran: nothing to do is not an error.
	if err := b.Down(context.Background()); err != nil {
		t.Errorf("second Down: %v", err)
	}
	fresh, fake := NewFake()
	if err := fresh.Down(context.Background()); err != nil {
		t.Errorf("Down with nothing installed: %v", err)
	}
	if fake.LastTransaction != nil {
		t.Errorf("Down with nothing installed ran a transaction: %s", fake.LastTransaction)
	}
}

func TestApplyAfterDown(t *testing.T) {
	b, fake := NewFake()
	d := camerasPlan(t)
	apply(t, b, d)
	want := fake.Dump()
	if err := b.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	apply(t, b, d)
	if diff := lineDiff(want, fake.Dump()); diff != "" {
		t.Errorf("Apply after Down differs from the first Apply:\n%s", diff)
	}
}

// A table called hairpin that someone else made is never changed, whatever the call: each says why.
func TestForeignTableIsRefused(t *testing.T) {
	for _, comment := range []*string{nil, knftables.PtrTo("my own hairpin rules")} {
		b, fake := NewFake()
		tx := fake.NewTransaction()
		tx.Add(&knftables.Table{Comment: comment})
		tx.Add(&knftables.Chain{Name: "mine"})
		tx.Add(&knftables.Rule{Chain: "mine", Rule: "counter"})
		if err := fake.Run(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		before := fake.Dump()
		ctx := context.Background()
		for name, call := range map[string]func() error{
			"Apply":       func() error { return b.Apply(ctx, camerasPlan(t)) },
			"SetWANAddrs": func() error { return b.SetWANAddrs(ctx, []netip.Addr{netip.MustParseAddr("203.0.113.7")}) },
			"Down":        func() error { return b.Down(ctx) },
		} {
			if err := call(); !errors.Is(err, ErrNotOwned) {
				t.Errorf("comment %v: %s = %v, want ErrNotOwned", comment, name, err)
			}
		}
		if diff := lineDiff(before, fake.Dump()); diff != "" {
			t.Errorf("comment %v: the foreign table was changed:\n%s", comment, diff)
		}
	}
}

func TestApplyFailureChangesNothing(t *testing.T) {
	b, fake := NewFake()
	d := camerasPlan(t)
	apply(t, b, d)
	before := fake.Dump()
	b.k.(*fakeKernel).failRun = errors.New("Error: Could not process rule")
	other := *d
	other.Rules = nil
	err := b.Apply(context.Background(), &other)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), "Could not process rule") {
		t.Fatalf("Apply with a failing nft: %v", err)
	}
	if diff := lineDiff(before, fake.Dump()); diff != "" {
		t.Errorf("a failed Apply changed the table:\n%s", diff)
	}
}

func TestCounters(t *testing.T) {
	b, _ := NewFake()
	if got, err := b.Counters(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("Counters without a plan = %v, %v; want empty", got, err)
	}
	d := camerasPlan(t)
	d.Rules = append(d.Rules,
		plan.Rule{Name: "game", Protocol: "tcp", Port: config.PortRange{First: 27015, Last: 27016}, To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 27015, Last: 27016}},
		plan.Rule{Name: "game", Protocol: "udp", Port: config.PortRange{First: 27015, Last: 27016}, To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 27015, Last: 27016}})
	apply(t, b, d)

	// The fake keeps no counters: every forward is listed with zero traffic.
	got, err := b.Counters(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backend.Counter{"front-cam": {}, "back-cam": {}, "pool-cam": {}, "driveway-cam": {}, "game": {}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters from the fake = %v, want %v", got, want)
	}

	// Per-port counters are summed per forward, across a range and across both protocols.
	counts := map[string]map[uint16]backend.Counter{
		"tcp": {8090: {Packets: 3, Bytes: 180}, 8093: {Packets: 1, Bytes: 60}, 27015: {Packets: 10, Bytes: 1000}, 27016: {Packets: 5, Bytes: 500}, 443: {Packets: 9, Bytes: 9}},
		"udp": {27016: {Packets: 2, Bytes: 100}, 8090: {Packets: 7, Bytes: 7}},
	}
	b.k.(*fakeKernel).counts = counts
	got, err = b.Counters(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]backend.Counter{
		"front-cam": {Packets: 3, Bytes: 180}, "back-cam": {}, "pool-cam": {}, "driveway-cam": {Packets: 1, Bytes: 60},
		"game": {Packets: 17, Bytes: 1600},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters = %v, want %v", got, want)
	}

	// A backend that applied nothing (a daemon restarted over rules in force) sums by the plan it is given.
	fresh, _ := NewFake()
	fresh.k.(*fakeKernel).counts = counts
	if got, _ := fresh.Counters(context.Background(), d); !reflect.DeepEqual(got, want) {
		t.Errorf("Counters of a fresh backend = %v, want %v", got, want)
	}
}
