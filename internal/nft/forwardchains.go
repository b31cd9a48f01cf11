package nft

import (
	"encoding/binary"
	"fmt"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// forwardHook is the forward hook's number in every family that has one (NF_INET_FORWARD, NF_BR_FORWARD and
// NF_ARP_FORWARD are all 2); a netdev chain's 2 would be another hook, but netdev has only ingress and egress.
const forwardHook = 2

// ctStatusDNAT is IPS_DST_NAT, the bit `ct status dnat` tests, in ct status's host byte order.
const ctStatusDNAT = 1 << 5

var familyNames = map[gnft.TableFamily]string{
	gnft.TableFamilyIPv4: "ip", gnft.TableFamilyIPv6: "ip6", gnft.TableFamilyINet: "inet",
	gnft.TableFamilyARP: "arp", gnft.TableFamilyBridge: "bridge", gnft.TableFamilyNetdev: "netdev",
}

// forwardDropsNetlink lists ("family table chain") the forward-hook chains of other tables whose policy is
// drop: those that accept no DNATed connection, and those that do. It reads the chains over netlink and the
// rules of only those chains and the chains they jump to (never the ruleset: its sets can be country-sized),
// so the warning costs an apply a few round trips instead of two nft runs.
func forwardDropsNetlink(conn *gnft.Conn) (drops, fixed []string, err error) {
	chains, err := conn.ListChains()
	if err != nil {
		return nil, nil, fmt.Errorf("listing chains: %w", err)
	}
	for _, c := range chains {
		if c.Table == nil || c.Hooknum == nil || *c.Hooknum != forwardHook || c.Table.Family == gnft.TableFamilyNetdev ||
			c.Policy == nil || *c.Policy != gnft.ChainPolicyDrop || c.Table.Name == Table {
			continue
		}
		name := familyNames[c.Table.Family] + " " + c.Table.Name + " " + c.Name
		if acceptsDNATNetlink(conn, c.Table, c.Name, map[string]bool{}) {
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
func acceptsDNATNetlink(conn *gnft.Conn, table *gnft.Table, chain string, seen map[string]bool) bool {
	if seen[chain] || len(seen) > 64 {
		return false
	}
	seen[chain] = true
	rules, err := conn.GetRules(table, &gnft.Chain{Name: chain, Table: table})
	if err != nil {
		return false
	}
	for _, r := range rules {
		var accept bool
		var jumps []string
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok {
				switch v.Kind {
				case expr.VerdictAccept:
					accept = true
				case expr.VerdictJump, expr.VerdictGoto:
					jumps = append(jumps, v.Chain)
				}
			}
		}
		if accept && matchesDNAT(r.Exprs) {
			return true
		}
		for _, j := range jumps {
			if acceptsDNATNetlink(conn, table, j, seen) {
				return true
			}
		}
	}
	return false
}

// matchesDNAT finds, in a rule's expressions, ct status loaded into a register, masked with a mask holding the
// dnat bit, and compared so that the match needs the bit set.
func matchesDNAT(exprs []expr.Any) bool {
	for i := 0; i+2 < len(exprs); i++ {
		ct, ok := exprs[i].(*expr.Ct)
		if !ok || ct.Key != expr.CtKeySTATUS || ct.SourceRegister {
			continue
		}
		bw, ok := exprs[i+1].(*expr.Bitwise)
		if !ok || bw.SourceRegister != ct.Register || len(bw.Mask) != 4 || binary.NativeEndian.Uint32(bw.Mask)&ctStatusDNAT == 0 {
			continue
		}
		cmp, ok := exprs[i+2].(*expr.Cmp)
		if !ok || cmp.Register != bw.DestRegister || len(cmp.Data) != 4 {
			continue
		}
		v := binary.NativeEndian.Uint32(cmp.Data)
		mask := binary.NativeEndian.Uint32(bw.Mask)
		if (cmp.Op == expr.CmpOpNeq && v == 0 && mask == ctStatusDNAT) || (cmp.Op == expr.CmpOpEq && v&ctStatusDNAT != 0) {
			return true
		}
	}
	return false
}
