package rtnl

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The parsers read what arrives on a netlink socket. Whatever the bytes, they must return without panicking,
// and what they accept must hold together.

func FuzzParseLink(f *testing.F) {
	f.Add(msg(f, ifinfomsg(3, unix.IFF_UP), func(ae *netlink.AttributeEncoder) { ae.String(unix.IFLA_IFNAME, "wan0") }))
	f.Add(msg(f, ifinfomsg(7, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "ds0")
		ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
			nae.String(unix.IFLA_INFO_KIND, "ip6tnl")
			nae.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
				d.Uint8(iflaIPTunProto, unix.IPPROTO_IPIP)
				d.Bytes(iflaIPTunRemote, ip("2001:db8::1"))
				return nil
			})
			return nil
		})
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLink(b)
		if err == nil && l.Tunnel != nil && (l.Kind != "ip6tnl" || l.Tunnel.Remote.IsValid() && !l.Tunnel.Remote.Is6()) {
			t.Fatalf("tunnel %+v on a %q link", l.Tunnel, l.Kind)
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	f.Add(msg(f, ifaddrmsg(unix.AF_INET, 24, 0, 2), func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.IFA_ADDRESS, ip("192.0.2.7"))
		ae.Bytes(unix.IFA_LOCAL, ip("192.0.2.7"))
	}))
	f.Add(msg(f, ifaddrmsg(unix.AF_INET, 32, 0, 9), func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.IFA_ADDRESS, ip("198.51.100.1"))
		ae.Bytes(unix.IFA_LOCAL, ip("203.0.113.9"))
	}))
	f.Add(msg(f, ifaddrmsg(unix.AF_INET6, 64, 0, 3), func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.IFA_ADDRESS, ip("2001:db8:1::1"))
		ae.Uint32(unix.IFA_FLAGS, unix.IFA_F_DEPRECATED)
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAddr(b)
		if err == nil && (!a.Prefix.IsValid() || a.Prefix.Addr().Zone() != "") {
			t.Fatalf("accepted %+v", a)
		}
	})
}

func FuzzParseRoute(f *testing.F) {
	f.Add(msg(f, rtmsg(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.RTA_TABLE, unix.RT_TABLE_MAIN)
		ae.Uint32(unix.RTA_PRIORITY, 100)
		ae.Bytes(unix.RTA_GATEWAY, ip("198.51.100.1"))
		ae.Uint32(unix.RTA_OIF, 2)
	}))
	f.Add(msg(f, rtmsg(unix.AF_INET6, 48, unix.RT_TABLE_COMPAT, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.RTA_TABLE, 1000)
		ae.Bytes(unix.RTA_DST, ip("2001:db8::"))
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRoute(b)
		if err == nil && (!r.Dst.IsValid() || r.Gateway.IsValid() && r.Gateway.BitLen() != r.Dst.Addr().BitLen()) {
			t.Fatalf("accepted %+v", r)
		}
	})
}
