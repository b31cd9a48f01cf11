package nft

import (
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/nft/script"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// family is what differs between hairpin's two tables, table ip hairpin and table ip6 hairpin: the builders,
// the fast path and the kernel take one, as kube-proxy builds one proxier per family. The IPv4 table alone
// carries the counting sets and the guards: a guarded forward is never forwarded on IPv6 (plan.OffGuarded).
type family struct {
	// name is the table's family and the match keyword of its addresses: "ip" or "ip6".
	name string
	// addrType is the nft type of an address: ipv4_addr or ipv6_addr.
	addrType string
	knft     script.Family
	// af is the nfgenmsg family of a netlink question.
	af byte
	// notOwned is the error of a table of this family named hairpin that is not hairpin's.
	notOwned error
	// counts says the table holds the counting sets, the forward chain that fills them, and the guards.
	counts bool
}

var (
	ipv4 = family{name: "ip", addrType: "ipv4_addr", knft: script.IPv4Family,
		af: unix.AF_INET, notOwned: ErrNotOwned, counts: true}
	ipv6 = family{name: "ip6", addrType: "ipv6_addr", knft: script.IPv6Family,
		af: unix.AF_INET6, notOwned: ErrNotOwned6}
)

// content is what one family's table holds that follows the router's addresses: the addresses forwards answer
// on, the LAN prefixes, and the DNAT targets.
type content struct {
	wan   []netip.Addr
	lan   []netip.Prefix
	rules []plan.Rule
}

// contentOf is d's content for fam; an IPv6 side of a plan without IPv6 forwards is empty.
func contentOf(fam family, d *plan.Desired) content {
	if fam.counts {
		return content{wan: d.WANAddrs, lan: d.LANNets, rules: d.Rules}
	}
	if d.V6 == nil {
		return content{}
	}
	return contentOf6(d.V6)
}

func contentOf6(d *plan.Desired6) content {
	return content{wan: d.WANAddrs, lan: d.LANNets, rules: d.Rules}
}

// newTx starts a transaction on this family's table.
func (f family) newTx() *script.Transaction { return script.NewTransaction(f.knft, Table) }

// has reports whether a is an address of this family.
func (f family) has(a netip.Addr) bool { return a.Is4() == f.counts }

// bytes is a's key in a set of this family.
func (f family) bytes(a netip.Addr) []byte {
	if f.counts {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}
