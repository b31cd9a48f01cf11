package nft

import (
	"fmt"
	"strconv"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// build6 adds to tx (a transaction on table ip6 hairpin) everything needed to turn whatever that table holds
// into d. The table mirrors the IPv4 one (README.md): the same object names, the DNAT map keyed the same way,
// the masquerade scoped the same way (LAN ingress mark included), without counters or guards: a guarded
// forward is never forwarded on IPv6.
func build6(tx *knftables.Transaction, full *plan.Desired) {
	d := full.V6
	comment := OwnerComment
	tx.Add(&knftables.Table{Comment: &comment})

	var wan, lan []string
	for _, a := range d.WANAddrs {
		wan = append(wan, a.String())
	}
	for _, p := range d.LANNets {
		lan = append(lan, p.String())
	}
	replaceSet(tx, &knftables.Set{Name: setWAN, Type: "ipv6_addr"}, wan)
	replaceSet(tx, &knftables.Set{Name: setLAN, Type: "ipv6_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}}, lan)

	dnat := &knftables.Map{Name: mapDNAT, Type: "inet_proto . inet_service : ipv6_addr . inet_service"}
	tx.Add(dnat)
	tx.Flush(dnat)
	addDNAT(tx, d.Rules)

	jump := fmt.Sprintf("ip6 daddr @%s jump %s", setWAN, chainDNAT)
	var ingress, local, masq []string
	if full.Masquerade {
		from := fmt.Sprintf("iifname %q", full.LANInterface)
		if full.LANInterface == "" {
			from = fmt.Sprintf("iifname != %q", full.WANInterface)
		}
		ingress = []string{fmt.Sprintf("%s ip6 daddr @%s ct mark set ct mark or %#x", from, setWAN, LANIngressMark)}
		local = []string{fmt.Sprintf("ip6 daddr @%s ct mark set ct mark or %#x", setWAN, LANIngressMark)}
		masq = []string{fmt.Sprintf("ct status dnat ct mark and %#x != 0 ip6 saddr @%s ct original ip6 daddr @%s masquerade", LANIngressMark, setLAN, setWAN)}
	}
	chains := []struct {
		chain *knftables.Chain
		rules []string
	}{
		{&knftables.Chain{Name: chainDNAT}, []string{fmt.Sprintf("dnat ip6 to meta l4proto . th dport map @%s", mapDNAT)}},
		{baseChain(chainPre, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority), append(ingress, jump)},
		{baseChain(chainOut, knftables.NATType, knftables.OutputHook, knftables.DNATPriority), append(local, jump)},
		{baseChain(chainPost, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority), masq},
	}
	for _, c := range chains {
		tx.Add(c.chain)
		tx.Flush(c.chain)
		for _, r := range c.rules {
			tx.Add(&knftables.Rule{Chain: c.chain.Name, Rule: r})
		}
	}
}

// addDNAT adds one DNAT map element per external port of rules.
func addDNAT(tx *knftables.Transaction, rules []plan.Rule) {
	for _, r := range rules {
		r.Expand(func(ext, in uint16) bool {
			tx.Add(&knftables.Element{Map: mapDNAT,
				Key:   []string{r.Protocol, strconv.Itoa(int(ext))},
				Value: []string{r.To.String(), strconv.Itoa(int(in))}})
			return true
		})
	}
}
