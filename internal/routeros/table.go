package routeros

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// natProps and mangleProps are what hairpin reads of each firewall rule (.proplist): every setting a rule can
// carry (so a matcher someone added to one of hairpin's rules is seen, and a foreign rule's placement judged)
// but not the counters and state a big table is mostly made of. TestProplistCoversSchema keeps them equal to
// the schema's add parameters.
const (
	natProps = ".id,dynamic,action,address-list,address-list-timeout,chain,comment,connection-bytes,connection-limit," +
		"connection-mark,connection-rate,connection-type,content,disabled,dscp,dst-address,dst-address-list," +
		"dst-address-type,dst-limit,dst-port,fragment,hotspot,icmp-options,in-bridge-port,in-bridge-port-list," +
		"in-interface,in-interface-list,ingress-priority,ipsec-policy,ipv4-options,jump-target,layer7-protocol,limit," +
		"log,log-prefix,nth,out-bridge-port,out-bridge-port-list,out-interface,out-interface-list,packet-mark," +
		"packet-size,per-connection-classifier,port,priority,protocol,psd,random,randomise-ports,realm,routing-mark," +
		"same-not-by-dst,socks5-port,socks5-server,socksify-service,src-address,src-address-list,src-address-type," +
		"src-mac-address,src-port,tcp-mss,time,tls-host,to-addresses,to-ports,tos,ttl"
	mangleProps = ".id,dynamic,action,address-list,address-list-timeout,chain,comment,connection-bytes,connection-limit," +
		"connection-mark,connection-nat-state,connection-rate,connection-state,connection-type,content,disabled,dscp," +
		"dst-address,dst-address-list,dst-address-type,dst-limit,dst-port,fragment,hotspot,icmp-options," +
		"in-bridge-port,in-bridge-port-list,in-interface,in-interface-list,ingress-priority,ipsec-policy,ipv4-options," +
		"jump-target,layer7-protocol,limit,log,log-prefix,new-connection-mark,new-dscp,new-mss,new-packet-mark," +
		"new-priority,new-routing-mark,new-ttl,nth,out-bridge-port,out-bridge-port-list,out-interface," +
		"out-interface-list,p2p,packet-mark,packet-size,passthrough,per-connection-classifier,port,priority,protocol," +
		"psd,random,realm,route-dst,routing-mark,sniff-id,sniff-target,sniff-target-port,src-address,src-address-list," +
		"src-address-type,src-mac-address,src-port,tcp-flags,tcp-mss,time,tls-host,tos,ttl"
)

// natProps6 and mangleProps6 are the same for the /ipv6 firewall menus, whose parameters differ (to-address,
// no ipv4-options, headers and hop limits of their own).
const (
	natProps6 = ".id,dynamic,action,address-list,address-list-timeout,chain,comment,connection-bytes,connection-limit," +
		"connection-mark,connection-rate,connection-state,connection-type,content,disabled,dscp,dst-address," +
		"dst-address-list,dst-address-type,dst-limit,dst-port,headers,hop-limit,icmp-options,in-bridge-port," +
		"in-bridge-port-list,in-interface,in-interface-list,ingress-priority,ipsec-policy,jump-target,limit,log," +
		"log-prefix,nth,out-bridge-port,out-bridge-port-list,out-interface,out-interface-list,packet-mark," +
		"packet-size,per-connection-classifier,port,priority,protocol,random,routing-mark,src-address," +
		"src-address-list,src-address-type,src-mac-address,src-port,tcp-flags,tcp-mss,time,tls-host,to-address," +
		"to-ports,tos"
	mangleProps6 = ".id,dynamic,action,address-list,address-list-timeout,chain,comment,connection-bytes,connection-limit," +
		"connection-mark,connection-nat-state,connection-rate,connection-state,connection-type,content,disabled," +
		"dscp,dst-address,dst-address-list,dst-address-type,dst-limit,dst-port,dst-prefix,headers,hop-limit," +
		"icmp-options,in-bridge-port,in-bridge-port-list,in-interface,in-interface-list,ingress-priority," +
		"ipsec-policy,jump-target,limit,log,log-prefix,new-connection-mark,new-dscp,new-hop-limit,new-mss," +
		"new-packet-mark,new-priority,new-routing-mark,nth,out-bridge-port,out-bridge-port-list,out-interface," +
		"out-interface-list,packet-mark,packet-size,passthrough,per-connection-classifier,port,priority,protocol," +
		"random,routing-mark,sniff-id,sniff-target,sniff-target-port,src-address,src-address-list," +
		"src-address-type,src-mac-address,src-port,src-prefix,tcp-flags,tcp-mss,time,tls-host,tos"
)

// filterProps6 is the same for /ipv6 firewall filter, where hairpin keeps one accept rule.
const filterProps6 = ".id,dynamic,action,address-list,address-list-timeout,chain,comment,connection-bytes,connection-limit," +
	"connection-mark,connection-nat-state,connection-rate,connection-state,connection-type,content,disabled,dscp," +
	"dst-address,dst-address-list,dst-address-type,dst-limit,dst-port,headers,hop-limit,icmp-options,in-bridge-port," +
	"in-bridge-port-list,in-interface,in-interface-list,ingress-priority,ipsec-policy,jump-target,limit,log,log-prefix," +
	"nth,out-bridge-port,out-bridge-port-list,out-interface,out-interface-list,packet-mark,packet-size," +
	"per-connection-classifier,port,priority,protocol,random,reject-with,routing-mark,src-address,src-address-list," +
	"src-address-type,src-mac-address,src-port,tcp-flags,tcp-mss,time,tls-host,tos"

// table is hairpin's copy of one RouterOS menu, in the router's order. Every write updates it, so later
// decisions of the same reconcile (where to place the next rule) see the effect of earlier ones.
type table struct {
	path    string
	entries []Entry
}

// index is the position of the item with id, or -1. Not inlined, nor is Entry.ID: they are called at about 35
// places, and a copy of each (a map lookup, a generic search) grew the router build by ~3 KB.
//
//go:noinline
func (t *table) index(id string) int {
	return slices.IndexFunc(t.entries, func(e Entry) bool { return e.ID() == id })
}

// insert adds e before the item with id before, or at the end when before is "" (what RouterOS does with
// place-before).
func (t *table) insert(e Entry, before string) {
	if i := t.index(before); before != "" && i >= 0 {
		t.entries = slices.Insert(t.entries, i, e)
		return
	}
	t.entries = append(t.entries, e)
}

func (t *table) remove(id string) {
	if i := t.index(id); i >= 0 {
		t.entries = slices.Delete(t.entries, i, i+1)
	}
}

func (t *table) move(id, before string) {
	i := t.index(id)
	if i < 0 {
		return
	}
	e := t.entries[i]
	t.remove(id)
	t.insert(e, before)
}

func (t *table) update(e Entry) {
	if i := t.index(e.ID()); i >= 0 {
		t.entries[i] = e
	}
}

// ownedBy groups hairpin's items by marker, in table order.
func (t *table) ownedBy() map[string][]Entry {
	out := map[string][]Entry{}
	for _, e := range t.entries {
		if c := e["comment"]; owned(c) {
			out[c] = append(out[c], e)
		}
	}
	return out
}

// nonDefault reports whether property k of an existing item is a setting hairpin did not make: anything but
// the item's identity, RouterOS's read-only state, and properties at their default value. RouterOS shows
// firewall matchers only when they are set, so a matcher a user added to one of hairpin's rules shows up here.
func nonDefault(k, v string) bool {
	if v == "" || strings.HasPrefix(k, ".") {
		return false
	}
	switch k {
	case "comment", "bytes", "packets", "dynamic", "invalid", "disabled":
		return false
	case "log":
		return v != "false"
	}
	return true
}

// foreignSetting returns a setting have carries that want does not make ("" when there is none): such a rule
// matches other traffic than hairpin's, and PATCH cannot take a property away, so it is replaced.
func foreignSetting(have Entry, want item) string {
	keys := slices.Sorted(maps.Keys(have))
	for _, k := range keys {
		if _, ok := want.props[k]; !ok && nonDefault(k, have[k]) {
			return k
		}
	}
	return ""
}

// changes returns the properties of want that have differs in.
func changes(have Entry, want item) Entry {
	diff := Entry{}
	for k, v := range want.props {
		if have[k] != v {
			diff[k] = v
		}
	}
	return diff
}

// terminalNAT are the actions that end NAT processing for a packet: a foreign rule with one of them, earlier
// in the chain, takes the packet before hairpin's rule sees it. accept is left out on purpose: in a NAT chain
// it is how a user exempts traffic (VPN, IPsec) from NAT, and hairpin honours that. jump and return cannot be
// followed statically.
var terminalNAT = map[string]bool{"dst-nat": true, "netmap": true, "redirect": true, "src-nat": true,
	"masquerade": true, "same": true, "endpoint-independent-nat": true}

// shadows reports whether foreign rule f could take packets hairpin's rule ours wants: same chain, enabled,
// static, a NAT action, and no matcher both set that clearly disagrees. Unknown matchers (addresses, lists,
// marks) count as possibly matching.
func shadows(f, ours Entry) bool {
	if owned(f["comment"]) || f["chain"] != ours["chain"] || f["disabled"] == "true" || f["dynamic"] == "true" {
		return false
	}
	if !terminalNAT[f["action"]] {
		return false
	}
	for _, k := range []string{"protocol", "in-interface"} {
		a, b := f[k], ours[k]
		if a != "" && b != "" && !strings.HasPrefix(a, "!") && !strings.HasPrefix(b, "!") && a != b {
			return false
		}
	}
	if a, b := f["dst-port"], ours["dst-port"]; a != "" && b != "" && !portsOverlap(a, b) {
		return false
	}
	return true
}

// firstShadow returns the id of the first foreign rule that could shadow ours, or "".
func (t *table) firstShadow(ours Entry) string {
	for _, e := range t.entries {
		if shadows(e, ours) {
			return e.ID()
		}
	}
	return ""
}

// firstInChain returns the id of the first foreign rule in ours' chain (dynamic rules, which RouterOS keeps
// at the top, aside), or "": hairpin's mark rules go before all of them, since any foreign rule that ends
// mangle processing (passthrough=no, accept, return) would keep them from marking.
func (t *table) firstInChain(ours Entry) string {
	for _, e := range t.entries {
		if !owned(e["comment"]) && e["chain"] == ours["chain"] && e["dynamic"] != "true" {
			return e.ID()
		}
	}
	return ""
}

// finalDrop returns the id of the chain's last foreign rule when it drops or rejects (the default
// configuration's "drop everything else not coming from LAN"), or "": hairpin's accept goes right before it,
// below every rule of the user's that drops something more specific.
func (t *table) finalDrop(ours Entry) string {
	for i := len(t.entries) - 1; i >= 0; i-- {
		e := t.entries[i]
		if owned(e["comment"]) || e["chain"] != ours["chain"] || e["dynamic"] == "true" || e["disabled"] == "true" {
			continue
		}
		if e["action"] == "drop" || e["action"] == "reject" {
			return e.ID()
		}
		return ""
	}
	return ""
}

// portsOverlap compares RouterOS port lists ("80,443,8000-8010"). A list it cannot read, or a negated one,
// counts as overlapping.
func portsOverlap(a, b string) bool {
	ra, oka := parsePorts(a)
	rb, okb := parsePorts(b)
	if !oka || !okb {
		return true
	}
	for _, x := range ra {
		for _, y := range rb {
			if x[0] <= y[1] && y[0] <= x[1] {
				return true
			}
		}
	}
	return false
}

func parsePorts(s string) ([][2]int, bool) {
	if strings.HasPrefix(s, "!") {
		return nil, false
	}
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, [2]int{a, b})
	}
	return out, true
}
