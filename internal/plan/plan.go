// Package plan turns a config and what was observed on the router (its WAN addresses, LAN subnets, the public
// address) into the desired forwarding state. It is pure: no I/O, so every decision is unit-tested, and every
// backend (nftables, RouterOS) implements the same plan.
package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
)

// Observed is what the router's interfaces look like now: the one observation type of every backend, read once
// by the commands and delivered on each change to the daemon.
type Observed struct {
	// WANExists is false while the WAN interface is missing (a PPP link that is down); the rules stay.
	WANExists bool
	// WANAddrs are the IPv4 addresses on the WAN interface.
	WANAddrs []netip.Addr
	// LANNets are the subnets of the LAN interface's addresses.
	LANNets []netip.Prefix
	// LANAddrs are the IPv4 addresses on the LAN interface, sorted: an HA pair's master holds the virtual one.
	LANAddrs []netip.Addr
	// Public is the address the internet sees, learned from public_ip sources (zero when unknown).
	Public netip.Addr
	// HostAddrs are the current IPv4 addresses of the hostnames in allow lists.
	HostAddrs map[string][]netip.Addr
	// WAN6 are the usable IPv6 addresses on the WAN interface (neither tentative nor deprecated), sorted.
	WAN6 []netip.Addr
	// LAN6 are the router's usable IPv6 addresses on the LAN interface with their prefix length, unmasked
	// (2001:db8:1:2::1/64), sorted: both the LAN's prefixes and the router's own addresses on them.
	LAN6 []netip.Prefix
}

// Equal reports whether two observations are the same: the daemon and the pollers pass on only changes.
func (o Observed) Equal(p Observed) bool {
	return o.WANExists == p.WANExists && slices.Equal(o.WANAddrs, p.WANAddrs) && slices.Equal(o.LANNets, p.LANNets) && slices.Equal(o.LANAddrs, p.LANAddrs) && o.Public == p.Public &&
		slices.Equal(o.WAN6, p.WAN6) && slices.Equal(o.LAN6, p.LAN6)
}

// Rule is one forward for one protocol.
type Rule struct {
	Name     string
	Protocol string // "tcp" or "udp"
	Port     config.PortRange
	To       netip.Addr
	ToPort   config.PortRange
}

// Desired is the complete state a backend must install.
type Desired struct {
	WANInterface string
	LANInterface string
	// WANAddrs are the addresses forwards answer on: the WAN interface's own and, behind a second NAT, the
	// public address.
	WANAddrs []netip.Addr
	LANNets  []netip.Prefix
	Rules    []Rule
	// DoubleNAT is the verdict: the router is behind another NAT.
	DoubleNAT bool
	// Masquerade turns on hairpin masquerade of LAN-to-LAN flows that were DNATed. Off only for the negative
	// control in the lab and tests.
	Masquerade bool
	// SNATTo, when valid, is the address hairpinned flows are SNATed to instead of being masqueraded to the
	// router's own: an HA pair's LAN virtual address, which outlives the router (ha.go).
	SNATTo netip.Addr
	// AllowSets are the allow lists the Guards name, sorted by ID.
	AllowSets []AllowSet
	// Guards restrict who reaches a forward from the internet; forwards without one are open to all.
	Guards []Guard
	// V6 is the IPv6 side (ipv6.go); nil when no forward has an IPv6 target, and then nothing IPv6 is
	// installed at all.
	V6 *Desired6
}

// AllowSet is one allow list with its hostnames' current addresses.
type AllowSet struct {
	ID string
	// Prefixes are sorted and disjoint: the config's own slice, which nothing writes to once loaded (the nft
	// backend knows a list it has seen by its slice).
	Prefixes []netip.Prefix
	Hosts    []string
	// HostAddrs are the addresses Hosts resolve to now, sorted and unique; they change without a re-apply.
	HostAddrs []netip.Addr
}

// Guard holds what restricts one forward. It applies to traffic from the internet only: the LAN and the
// router itself always reach the forward.
type Guard struct {
	Forward string
	// Allow turns the allowlist on: only sources in the sets named by Sets pass (none, when Sets is empty).
	Allow bool
	Sets  []string
	// Limit, when set, caps new connections per source.
	Limit *config.Limit
}

// Options are knobs that are not in the config file.
type Options struct {
	NoMasquerade bool
	// NoIIDTargets is set by a backend that cannot follow the LAN prefix (RouterOS): a to6 named by its
	// interface identifier stays IPv4 only there (OffIIDRouterOS).
	NoIIDTargets bool
}

// Build computes the desired state. It returns warnings for things that work but surprise users.
func Build(cfg *config.Config, obs Observed, opt Options) (*Desired, []string) {
	d := &Desired{
		WANInterface: cfg.WAN.Interface,
		LANInterface: cfg.LAN.Interface,
		Masquerade:   !opt.NoMasquerade,
	}
	d.LANNets = slices.Clone(cfg.LAN.Subnets)
	if len(d.LANNets) == 0 {
		for _, p := range obs.LANNets {
			// The backends hold IPv4 sets only; one IPv6 prefix would make the whole transaction fail.
			if p.Addr().Is4() {
				d.LANNets = append(d.LANNets, p.Masked())
			}
		}
	}
	sortPrefixes(d.LANNets)
	d.LANNets = dropCovered(d.LANNets)

	d.DoubleNAT = IsDoubleNAT(cfg.WAN.DoubleNAT, obs.WANAddrs)
	d.WANAddrs = WANSet(obs.WANAddrs, obs.Public, d.DoubleNAT)
	d.haPair(cfg)

	var warns []string
	if len(cfg.Forwards) > 0 {
		d.Rules = make([]Rule, 0, len(cfg.Forwards)) // one each, two for a forward of both protocols
	}
	for _, f := range cfg.Forwards {
		for _, proto := range []config.Protocol{config.TCP, config.UDP} {
			if f.Protocol.Has(proto) {
				d.Rules = append(d.Rules, Rule{Name: f.Name, Protocol: string(proto), Port: f.Port, To: f.To, ToPort: f.ToPort})
			}
		}
		if len(cfg.LAN.Subnets) == 0 && len(d.LANNets) > 0 && !inAny(f.To, d.LANNets) {
			warns = append(warns, fmt.Sprintf("forward %q: %s is outside the LAN subnets %v; it will work from the internet only", f.Name, f.To, d.LANNets))
		}
	}
	d.AllowSets, d.Guards = guards(cfg, obs.HostAddrs)
	var warns6 []string
	d.V6, warns6 = build6(cfg, obs, opt)
	warns = append(warns, warns6...)
	if len(d.WANAddrs) == 0 {
		warns = append(warns, fmt.Sprintf("WAN interface %s has no IPv4 address yet; forwards start working when it gets one", cfg.WAN.Interface))
	}
	if len(d.LANNets) == 0 {
		warns = append(warns, fmt.Sprintf("LAN interface %s has no IPv4 subnet; hairpin from the LAN is off until it has one", cfg.LAN.Interface))
	}
	return d, warns
}

// WANSet is the set of addresses forwards answer on. Behind a second NAT the public address is added: LAN
// clients use it and the router hairpins them itself.
func WANSet(ifaceAddrs []netip.Addr, public netip.Addr, doubleNAT bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range ifaceAddrs {
		if a = a.Unmap(); a.Is4() {
			out = append(out, a)
		}
	}
	if public = public.Unmap(); doubleNAT && public.Is4() {
		out = append(out, public)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return slices.Compact(out)
}

// IsDoubleNAT applies the double_nat setting: in auto mode the router is behind another NAT when none of its
// WAN addresses is publicly routable (RFC 1918 or CGNAT).
func IsDoubleNAT(mode config.DoubleNAT, wanAddrs []netip.Addr) bool {
	switch mode {
	case config.DoubleNATOn:
		return true
	case config.DoubleNATOff:
		return false
	}
	// Only IPv4 is NATed: a global IPv6 address on the WAN says nothing about a second IPv4 NAT.
	seen := false
	for _, a := range wanAddrs {
		if a = a.Unmap(); !a.Is4() {
			continue
		}
		if !ipclass.BehindNAT(a) {
			return false
		}
		seen = true
	}
	return seen
}

// Expand lists every external port of a rule with its internal address and port, mapping a range 1:1 (or
// every port to one port when the internal side is a single port).
func (r Rule) Expand(yield func(ext, internal uint16) bool) {
	for i := 0; i < r.Port.Len(); i++ {
		in := r.ToPort.First
		if r.ToPort.Len() > 1 {
			in += uint16(i)
		}
		if !yield(r.Port.First+uint16(i), in) {
			return
		}
	}
}

func sortPrefixes(p []netip.Prefix) {
	sort.Slice(p, func(i, j int) bool {
		if c := p[i].Addr().Compare(p[j].Addr()); c != 0 {
			return c < 0
		}
		return p[i].Bits() < p[j].Bits()
	})
}

// dropCovered removes from sorted prefixes every one that lies inside another (duplicates included): an
// nftables interval set rejects overlapping elements, so 10.0.0.0/8 and 10.1.0.0/16 on one LAN interface would
// otherwise fail the whole transaction. Sorted by address and then by length, a covering prefix comes before
// what it covers, and the kept prefixes are disjoint, so comparing with the last kept one is enough.
func dropCovered(p []netip.Prefix) []netip.Prefix {
	out := p[:0]
	for _, q := range p {
		if n := len(out); n > 0 && out[n-1].Bits() <= q.Bits() && out[n-1].Contains(q.Addr()) {
			continue
		}
		out = append(out, q)
	}
	return out
}

func inAny(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func guards(cfg *config.Config, hostAddrs map[string][]netip.Addr) ([]AllowSet, []Guard) {
	var gs []Guard
	for _, f := range cfg.Forwards {
		if !f.AllowOn && f.Limit == nil {
			continue
		}
		g := Guard{Forward: f.Name, Allow: f.AllowOn, Sets: slices.Clone(f.Allow)}
		if f.Limit != nil {
			l := *f.Limit
			g.Limit = &l
		}
		gs = append(gs, g)
	}
	var sets []AllowSet
	for _, s := range cfg.AllowSets {
		sets = append(sets, AllowSet{ID: s.ID, Prefixes: s.Prefixes, Hosts: slices.Clone(s.Hosts), HostAddrs: HostSetAddrs(s.Hosts, hostAddrs)})
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].ID < sets[j].ID })
	return sets, gs
}

// HostSetAddrs is the union of the addresses of hosts: sorted, unique, IPv4 only.
func HostSetAddrs(hosts []string, hostAddrs map[string][]netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, h := range hosts {
		for _, a := range hostAddrs[h] {
			if a = a.Unmap(); a.Is4() {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return slices.Compact(out)
}

// SameGuards reports whether a and b restrict forwards the same way, hostnames' addresses aside: when they
// do, a change of those addresses is installed by updating the host sets alone.
func SameGuards(a, b *Desired) bool {
	return SameGuardsExceptPrefixes(a, b) && slices.EqualFunc(a.AllowSets, b.AllowSets, func(x, y AllowSet) bool {
		return slices.Equal(x.Prefixes, y.Prefixes)
	})
}

// SameGuardsExceptPrefixes is SameGuards that also lets the prefixes of an allow list change, as long as the
// list has some before and after: the rules stay the same and only the elements of the list's set change
// (ChangedPrefixSets).
func SameGuardsExceptPrefixes(a, b *Desired) bool {
	return slices.EqualFunc(a.Guards, b.Guards, func(x, y Guard) bool {
		return x.Forward == y.Forward && x.Allow == y.Allow && slices.Equal(x.Sets, y.Sets) &&
			(x.Limit == nil) == (y.Limit == nil) && (x.Limit == nil || *x.Limit == *y.Limit)
	}) && slices.EqualFunc(a.AllowSets, b.AllowSets, func(x, y AllowSet) bool {
		return x.ID == y.ID && (len(x.Prefixes) == 0) == (len(y.Prefixes) == 0) && slices.Equal(x.Hosts, y.Hosts)
	})
}

// PrefixChange is an allow list whose prefixes changed: From is what is installed, To what is wanted (both
// sorted, disjoint and not empty).
type PrefixChange struct {
	ID       string
	From, To []netip.Prefix
}

// ChangedPrefixSets lists the allow lists of want whose prefixes differ from have's; both must be
// SameGuardsExceptPrefixes.
func ChangedPrefixSets(have, want *Desired) []PrefixChange {
	var out []PrefixChange
	for i, s := range want.AllowSets {
		if from := have.AllowSets[i].Prefixes; !slices.Equal(s.Prefixes, from) {
			out = append(out, PrefixChange{ID: s.ID, From: from, To: s.Prefixes})
		}
	}
	return out
}

// DiffPrefixes returns the prefixes of from that to lacks and those of to that from lacks; both sorted as
// AllowSet.Prefixes are.
func DiffPrefixes(from, to []netip.Prefix) (removed, added []netip.Prefix) {
	// A reload's change is usually a few prefixes of a long list: the equal head and tail are skipped with ==,
	// not ordered one by one.
	n := min(len(from), len(to))
	head := 0
	for head < n && from[head] == to[head] {
		head++
	}
	tail := 0
	for tail < n-head && from[len(from)-1-tail] == to[len(to)-1-tail] {
		tail++
	}
	from, to = from[head:len(from)-tail], to[head:len(to)-tail]
	i, j := 0, 0
	for i < len(from) || j < len(to) {
		switch c := comparePrefixes(from, to, i, j); {
		case c < 0:
			removed = append(removed, from[i])
			i++
		case c > 0:
			added = append(added, to[j])
			j++
		default:
			i++
			j++
		}
	}
	return removed, added
}

// comparePrefixes orders from[i] against to[j] as sortPrefixes does, an exhausted side last.
func comparePrefixes(from, to []netip.Prefix, i, j int) int {
	switch {
	case j == len(to):
		return -1
	case i == len(from):
		return 1
	}
	if c := from[i].Addr().Compare(to[j].Addr()); c != 0 {
		return c
	}
	return from[i].Bits() - to[j].Bits()
}

// ChangedHostSets lists the sets of want whose host addresses differ from have's; both must be SameGuards.
func ChangedHostSets(have, want *Desired) []AllowSet {
	var out []AllowSet
	for i, s := range want.AllowSets {
		if !slices.Equal(s.HostAddrs, have.AllowSets[i].HostAddrs) {
			out = append(out, s)
		}
	}
	return out
}

// Hosts lists every hostname the allow lists name, sorted and unique.
func Hosts(cfg *config.Config) []string {
	var out []string
	for _, s := range cfg.AllowSets {
		out = append(out, s.Hosts...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
