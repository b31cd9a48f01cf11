package reach

import (
	"fmt"
	"net/netip"
)

// Classify6 is the IPv6 verdict: IPv6 needs no NAT, so a global address on the WAN is reachable (the router's
// forward filter decides the rest). forwards6 counts the forwards with an IPv6 target (to6).
func Classify6(wan6 []netip.Addr, forwards6 int) Verdict {
	v := Verdict{Family: "ipv6"}
	global := GlobalIPv6(wan6)
	switch {
	case !global.IsValid():
		v.Class, v.Reason = Unknown, "the WAN interface has no global IPv6 address"
		if forwards6 > 0 {
			v.Advice = "forwards with to6 work once the ISP gives the WAN a global IPv6 address (SLAAC or DHCPv6)"
		}
	default:
		v.Class, v.Reason = Public, fmt.Sprintf("the WAN has the global IPv6 address %s; IPv6 needs no NAT", global)
		if forwards6 == 0 {
			v.Advice = "add to6 to a forward to reach it over IPv6 as well (see docs/ipv6.md)"
		}
	}
	return v
}

// GlobalIPv6 is the first global unicast IPv6 address (not ULA, not link-local) of addrs.
func GlobalIPv6(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !a.IsPrivate() {
			return a
		}
	}
	return netip.Addr{}
}

// WithIPv6 adds to an unreachable IPv4 verdict that IPv6 is a way out that works today.
func WithIPv6(v4, v6 Verdict) Verdict {
	if v4.Class.Unreachable() && v6.Class == Public {
		v4.Advice = "this router has global IPv6 (" + v6.Reason + "): forwards with to6 are reachable over IPv6 now. " + v4.Advice
	}
	return v4
}
