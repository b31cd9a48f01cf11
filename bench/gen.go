package bench

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// fwd is one generated forward: TCP port Port on the public address to To:ToPort.
type fwd struct {
	Port   int
	To     netip.Addr
	ToPort int
}

// firstPort is the external port of the first generated forward; forward i uses firstPort+i.
const firstPort = 1024

// manyForwards returns n TCP forwards on ports firstPort.. with targets spread over the hosts of lan (which
// need not exist: only the forwards a benchmark connects through must reach a server). Forwards whose index
// is in real go to target instead.
func manyForwards(n int, lan netip.Prefix, target netip.AddrPort, real ...int) []fwd {
	hosts := hostCount(lan)
	b := lan.Masked().Addr().As4()
	base := binary.BigEndian.Uint32(b[:])
	out := make([]fwd, n)
	for i := range out {
		// Skip the network address and .1, the router.
		binary.BigEndian.PutUint32(b[:], base+2+uint32(i%(hosts-2)))
		out[i] = fwd{Port: firstPort + i, To: netip.AddrFrom4(b), ToPort: 80 + i%1000}
	}
	for _, i := range real {
		out[i].To, out[i].ToPort = target.Addr(), int(target.Port())
	}
	return out
}

func hostCount(p netip.Prefix) int {
	bits := 32 - p.Bits()
	if bits > 16 {
		bits = 16
	}
	return 1<<bits - 1
}

// hairpinConfig is a hairpin config file for the lab's router with the given forwards.
func hairpinConfig(wanIf, lanIf string, fwds []fwd) string {
	var b strings.Builder
	b.Grow(64 * len(fwds))
	fmt.Fprintf(&b, "wan:\n  interface: %s\nlan:\n  interface: %s\nforwards:\n", wanIf, lanIf)
	for i, f := range fwds {
		fmt.Fprintf(&b, "  - name: f%d\n    port: %d\n    to: %s:%d\n    protocol: tcp\n", i, f.Port, f.To, f.ToPort)
	}
	return b.String()
}

// Floor tables are hand-written rulesets hairpin is compared against; each benchmark loads one at a time.
const (
	FloorTable    = "floor"
	RuleListTable = "rulelist"
)

// floorNAT is the least the kernel needs for one hairpinned forward: one DNAT rule and one masquerade.
func floorNAT(public netip.Addr, port int, to netip.AddrPort, lan netip.Prefix) string {
	return fmt.Sprintf(`table ip %s {
	chain pre { type nat hook prerouting priority dstnat; ip daddr %s tcp dport %d dnat to %s; }
	chain post { type nat hook postrouting priority srcnat; ct status dnat ip saddr %s masquerade; }
}
`, FloorTable, public, port, to, lan)
}

// floorMap loads the same map hairpin's table holds, and nothing else: one "add map" and one element block.
// It is the floor for apply time, what nft itself needs to take in that many forwards.
func floorMap(fwds []fwd) string {
	var b strings.Builder
	b.Grow(40 * len(fwds))
	fmt.Fprintf(&b, "add table ip %s\n", FloorTable)
	fmt.Fprintf(&b, "add map ip %s fwd_dnat { type inet_proto . inet_service : ipv4_addr . inet_service ; }\n", FloorTable)
	fmt.Fprintf(&b, "add element ip %s fwd_dnat { ", FloorTable)
	for i, f := range fwds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "tcp . %d : %s . %d", f.Port, f.To, f.ToPort)
	}
	b.WriteString(" }\n")
	return b.String()
}

// ruleList is what iptables-style and RouterOS-style configurations amount to: one DNAT rule per forward,
// tried in order, plus the hairpin masquerade.
func ruleList(public netip.Addr, fwds []fwd, lan netip.Prefix) string {
	var b strings.Builder
	b.Grow(80 * len(fwds))
	fmt.Fprintf(&b, "table ip %s {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat;\n", RuleListTable)
	for _, f := range fwds {
		fmt.Fprintf(&b, "\t\tip daddr %s tcp dport %d dnat to %s:%d\n", public, f.Port, f.To, f.ToPort)
	}
	fmt.Fprintf(&b, "\t}\n\tchain post { type nat hook postrouting priority srcnat; ct status dnat ip saddr %s masquerade; }\n}\n", lan)
	return b.String()
}
