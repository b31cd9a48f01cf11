package rtnl

import (
	"encoding/binary"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Route is a route as the kernel describes it in RTM_NEWROUTE.
type Route struct {
	// Table is the routing table (unix.RT_TABLE_MAIN for the one `ip route` shows).
	Table uint32
	// Type is unix.RTN_UNICAST for a route that forwards; blackhole, unreachable, local... otherwise.
	Type uint8
	// Flags are the RTM_F_* flags.
	Flags uint32
	// Dst is the destination; the default route's is 0.0.0.0/0 (or ::/0).
	Dst netip.Prefix
	// Gateway is the next hop, invalid for a route straight onto a link or with several next hops.
	Gateway netip.Addr
	// OIF is the index of the interface the route leaves through, 0 with several next hops.
	OIF int
	// Priority is the metric: the lowest wins among routes to the same destination.
	Priority uint32
}

// DefaultRoutes lists the default routes of the main table that forward (not blackhole or unreachable ones),
// of the family (unix.AF_INET or unix.AF_INET6), in the kernel's order.
func (c *Conn) DefaultRoutes(family uint8) ([]Route, error) {
	req := make([]byte, unix.SizeofRtMsg)
	req[0] = family
	all, err := list(c, unix.RTM_GETROUTE, unix.RTM_NEWROUTE, req, parseRoute, "routes")
	if err != nil {
		return nil, err
	}
	var routes []Route
	for _, r := range all {
		if r.Table == unix.RT_TABLE_MAIN && r.Type == unix.RTN_UNICAST && r.Dst.Bits() == 0 && r.Flags&unix.RTM_F_CLONED == 0 {
			routes = append(routes, r)
		}
	}
	return routes, nil
}

// parseRoute reads an RTM_NEWROUTE payload: struct rtmsg, then attributes.
func parseRoute(b []byte) (Route, error) {
	if len(b) < unix.SizeofRtMsg {
		return Route{}, errfmt.Errorf("route message of %d bytes, shorter than its header", len(b))
	}
	family, bits := b[0], int(b[1])
	r := Route{Table: uint32(b[4]), Type: b[7], Flags: binary.NativeEndian.Uint32(b[8:12])}
	var zero netip.Addr
	switch family {
	case unix.AF_INET:
		zero = netip.IPv4Unspecified()
	case unix.AF_INET6:
		zero = netip.IPv6Unspecified()
	default:
		return Route{}, errfmt.Errorf("route message of family %d", family)
	}
	if bits > zero.BitLen() {
		return Route{}, errfmt.Errorf("route message: prefix length %d in family %d", bits, family)
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofRtMsg:])
	if err != nil {
		return Route{}, errfmt.Errorf("route message: %w", err)
	}
	dst := zero
	for ad.Next() {
		switch ad.Type() {
		case unix.RTA_DST:
			dst = addrAttr(ad, family)
		case unix.RTA_GATEWAY:
			r.Gateway = addrAttr(ad, family)
		case unix.RTA_OIF:
			r.OIF = int(ad.Uint32())
		case unix.RTA_PRIORITY:
			r.Priority = ad.Uint32()
		case unix.RTA_TABLE:
			r.Table = ad.Uint32() // tables above 255 do not fit the header's byte
		}
	}
	if err := ad.Err(); err != nil {
		return Route{}, errfmt.Errorf("route message: %w", err)
	}
	r.Dst = netip.PrefixFrom(dst, bits)
	return r, nil
}
