package routeros

import (
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// The IPv6 menus. They hold items of their own: /ipv6 firewall lists, rules and addresses are separate from
// /ip's, and /ipv6 firewall nat names dst-nat's target to-address (singular), where /ip's is to-addresses.
const (
	pathAddrList6 = "/ipv6/firewall/address-list"
	pathNAT6      = "/ipv6/firewall/nat"
	pathMangle6   = "/ipv6/firewall/mangle"
	pathAddress6  = "/ipv6/address"
	pathFilter6   = "/ipv6/firewall/filter"
)

// markAccept is the marker of the /ipv6 firewall filter rule that lets internet callers through to IPv6
// forwards.
const markAccept = MarkerPrefix + "accept"

// natItems6 lists the /ipv6 firewall nat rules for d (nil: none): a dst-nat rule per forward and protocol for
// connections arriving for the router's global addresses (list hairpin-wan in /ipv6 firewall address-list),
// the same in the output chain for the router's own connections, and the masquerade of hairpinned
// connections. There is no allow list on IPv6 (the plan leaves guarded forwards off) and no second NAT in
// front of the router to match by interface.
func natItems6(d *plan.Desired, lanIf string) []item {
	if d.V6 == nil || len(d.V6.Rules) == 0 {
		return nil
	}
	return natSide{rules: d.V6.Rules, allow: func(string) string { return "" }, masq: d.Masquerade && lanIf != "", to: "to-address"}.items()
}

// mangleItems6 lists the rules that mark hairpinned IPv6 connections for the masquerade: arriving on the LAN
// interface for one of the router's global addresses on a forward's protocol and port, and not marked by
// anyone yet. They run first in prerouting, before dst-nat, where the destination is still the router's
// address. Matching the LAN interface rather than a list of LAN prefixes keeps the rules valid across prefix
// changes with nothing to update.
func mangleItems6(d *plan.Desired, lanIf string) []item {
	if d.V6 == nil || len(d.V6.Rules) == 0 || !d.Masquerade || lanIf == "" {
		return nil
	}
	return markItems(d.V6.Rules, Entry{"in-interface": lanIf, "dst-address-list": ListWAN})
}

// filterItems6 lists the /ipv6 firewall filter rule that accepts dst-natted connections arriving on the WAN.
// RouterOS's default IPv6 forward chain, unlike its IPv4 one, has no "not DSTNATed" exception: it ends with
// "drop everything else not coming from LAN", which would drop every internet caller of an IPv6 forward. The
// rule goes right before that final drop (finalDrop), so the user's more specific drops keep precedence.
func filterItems6(d *plan.Desired, wanIf string) []item {
	if d.V6 == nil || len(d.V6.Rules) == 0 || wanIf == "" {
		return nil
	}
	return []item{{key: markAccept, props: Entry{"chain": "forward", "action": "accept", "connection-nat-state": "dstnat",
		"in-interface": wanIf, "disabled": "false"}}}
}

// isIPv6 accepts the addresses of /ipv6's menus (an IPv4-mapped address is IPv4's).
func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
