// Package reach decides whether the internet can reach the router's forwards at all, per address family, and
// says what the user can do about it. It is pure: the daemon gathers the facts (WAN addresses, the route,
// what the upstream box answered) and shows the verdict in status, metrics, events and doctor.
package reach

import (
	"fmt"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/ipclass"
)

// Class is the reachability classification of one address family.
type Class string

// Classes. Double NAT comes with an Upstream saying whether the box in front forwards the ports.
const (
	// Unknown: no address of this family on the WAN yet.
	Unknown   Class = "unknown"
	Public    Class = "public"
	DoubleNAT Class = "double-nat"
	// CGNAT: the ISP shares its addresses among customers (RFC 6598); nothing here can open ports from outside.
	CGNAT Class = "cgnat"
	// DSLite: IPv4 leaves through the ISP's AFTR in an IPv6 tunnel (RFC 6333); no IPv4 port can be opened.
	DSLite Class = "ds-lite"
)

// Unreachable reports whether no setting of the router or the box in front can make IPv4 forwards reachable:
// dynamic DNS withholds the address then.
func (c Class) Unreachable() bool { return c == CGNAT || c == DSLite }

// Upstream says, behind a double NAT, whether the box in front forwards the ports.
type Upstream string

// Upstream states.
const (
	Mapped        Upstream = "mapped"  // the box took hairpin's mappings (PCP, NAT-PMP or UPnP)
	Manual        Upstream = "manual"  // the user says the box forwards (wan.upstream: manual)
	UnknownMapped Upstream = "unknown" // nobody knows
)

// Verdict is the classification of one family with the reason and the next step.
type Verdict struct {
	Family   string   `json:"family"` // ipv4 (ipv6 later)
	Class    Class    `json:"class"`
	Upstream Upstream `json:"upstream,omitempty"` // only with double-nat
	Reason   string   `json:"reason"`
	Advice   string   `json:"advice,omitempty"`
}

// String is the one-line form used in events and status.
func (v Verdict) String() string {
	s := string(v.Class)
	if v.Upstream != "" {
		s += " (" + string(v.Upstream) + ")"
	}
	return s
}

// Facts are what the daemon knows about the IPv4 path to the internet.
type Facts struct {
	WANAddrs []netip.Addr
	// DoubleNAT is the daemon's verdict from wan.double_nat (auto: every WAN address is private).
	DoubleNAT bool
	// DSLite: the IPv4 default route goes through an IPv4-in-IPv6 tunnel (see DetectDSLite).
	DSLite     bool
	DSLiteWhy  string
	UpstreamOn string // wan.upstream: off, auto, pcp, natpmp, upnp, manual
	// Protocol is the mapping protocol the box answered ("pcp", "natpmp", "upnp"); Mapped counts the forwards
	// it accepted, Wanted how many were asked.
	Protocol string
	Mapped   int
	Wanted   int
	// External is the external address the upstream box reports; Public the address the internet sees
	// (public_ip sources). Either may be invalid.
	External netip.Addr
	Public   netip.Addr
	// UpstreamError is why the upstream box mapped nothing; empty while hairpin is still asking.
	UpstreamError string
	// UpstreamCGNAT is the box's own answer that it cannot map from outside (PCP/NAT-PMP NO_RESOURCES,
	// ADDRESS_MISMATCH, ...), with its words.
	UpstreamCGNAT string
}

var (
	dsliteB4 = netip.MustParsePrefix("192.0.0.0/29") // RFC 6333 B4/AFTR addresses
)

// Advice for each outcome: the concrete ways out.
const (
	adviceNoWay = "no setting on this router or the box in front can open IPv4 ports from the internet. " +
		"Ways out: reach the devices over IPv6 (open the ports for their IPv6 addresses), ask the ISP for a " +
		"public IPv4 address (often a free option or a small fee), or use a tunnel or relay (WireGuard to a " +
		"small VPS, a reverse proxy)"
	adviceUnknown = "set wan.upstream: auto so hairpin asks the box in front to forward the ports (PCP, NAT-PMP " +
		"or UPnP), or forward the ports (or set DMZ) to this router's WAN address on that box by hand and set " +
		"wan.upstream: manual; `hairpin probe` shows whether it works"
	adviceManual = "you said the box in front forwards the ports to this router; `hairpin probe` (wan.probe) " +
		"proves it from the internet"
)

// Classify decides the IPv4 verdict. Order matters: DS-Lite and CGNAT are facts about the ISP that no mapping
// changes, so they win over double NAT.
func Classify(f Facts) Verdict {
	v := Verdict{Family: "ipv4"}
	var wan4 []netip.Addr
	for _, a := range f.WANAddrs {
		if a = a.Unmap(); a.Is4() {
			wan4 = append(wan4, a)
		}
	}
	switch {
	case f.DSLite:
		v.Class, v.Advice = DSLite, adviceNoWay
		v.Reason = "IPv4 leaves through the ISP's AFTR in an IPv6 tunnel (DS-Lite, RFC 6333)"
		if f.DSLiteWhy != "" {
			v.Reason += ": " + f.DSLiteWhy
		}
		return v
	case len(wan4) == 0:
		v.Class, v.Reason = Unknown, "the WAN interface has no IPv4 address"
		return v
	}
	for _, a := range wan4 {
		if ipclass.IsShared(a) {
			v.Class, v.Advice = CGNAT, adviceNoWay
			v.Reason = fmt.Sprintf("the WAN address %s is in the ISP's shared range 100.64.0.0/10 (carrier-grade NAT, RFC 6598)", a)
			return v
		}
		if dsliteB4.Contains(a) {
			v.Class, v.Advice = DSLite, adviceNoWay
			v.Reason = fmt.Sprintf("the WAN address %s is a DS-Lite B4 address (192.0.0.0/29, RFC 6333)", a)
			return v
		}
	}
	if !f.DoubleNAT {
		v.Class, v.Reason = Public, fmt.Sprintf("the WAN address %s is public", wan4[0])
		return v
	}
	switch {
	case f.UpstreamCGNAT != "":
		v.Class, v.Advice = CGNAT, adviceNoWay
		v.Reason = "the box in front cannot map ports from outside: " + f.UpstreamCGNAT
		return v
	case f.External.IsValid() && !ipclass.IsPublic(f.External):
		v.Class, v.Advice = CGNAT, adviceNoWay
		v.Reason = fmt.Sprintf("the box in front reports the external address %s, which is not public: its ISP NATs it again", f.External)
		return v
	case f.External.IsValid() && f.Public.IsValid() && f.External.Unmap() != f.Public.Unmap():
		v.Class, v.Advice = CGNAT, adviceNoWay
		v.Reason = fmt.Sprintf("the box in front reports the external address %s but the internet sees %s: another NAT sits beyond it", f.External, f.Public)
		return v
	}
	v.Class = DoubleNAT
	switch {
	case f.UpstreamOn == "manual":
		v.Upstream, v.Advice = Manual, adviceManual
		v.Reason = fmt.Sprintf("the WAN address %s is private; the box in front forwards the ports (wan.upstream: manual)", wan4[0])
	case f.Protocol != "" && f.Wanted > 0 && f.Mapped == f.Wanted:
		v.Upstream = Mapped
		v.Reason = fmt.Sprintf("the WAN address %s is private; the box in front maps all %d forward ports (%s)", wan4[0], f.Wanted, f.Protocol)
	case f.Protocol != "" && f.Mapped > 0:
		v.Upstream = Mapped
		v.Reason = fmt.Sprintf("the WAN address %s is private; the box in front maps %d of %d forward ports (%s)", wan4[0], f.Mapped, f.Wanted, f.Protocol)
		v.Advice = "see the upstream mappings in hairpin status for the ports the box refused"
	case f.UpstreamOn != "" && f.UpstreamOn != "off" && f.UpstreamError == "" && f.Mapped == 0:
		v.Upstream = UnknownMapped
		v.Reason = fmt.Sprintf("the WAN address %s is private; asking the box in front to forward the ports (wan.upstream: %s)", wan4[0], f.UpstreamOn)
	default:
		v.Upstream, v.Advice = UnknownMapped, adviceUnknown
		v.Reason = fmt.Sprintf("the WAN address %s is private: a box in front NATs again, and nobody knows whether it forwards the ports", wan4[0])
		if f.UpstreamOn != "" && f.UpstreamOn != "off" {
			v.Reason = fmt.Sprintf("the WAN address %s is private and the box in front mapped nothing: %s", wan4[0], f.UpstreamError)
			v.Advice = "hairpin asked the box in front (wan.upstream: " + f.UpstreamOn + ") but it mapped nothing: " +
				"turn on UPnP, NAT-PMP or PCP there, or forward the ports by hand and set wan.upstream: manual"
		}
	}
	return v
}
