package config

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Target6 is where a forward goes on IPv6. It is either a fixed address (a ULA or a global address) or an
// interface identifier: the low 64 bits of the target's address, which the plan combines with the LAN's
// current /64 prefix so that the forward follows the ISP's renumbering.
type Target6 struct {
	// Addr is the fixed address, or with IID the identifier (upper 64 bits zero).
	Addr netip.Addr
	IID  bool
	// Port is the internal port range; the same length as the forward's external range, or a single port.
	Port PortRange
}

// IsValid reports whether the forward has an IPv6 target at all.
func (t Target6) IsValid() bool { return t.Addr.IsValid() }

// String is the form the config uses: "[fd00::180]:80", "[::21a:2bff:fe3c:4d5e]:80-83".
func (t Target6) String() string {
	if !t.IsValid() {
		return ""
	}
	return fmt.Sprintf("[%s]:%s", t.Addr, t.Port)
}

// Combine puts the identifier t into prefix (at most /64), giving the target's address on that prefix.
func (t Target6) Combine(prefix netip.Prefix) netip.Addr {
	if !t.IID {
		return t.Addr
	}
	p := prefix.Masked().Addr().As16()
	id := t.Addr.As16()
	copy(p[8:], id[8:])
	return netip.AddrFrom16(p)
}

const to6Hint = "write an IPv6 address such as fd00::180 or [fd00::180]:80, or an interface identifier such as ::21a:2bff:fe3c:4d5e that hairpin combines with the LAN's prefix"

// to6 reads a forward's to6: ADDRESS, [ADDRESS]:PORT or [ADDRESS]:FIRST-LAST. The port part is checked
// against the external range by the caller, once both are known.
func (d *decoder) to6(n *yaml.Node, path string) (Target6, string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return Target6{}, "", false
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			d.errorf(n, path, to6Hint, "%q has no closing ']'", s)
			return Target6{}, "", false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if !strings.HasPrefix(port, ":") || len(port) == 1 {
				d.errorf(n, path, to6Hint, "%q: after ']' comes ':PORT' or nothing", s)
				return Target6{}, "", false
			}
			port = port[1:]
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		d.errorf(n, path, to6Hint, "%q is not an IPv6 address", s)
		return Target6{}, "", false
	}
	if a.Zone() != "" {
		d.errorf(n, path, "leave out the zone: hairpin forwards to routable addresses only", "%q has a zone (%%%s)", s, a.Zone())
		return Target6{}, "", false
	}
	if problem, hint := check6(a); problem != "" {
		d.errorf(n, path, hint, "%s %s", a, problem)
		return Target6{}, "", false
	}
	b := a.As16()
	upperZero := true
	for _, x := range b[:8] {
		upperZero = upperZero && x == 0
	}
	return Target6{Addr: a, IID: upperZero}, port, true
}

// check6 says what is wrong with a as a forward's IPv6 target, or "" when nothing is.
func check6(a netip.Addr) (problem, hint string) {
	switch {
	case a.Is4():
		return "is an IPv4 address", "put IPv4 targets in `to`; to6 takes the target's IPv6 address"
	case a.Is4In6():
		return "is an IPv4-mapped address", "put IPv4 targets in `to`; to6 takes the target's IPv6 address"
	case a.IsUnspecified():
		return "is the unspecified address", to6Hint
	case a.IsLinkLocalUnicast():
		b := a.As16()
		iid := netip.AddrFrom16([16]byte{8: b[8], 9: b[9], 10: b[10], 11: b[11], 12: b[12], 13: b[13], 14: b[14], 15: b[15]})
		if iid.IsLoopback() || iid.IsUnspecified() {
			return "is link-local, valid on one link only", "write the target's ULA or global address"
		}
		return "is link-local, valid on one link only", fmt.Sprintf("write the interface identifier %s to follow the LAN prefix, or the target's ULA or global address", iid)
	case a.IsMulticast():
		return "is a multicast address", to6Hint
	case a.IsLoopback():
		// ::1 has the shape of an interface identifier, but it reads as loopback to everyone.
		return "is the loopback address", "write the target's full ULA or global address"
	}
	return "", ""
}

// finishTo6 checks to6's port against the external range, like to's, and defaults it to to's internal port.
func (d *decoder) finishTo6(f *Forward, n *yaml.Node, key, port string) {
	f.To6.Port = f.ToPort
	if port == "" {
		return
	}
	r, err := parsePortRange(port)
	switch {
	case err != nil:
		d.errorf(n, key, "ports are 1 to 65535; a range is FIRST-LAST", "%v", err)
		f.To6 = Target6{}
	case r.Len() != f.Port.Len() && r.Len() != 1:
		d.errorf(n, key, fmt.Sprintf("give %d internal ports to match port %s, or a single port", f.Port.Len(), f.Port),
			"range %s has %d ports but the external range has %d", r, r.Len(), f.Port.Len())
		f.To6 = Target6{}
	default:
		f.To6.Port = r
	}
}

// IsULA reports whether a is a unique local address (fc00::/7): routable on the LAN, never from the internet.
func IsULA(a netip.Addr) bool { return ula.Contains(a) }

var ula = netip.MustParsePrefix("fc00::/7")

// IsGlobal6 reports whether a is an IPv6 address the internet can reach: global unicast and not ULA.
func IsGlobal6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !IsULA(a)
}

// HasIPv6 reports whether any forward has an IPv6 target: only then does hairpin watch IPv6 addresses and
// install anything for IPv6.
func (c *Config) HasIPv6() bool {
	for _, f := range c.Forwards {
		if f.To6.IsValid() {
			return true
		}
	}
	return false
}
