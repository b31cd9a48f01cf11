package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	"github.com/hairpin-nat/hairpin/internal/nft/script"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

var protocols = []string{"tcp", "udp"}

// Build adds to tx (a transaction on table ip hairpin) everything needed to turn whatever hairpin's table
// holds into d. keepCount lists the elements already in each counting set: they are left in place (so their
// counters survive a re-apply) and only the difference is added or deleted.
func Build(tx *script.Transaction, d *plan.Desired, keepCount ...map[string][]uint16) {
	var existing map[string][]uint16
	if len(keepCount) > 0 {
		existing = keepCount[0]
	}
	build(tx, ipv4, d, existing, nil, false)
}

// build adds to tx, a transaction on fam's table, everything needed to turn whatever that table holds into
// d's side of fam. Both tables have the same object names, the DNAT map keyed the same way and the masquerade
// scoped the same way (README.md); the IPv4 one also keeps the counting sets (existing lists their elements)
// and the guards, whose allow lists' sets are in place and named in sets (nil: declared here, with their
// prefixes). declare gives the DNAT map's elements in a second declaration of the map instead of one element
// command each (declareDNAT).
func build(tx *script.Transaction, fam family, d *plan.Desired, existing map[string][]uint16, sets map[string]prefixSet, declare bool) {
	c := contentOf(fam, d)
	comment := OwnerComment
	tx.Add(&script.Table{Comment: &comment})

	replaceSet(tx, &script.Set{Name: setWAN, Type: fam.addrType}, addrKeys(c.wan))
	replaceSet(tx, &script.Set{Name: setLAN, Type: fam.addrType, Flags: []script.SetFlag{script.IntervalFlag}}, netKeys(c.lan))

	dnat := &script.Map{Name: mapDNAT, Type: "inet_proto . inet_service : " + fam.addrType + " . inet_service"}
	tx.Add(dnat)
	tx.Flush(dnat)
	if declare {
		declareDNAT(tx, dnat, c.rules)
	} else {
		addDNAT(tx, c.rules)
	}

	if fam.counts {
		for _, proto := range protocols {
			syncCountSet(tx, proto, portsOf(d, proto), existing[proto])
		}
	}
	addChains(tx, fam, d)
	if fam.counts {
		buildGuards(tx, d, sets)
	}
}

// addDNAT adds one DNAT map element per external port of rules.
func addDNAT(tx *script.Transaction, rules []plan.Rule) {
	for _, r := range rules {
		r.Expand(func(ext, in uint16) bool {
			tx.Add(&script.Element{Map: mapDNAT,
				Key:   []string{r.Protocol, strconv.Itoa(int(ext))},
				Value: []string{r.To.String(), strconv.Itoa(int(in))}})
			return true
		})
	}
}

// declareDNAT declares map m again with the elements addDNAT would add, in their text: the statement
// inlineElements makes of the merged element commands, byte for byte (TestDeclareDNAT), written directly.
// An element command per port is an object of several allocations, printed and then merged and inlined line by
// line: for 50,000 forwards that was 50 ms of `hairpin apply`, more than reading the config.
// The knftables fake (nftfake) keeps a map's type as it is given, so the fake kernel gets the element commands.
func declareDNAT(tx *script.Transaction, m *script.Map, rules []plan.Rule) {
	n := 0
	for _, r := range rules {
		n += r.Port.Len()
	}
	if n == 0 {
		return
	}
	b := make([]byte, 0, len(m.Type)+24+48*n)
	b = append(b, m.Type...)
	b = append(b, " ; elements = { "...)
	first := true
	for _, r := range rules {
		r.Expand(func(ext, in uint16) bool {
			if !first {
				b = append(b, ", "...)
			}
			first = false
			b = append(b, r.Protocol...)
			b = append(b, " . "...)
			b = strconv.AppendUint(b, uint64(ext), 10)
			b = append(b, " : "...)
			b = r.To.AppendTo(b)
			b = append(b, " . "...)
			b = strconv.AppendUint(b, uint64(in), 10)
			return true
		})
	}
	b = append(b, " }"...)
	tx.Add(&script.Map{Name: m.Name, Type: string(b)})
}

func replaceSet(tx *script.Transaction, s *script.Set, keys []string) {
	tx.Add(s)
	tx.Flush(s)
	for _, k := range keys {
		tx.Add(&script.Element{Set: s.Name, Key: []string{k}})
	}
}

// syncCountSet keeps one counting set per protocol keyed by the original destination port. The set is
// dynamic: the forward chain adds a port's element, with its own counter, on the port's first packet and
// updates that counter on every packet after. So an apply inserts nothing here, which keeps the apply of tens
// of thousands of forwards close to the cost of the DNAT map alone; it only deletes the elements of ports that
// are no longer forwarded. Elements are never flushed, so counters survive a re-apply.
func syncCountSet(tx *script.Transaction, proto string, want, have []uint16) {
	name := countSetBase + proto
	size := uint64(65535)
	// The script model, like knftables, has no field for a set's "counter" statement; it is declared after the
	// type, which nft accepts.
	tx.Add(&script.Set{Name: name, Type: "inet_service ; counter", Flags: []script.SetFlag{script.DynamicFlag}, Size: &size})
	for _, p := range have {
		if _, found := slices.BinarySearch(want, p); !found {
			tx.Delete(&script.Element{Set: name, Key: []string{strconv.Itoa(int(p))}})
		}
	}
}

func addChains(tx *script.Transaction, fam family, d *plan.Desired) {
	for _, c := range coreChainRules(fam, d) {
		tx.Add(c.chain)
		tx.Flush(c.chain)
		for _, r := range c.rules {
			tx.Add(&script.Rule{Chain: c.chain.Name, Rule: r})
		}
	}
}

// chainRules is one of hairpin's core chains and every rule it holds.
type chainRules struct {
	chain *script.Chain
	rules []string
}

// coreChainRules lists the core chains of fam's table for d, in the order they are added, each with all of
// its rules: addChains writes them, and doctor counts them to find rules someone else added.
func coreChainRules(fam family, d *plan.Desired) []chainRules {
	jump := fmt.Sprintf("%s daddr @%s jump %s", fam.name, setWAN, chainDNAT)
	chains := []chainRules{
		// The jump target must exist before the rules that jump to it.
		{&script.Chain{Name: chainDNAT}, []string{fmt.Sprintf("dnat %s to meta l4proto . th dport map @%s", fam.name, mapDNAT)}},
		{baseChain(chainPre, script.NATType, script.PreroutingHook, script.DNATPriority), append(lanIngressRules(fam, d), jump)},
		// Connections the router itself opens to its public address (output hook) are forwarded too.
		{baseChain(chainOut, script.NATType, script.OutputHook, script.DNATPriority), append(localRules(fam, d), jump)},
		{baseChain(chainPost, script.NATType, script.PostroutingHook, script.SNATPriority), masqueradeRules(fam, d)},
	}
	if fam.counts {
		chains = append(chains, chainRules{baseChain(chainFwd, script.FilterType, script.ForwardHook, "filter - 5"), countRules()})
	}
	return chains
}

// LANIngressMark is the one conntrack mark bit hairpin uses: set on connections to a WAN address that entered
// on the LAN interface. The other bits are left to the user's rules.
const LANIngressMark = 0x10000000

// lanIngressRules mark, on a connection's first packet, that it came in on the LAN. The postrouting hook
// cannot see the input interface; the conntrack mark carries it there.
func lanIngressRules(fam family, d *plan.Desired) []string {
	if !d.Masquerade {
		return nil
	}
	from := fmt.Sprintf("iifname %q", d.LANInterface)
	if d.LANInterface == "" { // LAN given by subnets only: anything but the WAN
		from = fmt.Sprintf("iifname != %q", d.WANInterface)
	}
	return []string{fmt.Sprintf("%s %s daddr @%s ct mark set ct mark or %#x", from, fam.name, setWAN, LANIngressMark)}
}

// localRules mark the router's own connections to a WAN address like LAN ones: they cannot be spoofed.
func localRules(fam family, d *plan.Desired) []string {
	if !d.Masquerade {
		return nil
	}
	return []string{fmt.Sprintf("%s daddr @%s ct mark set ct mark or %#x", fam.name, setWAN, LANIngressMark)}
}

// masqueradeRules masquerade only hairpinned flows: a connection that entered on the LAN or came from the
// router itself (the mark of lanIngressRules and localRules), from a LAN source, that hairpin DNATed from a WAN address. Internet callers keep their
// address, plain LAN-to-LAN traffic is not touched, and a packet from the internet with a spoofed LAN source
// is not made to look like a LAN caller (rp_filter is often loose or off). Matching on the conntrack original
// destination leaves the packet mark to the user's other rules.
func masqueradeRules(fam family, d *plan.Desired) []string {
	if !d.Masquerade {
		return nil
	}
	// An HA pair's IPv4 flows take the LAN's virtual address, which the other router answers for after a
	// failover; a masqueraded flow would keep the dead router's own address.
	to := "masquerade"
	if d.SNATTo.IsValid() && fam.name == ipv4.name {
		to = "snat " + fam.name + " to " + d.SNATTo.String()
	}
	return []string{fmt.Sprintf("ct status dnat ct mark and %#x != 0 %s saddr @%s ct original %s daddr @%s %s", LANIngressMark, fam.name, setLAN, fam.name, setWAN, to)}
}

func countRules() []string {
	var rules []string
	for _, proto := range protocols {
		rules = append(rules, fmt.Sprintf("ct status dnat ct original ip daddr @%s ct original protocol %s update @%s%s { ct original proto-dst }",
			setWAN, proto, countSetBase, proto))
	}
	return rules
}

// baseChain declares its policy: "add chain" with a policy resets one someone changed (a policy drop on
// hairpin's prerouting chain once dropped every inbound packet through every resync).
func baseChain(name string, typ script.BaseChainType, hook script.BaseChainHook, prio script.BaseChainPriority) *script.Chain {
	accept := script.AcceptPolicy
	return &script.Chain{Name: name, Type: &typ, Hook: &hook, Priority: &prio, Policy: &accept}
}

func addrKeys(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

func netKeys(prefixes []netip.Prefix) []string {
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		out[i] = p.String()
	}
	return out
}

func portsOf(d *plan.Desired, proto string) []uint16 {
	var ports []uint16
	for _, r := range d.Rules {
		if r.Protocol != proto {
			continue
		}
		for p := int(r.Port.First); p <= int(r.Port.Last); p++ {
			ports = append(ports, uint16(p))
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return slices.Compact(ports)
}
