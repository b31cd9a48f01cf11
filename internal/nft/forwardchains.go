package nft

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// forwardHook is the forward hook's number in every family that has one (NF_INET_FORWARD, NF_BR_FORWARD and
// NF_ARP_FORWARD are all 2); a netdev chain's 2 would be another hook, but netdev has only ingress and egress.
const forwardHook = 2

// ctStatusDNAT is IPS_DST_NAT, the bit `ct status dnat` tests, in ct status's host byte order.
const ctStatusDNAT = 1 << 5

var familyNames = map[byte]string{
	unix.NFPROTO_IPV4: "ip", unix.NFPROTO_IPV6: "ip6", unix.NFPROTO_INET: "inet",
	unix.NFPROTO_ARP: "arp", unix.NFPROTO_BRIDGE: "bridge", unix.NFPROTO_NETDEV: "netdev",
}

// forwardDropsNetlink lists ("family table chain") the forward-hook chains of other tables whose policy is
// drop: those that accept no DNATed connection, and those that do. It reads the chains over netlink and the
// rules of only those chains and the chains they jump to (never the ruleset: its sets can be country-sized),
// so the warning costs an apply a few round trips instead of two nft runs.
func forwardDropsNetlink(conn *netlink.Conn) (drops, fixed []string, err error) {
	chains, err := listChains(conn, unix.NFPROTO_UNSPEC)
	if err != nil {
		return nil, nil, errfmt.Errorf("listing chains: %w", err)
	}
	for _, c := range chains {
		if c.hook != forwardHook || c.af == unix.NFPROTO_NETDEV || c.policy != nfDrop || c.table == Table {
			continue
		}
		name := familyNames[c.af] + " " + c.table + " " + c.name
		if acceptsDNATNetlink(conn, c.af, c.table, c.name, map[string]bool{}) {
			fixed = append(fixed, name)
		} else {
			drops = append(drops, name)
		}
	}
	return drops, fixed, nil
}

// acceptsDNATNetlink reports whether chain, or a chain it jumps or goes to, has an accept rule matching DNATed
// connections: a ct status load masked to the dnat bit and compared so that the bit must be set (`ct status
// dnat`, `ct status & dnat == dnat`, `ct status & dnat != 0`). seen stops loops. A chain whose rules cannot be
// read counts as not accepting.
func acceptsDNATNetlink(conn *netlink.Conn, af byte, table, chain string, seen map[string]bool) bool {
	if seen[chain] || len(seen) > 64 {
		return false
	}
	seen[chain] = true
	rules, err := listRules(conn, af, table, chain)
	if err != nil {
		return false
	}
	for _, r := range rules {
		var accept bool
		var jumps []string
		for _, e := range r {
			switch {
			case e.name != "immediate" || e.dreg != unix.NFT_REG_VERDICT:
			case e.verdict == nfAccept:
				accept = true
			case e.verdict == unix.NFT_JUMP || e.verdict == unix.NFT_GOTO:
				jumps = append(jumps, e.chain)
			}
		}
		if accept && matchesDNAT(r) {
			return true
		}
		for _, j := range jumps {
			if acceptsDNATNetlink(conn, af, table, j, seen) {
				return true
			}
		}
	}
	return false
}

// matchesDNAT finds, in a rule's expressions, ct status loaded into a register, masked with a mask holding the
// dnat bit, and compared so that the match needs the bit set.
func matchesDNAT(exprs []exprInfo) bool {
	for i := 0; i+2 < len(exprs); i++ {
		ct, bw, cmp := exprs[i], exprs[i+1], exprs[i+2]
		if ct.name != "ct" || ct.key != unix.NFT_CT_STATUS || ct.dreg < 0 ||
			bw.name != "bitwise" || bw.sreg != ct.dreg || len(bw.data) != 4 ||
			cmp.name != "cmp" || cmp.sreg != bw.dreg || len(cmp.data) != 4 {
			continue
		}
		mask, v := binary.NativeEndian.Uint32(bw.data), binary.NativeEndian.Uint32(cmp.data)
		if (cmp.op == unix.NFT_CMP_NEQ && v == 0 && mask == ctStatusDNAT) || (cmp.op == unix.NFT_CMP_EQ && mask&ctStatusDNAT != 0 && v&ctStatusDNAT != 0) {
			return true
		}
	}
	return false
}
