package routeros

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Menus hairpin writes to.
const (
	pathAddrList  = "/ip/firewall/address-list"
	pathNAT       = "/ip/firewall/nat"
	pathMangle    = "/ip/firewall/mangle"
	pathAddress   = "/ip/address"
	pathCloud     = "/ip/cloud"
	pathScript    = "/system/script"
	pathScheduler = "/system/scheduler"
	// The menus whose scripts run on the WAN's own events, where the export hooks its updater.
	pathDHCPClient = "/ip/dhcp-client"
	pathPPPProfile = "/ppp/profile"
	pathListMember = "/interface/list/member"
)

// The interface lists of RouterOS's default configuration. A rule on the WAN or LAN interface matches the list
// instead when the interface is in it (useLists): the list also covers the VLANs, a second WAN or a bridge
// the user adds to it, as the default firewall's own rules do.
const (
	IfListWAN = "WAN"
	IfListLAN = "LAN"
)

// useLists rewrites in-interface=NAME to in-interface-list=LIST for the interfaces lists names (NAME -> LIST).
func useLists(items []item, lists map[string]string) []item {
	for _, it := range items {
		if l := lists[it.props["in-interface"]]; l != "" {
			delete(it.props, "in-interface")
			it.props["in-interface-list"] = l
		}
	}
	return items
}

// hasInInterface reports whether some item matches an interface by name.
func hasInInterface(items []item) bool {
	for _, it := range items {
		if it.props["in-interface"] != "" {
			return true
		}
	}
	return false
}

// Address lists hairpin fills. A user's own entries in these lists (without the marker) are left alone and,
// being in the list, take part in matching: that is how a user adds an address by hand.
const (
	ListWAN = "hairpin-wan"
	ListLAN = "hairpin-lan"
)

// Every item hairpin creates carries a comment that starts with MarkerPrefix and parses completely (see
// parseMarker). Only such items are ever changed or removed. The upper case is deliberate: RouterOS's `~`
// regex match is case-sensitive, so scripts in the style of the article (`find comment~"hairpin"`), which also
// match the user's own "front camera hairpin" rules, never select ours, and a human comment that merely
// mentions hairpin never parses as ours.
const MarkerPrefix = "HAIRPIN:v1:"

// Markers of the items that are not per forward.
const (
	markWAN     = MarkerPrefix + "wan"
	markLAN     = MarkerPrefix + "lan"
	markMasq    = MarkerPrefix + "masq"
	markMark    = MarkerPrefix + "mark"
	markUpdater = MarkerPrefix + "updater"
)

// markerRE is compiled at first use: a Linux router never reads a RouterOS comment.
var markerRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^HAIRPIN:v1:(?:wan|lan|masq|mark(?::(?:tcp|udp)(?::[0-9]{1,4})?)?|updater|accept|ddns|(dnat|dnat-out|dnat-wanif|dnat-lan):([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?):(tcp|udp)(?::([0-9]{1,5}))?|allow:([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?))$`)
})

// ListAllowPrefix names a forward's allow list: ListAllowPrefix + the forward's name.
const ListAllowPrefix = "hairpin-allow-"

// markAllow is the marker of the entries of a forward's allow list.
func markAllow(forward string) string { return MarkerPrefix + "allow:" + forward }

// allowList is one forward's allow list as RouterOS holds it: prefixes and hostnames (RouterOS v7 resolves a
// hostname in an address list itself, and adds its addresses as dynamic entries of the same list).
type allowList struct {
	forward, name, mark string
	entries             []string
}

// allowLists lists the address lists of the forwards that have an allow list, in the order of the guards.
func allowLists(d *plan.Desired) []allowList {
	sets := map[string]plan.AllowSet{}
	for _, s := range d.AllowSets {
		sets[s.ID] = s
	}
	var out []allowList
	for _, g := range d.Guards {
		if !g.Allow {
			continue
		}
		l := allowList{forward: g.Forward, name: ListAllowPrefix + g.Forward, mark: markAllow(g.Forward)}
		seen := map[string]bool{}
		for _, id := range g.Sets {
			s := sets[id]
			for _, p := range s.Prefixes {
				if a := canonAddr(p.String()); !seen[a] {
					seen[a] = true
					l.entries = append(l.entries, a)
				}
			}
			for _, h := range s.Hosts {
				if !seen[h] {
					seen[h] = true
					l.entries = append(l.entries, h)
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// allowListOf returns the allow list a forward's dst-nat rules name, "" for an open forward.
func allowListOf(d *plan.Desired, forward string) string {
	for _, g := range d.Guards {
		if g.Forward == forward && g.Allow {
			return ListAllowPrefix + forward
		}
	}
	return ""
}

// owned reports whether a comment is one of hairpin's markers.
func owned(comment string) bool { return markerRE().MatchString(comment) }

// forwardOf returns the forward name a dst-nat marker belongs to ("" for other markers).
func forwardOf(comment string) string {
	m := markerRE().FindStringSubmatch(comment)
	if m == nil {
		return ""
	}
	return m[2]
}

// item is one entry hairpin wants in a menu. key is its marker; props are exactly the properties it sets.
type item struct {
	key   string
	props Entry
}

// ConnMark is the connection mark hairpin's mangle rule gives hairpinned connections, which its masquerade
// then matches. /ip firewall nat has no connection-nat-state matcher in any RouterOS release (the
// /console/inspect schema of 7.9 to 7.24rc3 says so); /ip firewall mangle has.
const ConnMark = "hairpin-masq"

// natSide is one address family's part of the desired state as its firewall nat menu takes it: /ip firewall
// nat and /ipv6 firewall nat hold the same rules in the same order, and differ only in what the plan gives
// each family (IPv6 has no allow lists and no second NAT in front) and in the name of dst-nat's target.
type natSide struct {
	rules []plan.Rule
	allow func(forward string) string // the allow list a forward's rules name, "" for an open forward
	wanIf string                      // also match packets arriving on this interface for the router itself ("": not)
	masq  bool
	to    string // dst-nat's target: to-addresses in /ip firewall nat, to-address in /ipv6's
}

// natItems lists the NAT rules for d, dst-nat rules first (in the order of the forwards), then the masquerade.
func natItems(d *plan.Desired) []item {
	s := natSide{rules: d.Rules, allow: func(f string) string { return allowListOf(d, f) }, masq: d.Masquerade, to: "to-addresses"}
	if d.DoubleNAT {
		// Behind a second NAT the upstream box forwards to the router's WAN address, which may change (DHCP
		// from the upstream box) before the next poll updates the list. Matching the WAN interface keeps
		// internet callers working through that window; dst-address-type=local limits it to packets for the
		// router itself, so traffic passing through is never rewritten.
		s.wanIf = d.WANInterface
	}
	return s.items()
}

// items lists the side's NAT rules, dst-nat rules first (in the order of the forwards), then the masquerade.
func (s natSide) items() []item {
	var out []item
	for _, r := range s.rules {
		allow := s.allow(r.Name)
		if allow == "" {
			out = append(out, dnatItems(r, "dnat", s.to, Entry{"chain": "dstnat", "dst-address-list": ListWAN})...)
			continue
		}
		// An allow list restricts the internet, never the LAN: the LAN's connections (hairpin) take a rule of
		// their own, so that copying the source restriction into the one rule does not break hairpin.
		out = append(out, dnatItems(r, "dnat", s.to, Entry{"chain": "dstnat", "dst-address-list": ListWAN, "src-address-list": allow})...)
		out = append(out, dnatItems(r, "dnat-lan", s.to, Entry{"chain": "dstnat", "dst-address-list": ListWAN, "src-address-list": ListLAN})...)
	}
	// The router's own connections (a script's /tool fetch, a VPN endpoint) to the public address never pass
	// the dstnat chain, which only sees packets arriving on an interface: the output chain rewrites them.
	for _, r := range s.rules {
		out = append(out, dnatItems(r, "dnat-out", s.to, Entry{"chain": "output", "dst-address-list": ListWAN})...)
	}
	if s.wanIf != "" {
		for _, r := range s.rules {
			match := Entry{"chain": "dstnat", "in-interface": s.wanIf, "dst-address-type": "local"}
			if allow := s.allow(r.Name); allow != "" {
				match["src-address-list"] = allow
			}
			out = append(out, dnatItems(r, "dnat-wanif", s.to, match)...)
		}
	}
	if s.masq {
		// Only connections the mangle rule marked: a LAN client reaching a forward through the public address.
		// The server then answers the router, which hands the answer back from the public address the client
		// expects, instead of answering the client straight from its LAN address.
		out = append(out, item{key: markMasq, props: Entry{
			"chain": "srcnat", "action": "masquerade", "connection-mark": ConnMark, "disabled": "false",
		}})
	}
	return out
}

// maxPortsPerRule bounds the ports and ranges in one mark rule's dst-port, as Linux's multiport match (which
// RouterOS's firewall is built on) bounds them to 15.
const maxPortsPerRule = 15

// mangleItems lists the rules that mark hairpinned connections: from the LAN (list hairpin-lan) to the public
// address (list hairpin-wan) on a forward's protocol and port, not marked by anyone yet. They run in
// prerouting, on the destination before any dst-nat rewrites it, so a connection only a rule of the user's
// rewrote (a DNS-forcing dst-nat to a Pi-hole on another LAN subnet) is never marked, and the masquerade
// touches hairpin's connections alone. One rule per protocol holds the forwards' external ports (more rules
// past maxPortsPerRule); they go first in prerouting (placeFirst), so a rule of the user's that ends mangle
// processing (passthrough=no, accept, return: QoS marking is common) cannot keep them from marking. The
// router's own connections never pass prerouting and need no masquerade: the camera answers the router.
func mangleItems(d *plan.Desired) []item {
	if !d.Masquerade {
		return nil
	}
	return markItems(d.Rules, Entry{"src-address-list": ListLAN, "dst-address-list": ListWAN})
}

// markItems writes the mark rules for rules' ports, per protocol, with the match given.
func markItems(rules []plan.Rule, match Entry) []item {
	var out []item
	for _, proto := range []string{"tcp", "udp"} {
		var ports []string
		seen := map[string]bool{}
		for _, r := range rules {
			if p := r.Port.String(); r.Protocol == proto && !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
		for i := 0; i < len(ports); i += maxPortsPerRule {
			key := markMark + ":" + proto
			if i > 0 {
				key += ":" + strconv.Itoa(i/maxPortsPerRule+1)
			}
			props := Entry{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": ConnMark, "passthrough": "true",
				"connection-mark": "no-mark", "protocol": proto, "dst-port": strings.Join(ports[i:min(i+maxPortsPerRule, len(ports))], ","),
				"disabled": "false"}
			for k, v := range match {
				props[k] = v
			}
			out = append(out, item{key: key, props: props})
		}
	}
	return out
}

// dnatItems writes one forward's rule for one protocol, naming its target with the key to. RouterOS keeps the
// destination port when to-ports is absent, and maps a port range to one port, but (like Linux DNAT) a
// to-ports range is a pool, not a 1:1 map: a range that moves to other ports is written as one rule per port.
func dnatItems(r plan.Rule, kind, to string, match Entry) []item {
	mk := func(ext, in string, suffix string) item {
		p := Entry{"action": "dst-nat", "protocol": r.Protocol, "dst-port": ext, to: r.To.String(), "disabled": "false"}
		if in != "" {
			p["to-ports"] = in
		}
		for k, v := range match {
			p[k] = v
		}
		return item{key: MarkerPrefix + kind + ":" + r.Name + ":" + r.Protocol + suffix, props: p}
	}
	switch {
	case r.ToPort == r.Port:
		return []item{mk(r.Port.String(), "", "")}
	case r.ToPort.Len() == 1:
		return []item{mk(r.Port.String(), r.ToPort.String(), "")}
	}
	var out []item
	r.Expand(func(ext, in uint16) bool {
		e := strconv.Itoa(int(ext))
		out = append(out, mk(e, strconv.Itoa(int(in)), ":"+e))
		return true
	})
	return out
}

// listItems lists the address-list entries for a set of addresses or subnets.
func listItems(list, mark string, addrs []string) []item {
	out := make([]item, len(addrs))
	for i, a := range addrs {
		out[i] = item{key: mark, props: Entry{"list": list, "address": a, "disabled": "false"}}
	}
	return out
}

// canonAddr writes an address the way RouterOS shows it in an address list: a host without "/32" (or, in
// /ipv6 firewall address-list, "/128", whichever way the router shows it).
func canonAddr(s string) string {
	if strings.Contains(s, ":") {
		return strings.TrimSuffix(s, "/128")
	}
	return strings.TrimSuffix(s, "/32")
}
