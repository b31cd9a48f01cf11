package nft

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/nft/script"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// nftKernel is the real kernel with the apply's transactions handed to the nft binary as text, element
// commands and all: the oracle TestCompileMatchesNft holds the netlink batch to.
type nftKernel struct{ *netKernel }

func (k nftKernel) run(ctx context.Context, tx, tx6 *script.Transaction) error {
	var text string
	for _, t := range []*script.Transaction{tx, tx6} {
		if t != nil {
			text += t.String()
		}
	}
	return runScript(ctx, k.nftPath, text)
}

// TestCompileMatchesNft applies the same sequence of plans and hand edits in two namespaces, through nft
// reading the apply's script (the oracle) and through the netlink batch compile makes of the same script,
// and compares what nft lists of the kernel's ruleset after every step, byte for byte: every shape build.go
// writes (IPv4 and IPv6 tables, double NAT, port ranges, guards with allow lists, hosts and limits, SNAT to
// an HA address, a LAN of subnets only, no masquerade), first applies and replacements, the counting sets'
// stale ports, a foreign chain and set in hairpin's table, a policy changed by hand and a base chain
// re-created at another priority (the apply's retry).
func TestCompileMatchesNft(t *testing.T) {
	ctx := context.Background()
	oracle, ns := testNS(t), testNS(t)
	hosts := map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}
	ranged := camerasPlan(t)
	ranged.DoubleNAT = true
	ranged.WANAddrs = plan.WANSet([]netip.Addr{netip.MustParseAddr("192.168.1.2")}, netip.MustParseAddr("198.51.100.1"), true)
	ranged.Rules = append(ranged.Rules[:1],
		plan.Rule{Name: "range", Protocol: "udp", Port: config.PortRange{First: 9000, Last: 9003}, To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 7000, Last: 7003}},
		plan.Rule{Name: "onto-one", Protocol: "tcp", Port: config.PortRange{First: 9100, Last: 9102}, To: netip.MustParseAddr("192.168.88.51"), ToPort: config.PortRange{First: 80, Last: 80}})
	guarded := guardedPlan(t, hosts, &config.Limit{Count: 10, Unit: "minute", Burst: 20})
	regarded := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("203.0.113.99"), netip.MustParseAddr("198.51.100.77")}},
		&config.Limit{Count: 5, Unit: "second", Burst: 8})
	regarded.AllowSets[1].Prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.0.0.0/8")}
	subnets := camerasPlan(t)
	subnets.LANInterface, subnets.SNATTo = "", netip.MustParseAddr("192.168.88.2")
	subnets.LANNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.88.0/24"), netip.MustParsePrefix("192.168.99.0/30")}
	noMasq := dualPlan(t)
	noMasq.Masquerade = false
	empty := camerasPlan(t)
	empty.Rules = nil

	steps := []struct {
		name string
		d    *plan.Desired
		edit [][]string // nft commands run in both namespaces before the apply
	}{
		{"cameras, first apply", camerasPlan(t), nil},
		{"cameras again", camerasPlan(t), nil},
		{"hand edits", camerasPlan(t), [][]string{
			{"add", "element", "ip", "hairpin", "count_tcp", "{ 8090, 8091, 8093 }"},
			{"add", "chain", "ip", "hairpin", "camssh", "{ type nat hook prerouting priority -101; }"},
			{"add", "rule", "ip", "hairpin", "camssh", "tcp", "dport", "2223", "dnat", "to", "192.168.88.180:22"},
			{"add", "set", "ip", "hairpin", "stray", "{ type ipv4_addr; }"},
			{"chain", "ip", "hairpin", "prerouting", "{ policy drop; }"},
		}},
		{"a base chain re-created at another priority", camerasPlan(t), [][]string{
			{"delete", "chain", "ip", "hairpin", "postrouting"},
			{"add", "chain", "ip", "hairpin", "postrouting", "{ type nat hook postrouting priority 50; }"},
		}},
		{"double NAT, port ranges, stale counters", ranged, nil},
		{"guards", guarded, nil},
		{"guards changed", regarded, nil},
		{"IPv6, guards gone", dualPlan(t), nil},
		{"IPv6 again", dualPlan(t), nil},
		{"no masquerade", noMasq, nil},
		{"LAN of subnets, SNAT to the HA address", subnets, nil},
		{"no forwards", empty, nil},
		{"guards on an empty table", guarded, nil},
	}
	for _, s := range steps {
		for _, edit := range s.edit {
			nftIn(t, oracle, edit...)
			nftIn(t, ns, edit...)
		}
		if err := netnsBackend(oracle, true, func(b *Backend) error { return b.Apply(ctx, s.d) }); err != nil {
			t.Fatalf("%s: the oracle's apply: %v", s.name, err)
		}
		if err := withBackend(ns, func(b *Backend) error { return b.Apply(ctx, s.d) }); err != nil {
			t.Fatalf("%s: apply: %v", s.name, err)
		}
		want, got := nftIn(t, oracle, "list", "ruleset"), nftIn(t, ns, "list", "ruleset")
		if got != want {
			t.Errorf("%s: the kernel's ruleset differs from nft's (-nft +netlink):\n%s", s.name, lineDiff(want, got))
		}
		if !strings.Contains(got, "table ip hairpin") {
			t.Fatalf("%s: no table:\n%s", s.name, got)
		}
	}
}

// netnsBackend runs fn with a real backend in namespace ns; oracle makes it run its transactions through nft.
func netnsBackend(ns string, oracle bool, fn func(b *Backend) error) error {
	return withBackend(ns, func(b *Backend) error {
		if oracle {
			b.k = nftKernel{b.k.(*netKernel)}
		}
		return fn(b)
	})
}

// A batch the kernel refuses changes nothing: the rules of the last apply stay listed, byte for byte, and the
// apply says so. The negative control is the same batch without the refused rule, which the kernel takes.
func TestRefusedBatchChangesNothing(t *testing.T) {
	ns := testNS(t)
	ctx := context.Background()
	if err := withBackend(ns, func(b *Backend) error { return b.Apply(ctx, camerasPlan(t)) }); err != nil {
		t.Fatal(err)
	}
	before := nftIn(t, ns, "list", "ruleset")
	next := camerasPlan(t)
	next.Rules = next.Rules[:1]
	send := func(bad bool) error {
		return withBackend(ns, func(b *Backend) error {
			tx := b.newTx(ipv4)
			build(tx, ipv4, next, nil, nil, true)
			if bad {
				tx.Add(&script.Rule{Chain: chainPre, Rule: "jump no_such_chain"})
			}
			return b.k.run(ctx, tx, nil)
		})
	}
	err := send(true)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") || !strings.Contains(err.Error(), "add rule ip hairpin prerouting jump no_such_chain") {
		t.Fatalf("the kernel took a jump to a missing chain: %v", err)
	}
	if after := nftIn(t, ns, "list", "ruleset"); after != before {
		t.Errorf("the refused batch changed the ruleset:\n%s", lineDiff(before, after))
	}
	if err := send(false); err != nil {
		t.Fatalf("negative control: %v", err)
	}
	if after := nftIn(t, ns, "list", "ruleset"); after == before || strings.Contains(after, "8091") {
		t.Errorf("negative control: the batch without the bad rule did not apply:\n%s", after)
	}
}

// A first apply sends no flush and no deletion: the kernel makes the socket's close wait an RCU grace period
// after a batch that removes anything. A second apply of the same plan flushes what it refills.
func TestFirstApplyFlushesNothing(t *testing.T) {
	kinds := func(fresh bool) map[uint16]int {
		t.Helper()
		out := map[uint16]int{}
		for _, fam := range []family{ipv4, ipv6} {
			tx := fam.newTx()
			build(tx, fam, dualPlan(t), nil, nil, true)
			b := &batch{fam: fam}
			if err := compile(b, tx.String(), fresh); err != nil {
				t.Fatal(err)
			}
			for _, m := range b.msgs {
				out[uint16(m.Header.Type)&0xff]++
			}
		}
		return out
	}
	first, again := kinds(true), kinds(false)
	for _, typ := range []uint16{unix.NFT_MSG_DELRULE, unix.NFT_MSG_DELSETELEM, unix.NFT_MSG_DELSET, unix.NFT_MSG_DELCHAIN, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_DELOBJ} {
		if first[typ] != 0 {
			t.Errorf("a first apply sends %d messages of type %d", first[typ], typ)
		}
	}
	if again[unix.NFT_MSG_DELRULE] == 0 || again[unix.NFT_MSG_DELSETELEM] == 0 {
		t.Errorf("a re-apply flushes nothing: %v", again)
	}
}

// compile refuses what it was not taught, rather than sending something else.
func TestCompileRefusesUnknown(t *testing.T) {
	for _, script := range []string{
		"add rule ip hairpin prerouting tcp dport 22 accept\n",
		"add rule ip hairpin prerouting ip6 daddr @wan_addrs accept\n",
		"add table ip other\n",
		"add set ip hairpin s { type ether_addr ; }\n",
		"add element ip hairpin undeclared { 192.0.2.1 }\n",
		"add chain ip hairpin c { type nat hook ingress priority 0 ; }\n",
		"insert rule ip hairpin c accept\n",
	} {
		if err := compile(&batch{fam: ipv4}, script, false); err == nil {
			t.Errorf("compile took %q", script)
		}
	}
	// The negative control: what build.go writes compiles.
	tx := ipv4.newTx()
	build(tx, ipv4, guardedPlan(t, nil, &config.Limit{Count: 1, Unit: "hour", Burst: 2}), map[string][]uint16{"tcp": {1}}, nil, true)
	if err := compile(&batch{fam: ipv4}, tx.String(), false); err != nil {
		t.Error(err)
	}
}
