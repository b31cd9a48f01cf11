package nft

import (
	"fmt"
	"slices"
	"strconv"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

var protocols = []string{"tcp", "udp"}

// Build adds to tx everything needed to turn whatever hairpin's table holds into d. keepCount lists the
// elements already in each counting set: they are left in place (so their counters survive a re-apply) and
// only the difference is added or deleted.
func Build(tx *knftables.Transaction, d *plan.Desired, keepCount ...map[string][]uint16) {
	var existing map[string][]uint16
	if len(keepCount) > 0 {
		existing = keepCount[0]
	}
	build(tx, d, existing, nil)
}

// build is Build leaving out the allow-list prefix sets named in preloaded, which are already in place.
func build(tx *knftables.Transaction, d *plan.Desired, existing map[string][]uint16, preloaded map[string]bool) {
	comment := OwnerComment
	tx.Add(&knftables.Table{Comment: &comment})

	replaceSet(tx, &knftables.Set{Name: setWAN, Type: "ipv4_addr"}, addrKeys(d))
	replaceSet(tx, &knftables.Set{Name: setLAN, Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}}, netKeys(d))

	dnat := &knftables.Map{Name: mapDNAT, Type: "inet_proto . inet_service : ipv4_addr . inet_service"}
	tx.Add(dnat)
	tx.Flush(dnat)
	for _, r := range d.Rules {
		r.Expand(func(ext, in uint16) bool {
			tx.Add(&knftables.Element{Map: mapDNAT,
				Key:   []string{r.Protocol, strconv.Itoa(int(ext))},
				Value: []string{r.To.String(), strconv.Itoa(int(in))}})
			return true
		})
	}

	for _, proto := range protocols {
		syncCountSet(tx, proto, portsOf(d, proto), existing[proto])
	}

	addChains(tx, d)
	buildGuards(tx, d, preloaded)
}

func replaceSet(tx *knftables.Transaction, s *knftables.Set, keys []string) {
	tx.Add(s)
	tx.Flush(s)
	for _, k := range keys {
		tx.Add(&knftables.Element{Set: s.Name, Key: []string{k}})
	}
}

// syncCountSet keeps one counting set per protocol keyed by the original destination port. The set is
// dynamic: the forward chain adds a port's element, with its own counter, on the port's first packet and
// updates that counter on every packet after. So an apply inserts nothing here, which keeps the apply of tens
// of thousands of forwards close to the cost of the DNAT map alone; it only deletes the elements of ports that
// are no longer forwarded. Elements are never flushed, so counters survive a re-apply.
func syncCountSet(tx *knftables.Transaction, proto string, want, have []uint16) {
	name := countSetBase + proto
	size := uint64(65535)
	// knftables has no field for a set's "counter" statement; it is declared after the type, which nft accepts.
	tx.Add(&knftables.Set{Name: name, Type: "inet_service ; counter", Flags: []knftables.SetFlag{knftables.DynamicFlag}, Size: &size})
	for _, p := range have {
		if _, found := slices.BinarySearch(want, p); !found {
			tx.Delete(&knftables.Element{Set: name, Key: []string{strconv.Itoa(int(p))}})
		}
	}
}

func addChains(tx *knftables.Transaction, d *plan.Desired) {
	jump := fmt.Sprintf("ip daddr @%s jump %s", setWAN, chainDNAT)
	chains := []struct {
		chain *knftables.Chain
		rules []string
	}{
		// The jump target must exist before the rules that jump to it.
		{&knftables.Chain{Name: chainDNAT}, []string{fmt.Sprintf("dnat ip to meta l4proto . th dport map @%s", mapDNAT)}},
		{baseChain(chainPre, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority), []string{jump}},
		// Connections the router itself opens to its public address (output hook) are forwarded too.
		{baseChain(chainOut, knftables.NATType, knftables.OutputHook, knftables.DNATPriority), []string{jump}},
		{baseChain(chainPost, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority), masqueradeRules(d)},
		{baseChain(chainFwd, knftables.FilterType, knftables.ForwardHook, "filter - 5"), countRules()},
	}
	for _, c := range chains {
		tx.Add(c.chain)
		tx.Flush(c.chain)
		for _, r := range c.rules {
			tx.Add(&knftables.Rule{Chain: c.chain.Name, Rule: r})
		}
	}
}

// masqueradeRules masquerade only hairpinned flows: a LAN source whose connection hairpin DNATed from a WAN
// address. Internet callers keep their address, and plain LAN-to-LAN traffic is not touched. Matching on the
// conntrack original destination instead of a packet mark leaves the mark bits to the user's other rules.
func masqueradeRules(d *plan.Desired) []string {
	if !d.Masquerade {
		return nil
	}
	return []string{fmt.Sprintf("ct status dnat ip saddr @%s ct original ip daddr @%s masquerade", setLAN, setWAN)}
}

func countRules() []string {
	var rules []string
	for _, proto := range protocols {
		rules = append(rules, fmt.Sprintf("ct status dnat ct original ip daddr @%s ct original protocol %s update @%s%s { ct original proto-dst }",
			setWAN, proto, countSetBase, proto))
	}
	return rules
}

func baseChain(name string, typ knftables.BaseChainType, hook knftables.BaseChainHook, prio knftables.BaseChainPriority) *knftables.Chain {
	return &knftables.Chain{Name: name, Type: &typ, Hook: &hook, Priority: &prio}
}

func addrKeys(d *plan.Desired) []string {
	out := make([]string, len(d.WANAddrs))
	for i, a := range d.WANAddrs {
		out[i] = a.String()
	}
	return out
}

func netKeys(d *plan.Desired) []string {
	out := make([]string, len(d.LANNets))
	for i, p := range d.LANNets {
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
	slices.Sort(ports)
	return slices.Compact(ports)
}
