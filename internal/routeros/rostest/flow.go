package rostest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Packet is the first packet of a new connection, for Evaluate. InInterface is where it arrives; "" means
// the router itself sends it (its source is then the router's address on the way to Dst).
type Packet struct {
	InInterface string
	Src, Dst    netip.Addr
	Protocol    string // tcp or udp
	SrcPort     uint16
	DstPort     uint16
}

// Verdict is what becomes of a Packet.
type Verdict struct {
	// Local: the packet ends at the router itself (no forward took it).
	Local bool
	// OutInterface is where it leaves; Src/Dst/SrcPort/DstPort are what the receiver sees.
	OutInterface     string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// DstNAT and SrcNAT say which rewrites happened; ConnMark is the connection's mark afterwards.
	DstNAT, SrcNAT bool
	// Dropped: a drop or reject rule of the filter's forward chain took the packet (the last of Rules).
	Dropped  bool
	ConnMark string
	// Rules lists the comments (or .ids) of the rules that acted, in order.
	Rules []string
}

// ReplyBypassesRouter reports the classic broken hairpin: the connection's destination was rewritten, but the
// receiver sees a source on its own subnet that is not the router, so it answers that host directly; the
// host expected the answer from the address it connected to and drops it.
func (v Verdict) ReplyBypassesRouter(r *Router) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !v.DstNAT || v.Local {
		return false
	}
	f := familyOf(v.Src)
	if r.isLocal(f, v.Src) {
		return false
	}
	out, _ := r.route(f, v.Src)
	return out == v.OutInterface
}

// SetInterfaceLists defines interface lists (/interface/list) for rules that match in-interface-list or
// out-interface-list, e.g. {"WAN": {"ether1"}, "LAN": {"bridge"}}.
func (r *Router) SetInterfaceLists(lists map[string][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ifLists = lists
}

// SetDefaultRoute names the interface of the default route (for packets to addresses on no connected subnet).
func (r *Router) SetDefaultRoute(iface string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.defaultIf = iface
}

// family is the menus a packet of one address family passes: /ip or /ipv6.
type family struct {
	nat, mangle, filter, addrList, address string
	// toAddr is dst-nat's and src-nat's target: to-addresses in /ip firewall nat, to-address in /ipv6's.
	toAddr string
}

var (
	family4 = family{NAT, Mangle, Filter, AddrList, Address, "to-addresses"}
	family6 = family{NAT6, Mangle6, Filter6, AddrList6, Address6, "to-address"}
)

func familyOf(a netip.Addr) family {
	if a.Is6() && !a.Is4In6() {
		return family6
	}
	return family4
}

// Evaluate runs a connection's first packet through the rules the router holds, in RouterOS's packet flow
// (the manual's "Packet Flow in RouterOS" page): a packet arriving on an interface passes mangle prerouting
// and nat dstnat, then routing, mangle forward, filter forward, mangle postrouting and nat srcnat; one the
// router sends passes mangle output and nat output, then routing, mangle postrouting and nat srcnat. NAT is
// decided on this first packet, as on a router. An IPv6 packet passes the /ipv6 menus (nat, mangle, filter,
// address-list, address) and nothing of /ip, as on a router. Only what hairpin's tests need is modelled:
// matchers on addresses, address lists, interfaces and interface lists, protocol and ports, address type
// local, connection-nat-state, connection-mark and connection-state (the packet is new); actions accept,
// drop, reject, dst-nat, masquerade, src-nat, mark-connection, mark-packet and mark-routing (only their
// passthrough), passthrough and log. The filter's input chain (packets for the router itself) is not run. A
// rule with anything else, or with a property its menu does not have in the router's release, is an error
// rather than a guess.
func (r *Router) Evaluate(p Packet) (Verdict, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := familyOf(p.Dst)
	// Every rule must be one the router's release can hold, whether or not this packet reaches it.
	for _, table := range []string{f.mangle, f.nat, f.filter} {
		for _, e := range r.menus[table].items {
			for k := range e {
				if !r.schema.HasParam(schemaName(table), "add", k) && !readOnly[k] {
					return Verdict{}, fmt.Errorf("rule %s (%s) in %s: RouterOS %s has no %s there", e[".id"], e["comment"], table, r.schema.Version, k)
				}
			}
		}
	}
	ev := &evaluation{r: r, p: p, f: f}
	if p.InInterface == "" && !p.Src.IsValid() {
		out, _ := r.route(f, p.Dst)
		ev.p.Src = r.addressOn(f, out)
		if r.isLocal(f, p.Dst) {
			ev.p.Src = p.Dst
		}
	}
	if err := ev.run(); err != nil {
		return Verdict{}, err
	}
	ev.v.Src, ev.v.Dst, ev.v.SrcPort, ev.v.DstPort = ev.p.Src, ev.p.Dst, ev.p.SrcPort, ev.p.DstPort
	ev.v.ConnMark = ev.mark
	return ev.v, nil
}

type evaluation struct {
	r      *Router
	f      family
	p      Packet
	in     string
	out    string
	mark   string
	dstnat bool
	srcnat bool
	v      Verdict
}

func (ev *evaluation) run() error {
	ev.in = ev.p.InInterface
	local := ev.in == ""
	pre, nat := "prerouting", "dstnat"
	if local {
		pre, nat = "output", "output"
	}
	if err := ev.chain(ev.f.mangle, pre); err != nil {
		return err
	}
	if err := ev.chain(ev.f.nat, nat); err != nil {
		return err
	}
	if ev.r.isLocal(ev.f, ev.p.Dst) {
		ev.v.Local = true
		return nil
	}
	out, ok := ev.r.route(ev.f, ev.p.Dst)
	if !ok {
		return fmt.Errorf("no route to %s (SetDefaultRoute)", ev.p.Dst)
	}
	ev.out, ev.v.OutInterface = out, out
	if !local {
		if err := ev.chain(ev.f.mangle, "forward"); err != nil {
			return err
		}
		if err := ev.chain(ev.f.filter, "forward"); err != nil || ev.v.Dropped {
			return err
		}
	}
	if err := ev.chain(ev.f.mangle, "postrouting"); err != nil {
		return err
	}
	return ev.chain(ev.f.nat, "srcnat")
}

// chain runs one chain of one table; it ends at the first rule whose action ends the chain.
func (ev *evaluation) chain(table, chain string) error {
	for _, e := range ev.r.menus[table].items {
		if e["chain"] != chain || e["disabled"] == "true" {
			continue
		}
		ok, err := ev.matches(e)
		if err != nil {
			return fmt.Errorf("rule %s (%s) in %s: %w", e[".id"], e["comment"], table, err)
		}
		if !ok {
			continue
		}
		stop, err := ev.act(e)
		if err != nil {
			return fmt.Errorf("rule %s (%s) in %s: %w", e[".id"], e["comment"], table, err)
		}
		name := e["comment"]
		if name == "" {
			name = e[".id"]
		}
		ev.v.Rules = append(ev.v.Rules, name)
		if stop {
			return nil
		}
	}
	return nil
}

var readOnly = map[string]bool{".id": true, "dynamic": true, "invalid": true, "bytes": true, "packets": true}

// settings are rule properties that are not matchers.
var settings = map[string]bool{".id": true, "chain": true, "action": true, "comment": true, "disabled": true,
	"dynamic": true, "invalid": true, "bytes": true, "packets": true, "log": true, "log-prefix": true,
	"to-addresses": true, "to-address": true, "to-ports": true, "new-connection-mark": true, "passthrough": true,
	"new-packet-mark": true, "new-routing-mark": true, "reject-with": true}

func (ev *evaluation) matches(e Entry) (bool, error) {
	for k, raw := range e {
		if settings[k] {
			continue
		}
		neg := strings.HasPrefix(raw, "!")
		v := strings.TrimPrefix(raw, "!")
		var ok bool
		switch k {
		case "src-address":
			ok = inAddrSpec(ev.p.Src, v)
		case "dst-address":
			ok = inAddrSpec(ev.p.Dst, v)
		case "src-address-list":
			ok = ev.r.inList(ev.f, v, ev.p.Src)
		case "dst-address-list":
			ok = ev.r.inList(ev.f, v, ev.p.Dst)
		case "protocol":
			ok = v == ev.p.Protocol
		case "src-port":
			ok = inPorts(ev.p.SrcPort, v)
		case "dst-port":
			ok = inPorts(ev.p.DstPort, v)
		case "in-interface":
			ok = ev.in != "" && v == ev.in
		case "out-interface":
			ok = ev.out != "" && v == ev.out
		case "in-interface-list":
			ok = ev.in != "" && ev.r.inIfList(v, ev.in)
		case "out-interface-list":
			ok = ev.out != "" && ev.r.inIfList(v, ev.out)
		case "dst-address-type", "src-address-type":
			a := ev.p.Dst
			if k == "src-address-type" {
				a = ev.p.Src
			}
			switch v {
			case "local":
				ok = ev.r.isLocal(ev.f, a)
			case "unicast":
				ok = true
			default:
				return false, fmt.Errorf("%s=%s is not modelled", k, v)
			}
		case "connection-nat-state":
			for _, s := range strings.Split(v, ",") {
				ok = ok || s == "dstnat" && ev.dstnat || s == "srcnat" && ev.srcnat
			}
		case "connection-mark":
			ok = v == "no-mark" && ev.mark == "" || v != "no-mark" && v == ev.mark
		case "connection-state":
			ok = slices.Contains(strings.Split(v, ","), "new")
		default:
			return false, fmt.Errorf("matcher %s is not modelled", k)
		}
		if ok == neg {
			return false, nil
		}
	}
	return true, nil
}

// act applies a matching rule's action and reports whether the chain ends here.
func (ev *evaluation) act(e Entry) (bool, error) {
	switch e["action"] {
	case "accept":
		return true, nil
	case "drop", "reject":
		ev.v.Dropped = true
		return true, nil
	case "passthrough", "log":
		return false, nil
	case "mark-packet", "mark-routing":
		// Packet and routing marks decide nothing the evaluator models; passthrough=no still ends the chain.
		return e["passthrough"] == "false", nil
	case "mark-connection":
		m := e["new-connection-mark"]
		if m == "no-mark" {
			m = ""
		}
		ev.mark = m
		return e["passthrough"] == "false", nil
	case "dst-nat":
		if ev.dstnat {
			return true, nil
		}
		a, err := netip.ParseAddr(e[ev.f.toAddr])
		if err != nil || familyOf(a) != ev.f {
			return false, fmt.Errorf("%s %q is not one address of the packet's family", ev.f.toAddr, e[ev.f.toAddr])
		}
		ev.p.Dst = a
		if tp := e["to-ports"]; tp != "" {
			n, err := strconv.ParseUint(tp, 10, 16)
			if err != nil {
				return false, fmt.Errorf("to-ports %q is not one port", tp)
			}
			ev.p.DstPort = uint16(n)
		}
		ev.dstnat, ev.v.DstNAT = true, true
		return true, nil
	case "masquerade", "src-nat":
		if ev.srcnat {
			return true, nil
		}
		a := ev.r.addressOn(ev.f, ev.out)
		if e["action"] == "src-nat" {
			var err error
			if a, err = netip.ParseAddr(e[ev.f.toAddr]); err != nil {
				return false, fmt.Errorf("%s %q is not one address", ev.f.toAddr, e[ev.f.toAddr])
			}
		}
		ev.p.Src = a
		ev.srcnat, ev.v.SrcNAT = true, true
		return true, nil
	}
	return false, fmt.Errorf("action %s is not modelled", e["action"])
}

// inIfList reports whether iface is in the interface list: set by SetInterfaceLists, or an enabled member in
// /interface/list/member.
func (r *Router) inIfList(list, iface string) bool {
	if slices.Contains(r.ifLists[list], iface) {
		return true
	}
	return slices.ContainsFunc(r.menus[ListMember].items, func(e Entry) bool {
		return e["list"] == list && e["interface"] == iface && e["disabled"] != "true"
	})
}

type ifAddr struct {
	iface string
	p     netip.Prefix
}

// ifAddrs are the router's enabled addresses of one family.
func (r *Router) ifAddrs(f family) []ifAddr {
	var out []ifAddr
	for _, e := range r.menus[f.address].items {
		if e["disabled"] == "true" {
			continue
		}
		if p, err := netip.ParsePrefix(e["address"]); err == nil {
			out = append(out, ifAddr{e["interface"], p})
		}
	}
	return out
}

func (r *Router) isLocal(f family, a netip.Addr) bool {
	return slices.ContainsFunc(r.ifAddrs(f), func(x ifAddr) bool { return x.p.Addr() == a })
}

// route returns the interface of the connected subnet holding a, else the default route's.
func (r *Router) route(f family, a netip.Addr) (string, bool) {
	best, bits := "", -1
	for _, x := range r.ifAddrs(f) {
		if x.p.Masked().Contains(a) && x.p.Bits() > bits {
			best, bits = x.iface, x.p.Bits()
		}
	}
	if bits >= 0 {
		return best, true
	}
	return r.defaultIf, r.defaultIf != ""
}

// addressOn returns the first address of an interface (what masquerade picks); for IPv6 the first that is
// not link-local, as a global destination needs.
func (r *Router) addressOn(f family, iface string) netip.Addr {
	for _, x := range r.ifAddrs(f) {
		if x.iface == iface && !x.p.Addr().IsLinkLocalUnicast() {
			return x.p.Addr()
		}
	}
	return netip.Addr{}
}

// inList reports whether an enabled entry of the address list holds a (an address, a prefix or a range).
func (r *Router) inList(f family, list string, a netip.Addr) bool {
	for _, e := range r.menus[f.addrList].items {
		if e["list"] == list && e["disabled"] != "true" && inAddrSpec(a, e["address"]) {
			return true
		}
	}
	return false
}

// inAddrSpec reports whether a is the address, in the prefix or in the range "a-b" spec names.
func inAddrSpec(a netip.Addr, spec string) bool {
	if lo, hi, ok := strings.Cut(spec, "-"); ok {
		l, err1 := netip.ParseAddr(lo)
		h, err2 := netip.ParseAddr(hi)
		return err1 == nil && err2 == nil && l.Compare(a) <= 0 && a.Compare(h) <= 0
	}
	if p, err := netip.ParsePrefix(spec); err == nil {
		return p.Masked().Contains(a)
	}
	b, err := netip.ParseAddr(spec)
	return err == nil && a == b
}

// inPorts reports whether port is in a RouterOS port list ("80,443,8000-8010").
func inPorts(port uint16, list string) bool {
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && l <= int(port) && int(port) <= h {
			return true
		}
	}
	return false
}
