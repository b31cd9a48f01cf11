package nft

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// guardedScript is what Apply hands nft for the guarded plan over a table whose counting sets hold stale
// ports: the merged, inlined script, and the ports taken out for netlink.
func guardedScript(t *testing.T) (string, map[string][]uint16) {
	t.Helper()
	d := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}, nil)
	tx := ipv4.newTx()
	Build(tx, d, map[string][]uint16{"tcp": {8090, 9999}, "udp": {53}})
	s, stale := splitCountDeletes(mergeElements(tx.String()), nil)
	return inlineElements(s), stale
}

// nft reads every set's elements before an element command (README.md, "Applying"); the script Apply runs has
// none: each set's elements are in a declaration of the set, in the place of the element statement.
func TestInlineElements(t *testing.T) {
	script, stale := guardedScript(t)
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(line, "add element") || strings.HasPrefix(line, "delete element") {
			t.Errorf("element command left in the script: %s", line)
		}
	}
	for _, want := range []string{
		"add set ip hairpin wan_addrs { type ipv4_addr ; elements = { 203.0.113.7 } ; }",
		"add map ip hairpin fwd_dnat { type inet_proto . inet_service : ipv4_addr . inet_service ; elements = { tcp . 8090 : 192.168.88.180 . 80, tcp . 8091 : 192.168.88.181 . 80, tcp . 8092 : 192.168.88.182 . 80 } ; }",
		"add map ip hairpin guard_ports { type inet_proto . inet_service : verdict ; elements = { tcp . 8090 : jump guard_front-cam } ; }",
	} {
		if !strings.Contains(script, want+"\n") {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if got := stale["tcp"]; len(got) != 1 || got[0] != 9999 || len(stale["udp"]) != 1 || stale["udp"][0] != 53 {
		t.Errorf("stale ports = %v, want tcp 9999 and udp 53", stale)
	}
	// Negative control: the merged script without the inlining does hold element commands.
	tx := ipv4.newTx()
	Build(tx, camerasPlan(t))
	if !strings.Contains(mergeElements(tx.String()), "add element ip hairpin fwd_dnat {") {
		t.Error("the control script has no element command to inline")
	}
}

// Against the kernel, the inlined script leaves the table exactly as the element commands did, allow lists,
// host sets, verdict map and IPv6 table included; a re-apply after the plan dropped a port deletes that port's
// counter and keeps the others'.
func TestInlineElementsInKernel(t *testing.T) {
	ctx := context.Background()
	d := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}},
		&config.Limit{Count: 10, Unit: "minute", Burst: 20})
	d.V6 = dualPlan(t).V6
	list := func(ns string) string {
		return nftIn(t, ns, "list", "ruleset")
	}
	// The old path: the same transaction with its element commands, run by nft directly.
	old := testNS(t)
	if err := withBackend(old, func(b *Backend) error {
		k := b.k.(*netKernel)
		sets, _, err := b.preloadPrefixSets(ctx, d, false, nil, nil, false)
		if err != nil {
			return err
		}
		tx, tx6 := b.newTx(ipv4), b.newTx(ipv6)
		build(tx, ipv4, d, nil, sets, false)
		build(tx6, ipv6, d, nil, nil, false)
		return runScript(ctx, k.nftPath, tx.String()+tx6.String())
	}); err != nil {
		t.Fatal(err)
	}
	ns := testNS(t)
	apply := func(d *plan.Desired) {
		t.Helper()
		if err := withBackend(ns, func(b *Backend) error {
			return b.Apply(ctx, d)
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply(d)
	if got, want := list(ns), list(old); got != want {
		t.Errorf("the inlined apply differs from the element commands (-old +inlined):\n%s", lineDiff(want, got))
	}

	nftIn(t, ns, "add", "element", "ip", "hairpin", "count_tcp", "{ 8090, 8091 }")
	next := *d
	next.Rules = d.Rules[:1] // 8091 (and 8092) no longer forwarded
	apply(&next)
	counts := nftIn(t, ns, "list", "set", "ip", "hairpin", "count_tcp")
	if !strings.Contains(counts, "8090") || strings.Contains(counts, "8091") {
		t.Errorf("after dropping port 8091 the counting set should hold 8090 only:\n%s", counts)
	}
}

// A script with an element command for a set it does not declare keeps the command.
func TestInlineElementsUndeclared(t *testing.T) {
	in := "add element ip hairpin wan_addrs { 192.0.2.1 }\n"
	if got := inlineElements(in); got != in {
		t.Errorf("inlineElements(%q) = %q", in, got)
	}
}

// The real kernel's script declares the DNAT map with its elements directly (declareDNAT); it is the script the
// element commands gave once merged and inlined, byte for byte: port ranges (one to one and all onto one port),
// both protocols, the IPv6 table, and a plan without forwards.
func TestDeclareDNAT(t *testing.T) {
	ranged := camerasPlan(t)
	ranged.Rules = append(ranged.Rules,
		plan.Rule{Name: "range", Protocol: "udp", Port: config.PortRange{First: 9000, Last: 9003}, To: netip.MustParseAddr("192.168.88.50"), ToPort: config.PortRange{First: 7000, Last: 7003}},
		plan.Rule{Name: "onto-one", Protocol: "tcp", Port: config.PortRange{First: 9100, Last: 9102}, To: netip.MustParseAddr("192.168.88.51"), ToPort: config.PortRange{First: 80, Last: 80}})
	empty := camerasPlan(t)
	empty.Rules = nil
	guarded := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}, nil)
	for name, d := range map[string]*plan.Desired{"cameras": camerasPlan(t), "ranges": ranged, "none": empty, "guarded": guarded, "dual": dualPlan(t)} {
		t.Run(name, func(t *testing.T) {
			script := func(declare bool) string {
				var out string
				for _, fam := range []family{ipv4, ipv6} {
					tx := fam.newTx()
					build(tx, fam, d, map[string][]uint16{"tcp": {8090, 9999}}, nil, declare)
					s, _ := splitCountDeletes(mergeElements(tx.String()), nil)
					out += inlineElements(s)
				}
				return out
			}
			if got, want := script(true), script(false); got != want {
				t.Errorf("declared DNAT map differs from the inlined element commands (-commands +declared):\n%s", lineDiff(want, got))
			}
			if name != "none" && !strings.Contains(script(true), "add map ip hairpin fwd_dnat { type inet_proto . inet_service : ipv4_addr . inet_service ; elements = { ") {
				t.Errorf("no declared DNAT map in:\n%s", script(true))
			}
		})
	}
}
