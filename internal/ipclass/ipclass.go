// Package ipclass is the one home of IPv4 address classification: which addresses can be a router's address on
// the internet (and why not), and which WAN addresses mean another NAT is in front. The plan, the public-address
// discovery and the reachability verdict all ask here, so they cannot disagree.
package ipclass

import "net/netip"

var (
	// Shared is the carrier-grade NAT range (RFC 6598): an ISP's NAT is in front.
	Shared = netip.MustParsePrefix("100.64.0.0/10")
	// ietf holds the IETF protocol assignments (RFC 6890), among them DS-Lite's B4 addresses.
	ietf = netip.MustParsePrefix("192.0.0.0/24")
)

// NotPublic says why a cannot be an address on the internet, or "" when it can. The documentation ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) count as public: tests and the lab use them as the internet.
func NotPublic(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.Is4():
		return "not an IPv4 address"
	case a.IsUnspecified() || a.As4()[0] == 0:
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private (RFC 1918)"
	case Shared.Contains(a):
		return "carrier-grade NAT space (RFC 6598)"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case ietf.Contains(a):
		return "an IETF protocol assignment (RFC 6890)"
	case a.As4()[0] >= 240:
		return "reserved"
	}
	return ""
}

// IsPublic reports whether a can be an address on the internet.
func IsPublic(a netip.Addr) bool { return NotPublic(a) == "" }

// IsShared reports whether a is in the carrier-grade NAT range.
func IsShared(a netip.Addr) bool { return Shared.Contains(a.Unmap()) }

// BehindNAT reports whether a WAN interface address means another NAT is in front of the router: private,
// carrier-grade NAT, link-local or loopback. Other addresses that are not public (192.0.0.0/24 of DS-Lite) are
// judged by the reachability checks, not taken for a second NAT.
func BehindNAT(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || Shared.Contains(a) || a.IsLinkLocalUnicast() || a.IsLoopback()
}
