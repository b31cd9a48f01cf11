package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// Desired6 is the IPv6 side of the plan. IPv6 has no NAT in front of the router and needs none towards the
// LAN: forwards answer on the router's own global addresses, and DNAT66 sends them to the target's IPv6
// address. The hairpin masquerade is scoped exactly as on IPv4.
type Desired6 struct {
	// WANAddrs are the addresses forwards answer on: the global addresses on the WAN interface or, when it
	// has none (an ISP that routes a delegated prefix to a link-local WAN), the router's global addresses on
	// the LAN interface.
	WANAddrs []netip.Addr
	// LANNets are the LAN's prefixes, global and ULA, masked, sorted and disjoint.
	LANNets []netip.Prefix
	// Rules are the forwards that have an IPv6 target now, To resolved to a full address.
	Rules []Rule
	// Off lists the forwards that are not forwarded on IPv6, and why, in config order.
	Off []Off6
}

// Off6 is a forward that is not forwarded on IPv6.
type Off6 struct {
	Name   string
	Reason string
}

// Reasons a forward is off on IPv6.
const (
	OffNoTo6     = "no to6 in the config"
	OffNoPrefix  = "no IPv6 prefix of /64 or shorter on the LAN interface for its interface identifier"
	OffGuarded   = "it has an allow list or a limit, which hold IPv4 sources only"
	OffNoAddress = "the router has no global IPv6 address"
	// OffIIDRouterOS: following the LAN prefix would take a script on the router; RouterOS forwards a literal
	// to6 address only.
	OffIIDRouterOS = "an interface identifier needs backend linux; backend routeros forwards a literal to6 address only"
)

// build6 computes the IPv6 side; nil when no forward names an IPv6 target.
func build6(cfg *config.Config, obs Observed, opt Options) (*Desired6, []string) {
	any6 := false
	for _, f := range cfg.Forwards {
		any6 = any6 || f.To6.IsValid()
	}
	if !any6 {
		return nil, nil
	}
	d := &Desired6{WANAddrs: WANSet6(obs.WAN6, obs.LAN6)}
	for _, p := range obs.LAN6 {
		if p.Addr().Is6() && !p.Addr().Is4In6() && !p.Addr().IsLinkLocalUnicast() {
			d.LANNets = append(d.LANNets, p.Masked())
		}
	}
	sortPrefixes(d.LANNets)
	d.LANNets = dropCovered(d.LANNets)
	prefix, hasPrefix := IIDPrefix(obs.LAN6)

	var warns []string
	for _, f := range cfg.Forwards {
		switch {
		case !f.To6.IsValid():
			d.Off = append(d.Off, Off6{f.Name, OffNoTo6})
			continue
		case f.AllowOn || f.Limit != nil:
			// The config refuses this; a plan built some other way must still not open a guarded forward.
			d.Off = append(d.Off, Off6{f.Name, OffGuarded})
			continue
		case f.To6.IID && opt.NoIIDTargets:
			d.Off = append(d.Off, Off6{f.Name, OffIIDRouterOS})
			continue
		case f.To6.IID && !hasPrefix:
			d.Off = append(d.Off, Off6{f.Name, OffNoPrefix})
			continue
		}
		to := f.To6.Combine(prefix)
		for _, proto := range []config.Protocol{config.TCP, config.UDP} {
			if f.Protocol.Has(proto) {
				d.Rules = append(d.Rules, Rule{Name: f.Name, Protocol: string(proto), Port: f.Port, To: to, ToPort: f.To6.Port})
			}
		}
	}
	if len(d.WANAddrs) == 0 {
		warns = append(warns, fmt.Sprintf("no global IPv6 address on WAN interface %s or LAN interface %s; IPv6 forwards start working when one appears", cfg.WAN.Interface, cfg.LAN.Interface))
	}
	for _, o := range d.Off {
		if o.Reason == OffNoPrefix {
			warns = append(warns, fmt.Sprintf("forward %q: not forwarded on IPv6: %s %s", o.Name, o.Reason, cfg.LAN.Interface))
		}
	}
	return d, warns
}

// WANSet6 is the set of IPv6 addresses forwards answer on: the global addresses of the WAN interface, or
// when it has none, the router's global addresses on the LAN (with prefix delegation the WAN link often has
// only a link-local address, and the router is reached on an address of the delegated prefix). ULA and
// link-local addresses are never in it: nobody on the internet can reach them.
func WANSet6(wan []netip.Addr, lan []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, a := range wan {
		if config.IsGlobal6(a) {
			out = append(out, a.WithZone(""))
		}
	}
	if len(out) == 0 {
		for _, p := range lan {
			if config.IsGlobal6(p.Addr()) {
				out = append(out, p.Addr().WithZone(""))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return slices.Compact(out)
}

// IIDPrefix picks the LAN prefix that interface identifiers combine with: the lowest global prefix of /64
// or shorter, else the lowest ULA prefix. A global prefix comes first because it is what renumbers, and a
// target on it is reachable from the router's global address without surprises; a LAN with only a ULA
// prefix still works.
func IIDPrefix(lan []netip.Prefix) (netip.Prefix, bool) {
	var global, local []netip.Prefix
	for _, p := range lan {
		if p.Bits() > 64 || !p.Addr().Is6() || p.Addr().Is4In6() {
			continue
		}
		switch {
		case config.IsGlobal6(p.Addr()):
			global = append(global, p.Masked())
		case config.IsULA(p.Addr()):
			local = append(local, p.Masked())
		}
	}
	for _, ps := range [][]netip.Prefix{global, local} {
		if len(ps) > 0 {
			sortPrefixes(ps)
			return ps[0], true
		}
	}
	return netip.Prefix{}, false
}

// Target6 says where forward f goes on IPv6 under d, or why it does not.
func (d *Desired6) Target6(name string) (Rule, string) {
	if d == nil {
		return Rule{}, OffNoTo6
	}
	for _, o := range d.Off {
		if o.Name == name {
			return Rule{}, o.Reason
		}
	}
	for _, r := range d.Rules {
		if r.Name == name {
			if len(d.WANAddrs) == 0 {
				return r, OffNoAddress
			}
			return r, ""
		}
	}
	return Rule{}, OffNoTo6
}

// SameRules6 reports whether a and b install the same IPv6 forwards and LAN prefixes, so that only the
// answering addresses differ: then an update of that set alone installs b.
func SameRules6(a, b *Desired6) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.Rules, b.Rules) && slices.Equal(a.LANNets, b.LANNets)
}

// Equal6 reports whether a and b install exactly the same IPv6 state.
func Equal6(a, b *Desired6) bool {
	if a == nil || b == nil {
		return a == b
	}
	return SameRules6(a, b) && slices.Equal(a.WANAddrs, b.WANAddrs) && slices.Equal(a.Off, b.Off)
}
