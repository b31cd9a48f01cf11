package routeros

import (
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// The IPv6 menus. They hold items of their own: /ipv6 firewall lists, rules and addresses are separate from
// /ip's, and /ipv6 firewall nat names dst-nat's target to-address (singular), where /ip's is to-addresses.
const (
	pathAddrList6 = "/ipv6/firewall/address-list"
	pathNAT6      = "/ipv6/firewall/nat"
	pathMangle6   = "/ipv6/firewall/mangle"
	pathAddress6  = "/ipv6/address"
)

// natItems6 lists the /ipv6 firewall nat rules for d (nil: none): a dst-nat rule per forward and protocol for
// connections arriving for the router's global addresses (list hairpin-wan in /ipv6 firewall address-list),
// the same in the output chain for the router's own connections, and the masquerade of hairpinned
// connections. There is no allow list on IPv6 (the plan leaves guarded forwards off) and no second NAT in
// front of the router to match by interface.
func natItems6(d *plan.Desired, lanIf string) []item {
	if d.V6 == nil || len(d.V6.Rules) == 0 {
		return nil
	}
	var out []item
	for _, kind := range []struct{ name, chain string }{{"dnat", "dstnat"}, {"dnat-out", "output"}} {
		for _, r := range d.V6.Rules {
			for _, it := range dnatItems(r, kind.name, Entry{"chain": kind.chain, "dst-address-list": ListWAN}) {
				it.props["to-address"] = it.props["to-addresses"]
				delete(it.props, "to-addresses")
				out = append(out, it)
			}
		}
	}
	if d.Masquerade && lanIf != "" {
		out = append(out, item{key: markMasq, props: Entry{
			"chain": "srcnat", "action": "masquerade", "connection-mark": ConnMark, "disabled": "false",
		}})
	}
	return out
}

// mangleItems6 lists the rule that marks hairpinned IPv6 connections for the masquerade: arriving on the LAN
// interface for one of the router's global addresses, and not marked by anyone yet. It runs in prerouting,
// before dst-nat, where the destination is still the router's address; a connection to the router itself
// carries the mark harmlessly, since src-nat only sees connections the router forwards. Matching the LAN
// interface rather than a list of LAN prefixes keeps the rule valid across prefix changes with nothing to
// update.
func mangleItems6(d *plan.Desired, lanIf string) []item {
	if d.V6 == nil || len(d.V6.Rules) == 0 || !d.Masquerade || lanIf == "" {
		return nil
	}
	return []item{{key: markMark, props: Entry{
		"chain": "prerouting", "action": "mark-connection", "new-connection-mark": ConnMark, "passthrough": "true",
		"in-interface": lanIf, "dst-address-list": ListWAN, "connection-mark": "no-mark", "disabled": "false",
	}}}
}

// wanStrings6 are the addresses IPv6 forwards answer on, for list hairpin-wan in /ipv6 firewall address-list.
func wanStrings6(d *plan.Desired) []string {
	if d.V6 == nil || len(d.V6.Rules) == 0 {
		return nil
	}
	out := make([]string, 0, len(d.V6.WANAddrs))
	for _, a := range d.V6.WANAddrs {
		if a.Is6() && !a.Is4In6() {
			out = append(out, a.String())
		}
	}
	return out
}
