package rtnl

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// msg builds a message payload: a fixed header, then attributes written by attrs.
func msg(t testing.TB, header []byte, attrs func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	if attrs != nil {
		attrs(ae)
	}
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(header, b...)
}

func ifinfomsg(index int32, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	return b
}

func ifaddrmsg(family, bits, flags uint8, index uint32) []byte {
	b := []byte{family, bits, flags, 0, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(b[4:8], index)
	return b
}

func rtmsg(family, bits, table, typ uint8, flags uint32) []byte {
	b := []byte{family, bits, 0, 0, table, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, typ, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(b[8:12], flags)
	return b
}

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

// parseCase is a payload, and the value parsing it gives, or a part of the error it gives.
type parseCase[T any] struct {
	name string
	b    []byte
	want T
	err  string
}

func runParse[T any](t *testing.T, parse func([]byte) (T, error), same func(a, b T) bool, cases []parseCase[T]) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.b)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !same(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func equal[T comparable](a, b T) bool { return a == b }

// equalLink compares links and what their tunnels point at.
func equalLink(a, b Link) bool {
	ta, tb := a.Tunnel, b.Tunnel
	a.Tunnel, b.Tunnel = nil, nil
	return a == b && (ta == nil) == (tb == nil) && (ta == nil || *ta == *tb)
}

func TestParseLink(t *testing.T) {
	tunnel := func(proto uint8, remote string) func(ae *netlink.AttributeEncoder) {
		return func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, "ds0")
			ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
				nae.String(unix.IFLA_INFO_KIND, "ip6tnl")
				nae.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
					d.Uint8(iflaIPTunProto, proto)
					d.Bytes(iflaIPTunRemote, ip(remote))
					return nil
				})
				return nil
			})
		}
	}
	runParse(t, parseLink, equalLink, []parseCase[Link]{
		{"plain", msg(t, ifinfomsg(3, unix.IFF_UP|unix.IFF_RUNNING), func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, "wan0")
			ae.Uint32(unix.IFLA_MTU, 1500)
		}), Link{Index: 3, Name: "wan0", Flags: unix.IFF_UP | unix.IFF_RUNNING}, ""},
		{"ipip6 tunnel", msg(t, ifinfomsg(7, 0), tunnel(unix.IPPROTO_IPIP, "2001:db8::1")),
			Link{Index: 7, Name: "ds0", Kind: "ip6tnl", Tunnel: &Tunnel{Proto: unix.IPPROTO_IPIP, Remote: netip.MustParseAddr("2001:db8::1")}}, ""},
		{"tunnel without remote", msg(t, ifinfomsg(7, 0), tunnel(0, "::")),
			Link{Index: 7, Name: "ds0", Kind: "ip6tnl", Tunnel: &Tunnel{}}, ""},
		{"veth has no tunnel", msg(t, ifinfomsg(4, 0), func(ae *netlink.AttributeEncoder) {
			ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
				nae.String(unix.IFLA_INFO_KIND, "veth")
				nae.Bytes(unix.IFLA_INFO_DATA, []byte{8, 0, 9, 0, 1, 0, 0, 0})
				return nil
			})
		}), Link{Index: 4, Kind: "veth"}, ""},
		{"short header", make([]byte, 15), Link{}, "shorter than its header"},
		{"truncated attribute", append(ifinfomsg(1, 0), 8, 0, 3), Link{}, "link message"},
		{"bad proto length", msg(t, ifinfomsg(7, 0), func(ae *netlink.AttributeEncoder) {
			ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
				nae.String(unix.IFLA_INFO_KIND, "ip6tnl")
				nae.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
					d.Uint32(iflaIPTunProto, 4)
					return nil
				})
				return nil
			})
		}), Link{}, "tunnel"},
	})
}

func TestParseAddr(t *testing.T) {
	pfx := netip.MustParsePrefix
	runParse(t, parseAddr, equal, []parseCase[Addr]{
		{"ethernet", msg(t, ifaddrmsg(unix.AF_INET, 24, 0, 2), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("192.0.2.7"))
			ae.Bytes(unix.IFA_LOCAL, ip("192.0.2.7"))
			ae.String(unix.IFA_LABEL, "eth0")
		}), Addr{Index: 2, Prefix: pfx("192.0.2.7/24")}, ""},
		// PPP: IFA_LOCAL is ours, IFA_ADDRESS the peer's, and the prefix length belongs to the peer.
		{"point-to-point", msg(t, ifaddrmsg(unix.AF_INET, 32, 0, 9), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("198.51.100.1"))
			ae.Bytes(unix.IFA_LOCAL, ip("203.0.113.9"))
		}), Addr{Index: 9, Prefix: pfx("203.0.113.9/32")}, ""},
		{"IPv6 without IFA_LOCAL", msg(t, ifaddrmsg(unix.AF_INET6, 64, unix.IFA_F_TENTATIVE, 3), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("2001:db8:1::1"))
		}), Addr{Index: 3, Prefix: pfx("2001:db8:1::1/64"), Flags: unix.IFA_F_TENTATIVE}, ""},
		// IFA_FLAGS holds the flags that do not fit the header's byte (IFA_F_NOPREFIXROUTE, 0x200).
		{"IFA_FLAGS wins", msg(t, ifaddrmsg(unix.AF_INET6, 64, 0, 3), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("2001:db8:1::1"))
			ae.Uint32(unix.IFA_FLAGS, unix.IFA_F_DEPRECATED|unix.IFA_F_NOPREFIXROUTE)
		}), Addr{Index: 3, Prefix: pfx("2001:db8:1::1/64"), Flags: unix.IFA_F_DEPRECATED | unix.IFA_F_NOPREFIXROUTE}, ""},
		{"no address", msg(t, ifaddrmsg(unix.AF_INET, 24, 0, 2), nil), Addr{}, "without an address"},
		{"IPv6 bytes in an IPv4 message", msg(t, ifaddrmsg(unix.AF_INET, 24, 0, 2), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("2001:db8::1"))
		}), Addr{}, "16 bytes in family 2"},
		{"prefix too long", msg(t, ifaddrmsg(unix.AF_INET, 33, 0, 2), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("192.0.2.7"))
		}), Addr{}, "prefix length 33"},
		{"other family", msg(t, ifaddrmsg(unix.AF_PACKET, 0, 0, 2), nil), Addr{}, "family 17"},
		{"short header", []byte{2, 24, 0}, Addr{}, "shorter than its header"},
		{"bad IFA_FLAGS", msg(t, ifaddrmsg(unix.AF_INET, 24, 0, 2), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.IFA_ADDRESS, ip("192.0.2.7"))
			ae.Uint8(unix.IFA_FLAGS, 1)
		}), Addr{}, "not a uint32"},
	})
}

func TestParseRoute(t *testing.T) {
	runParse(t, parseRoute, equal, []parseCase[Route]{
		{"default via", msg(t, rtmsg(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
			ae.Uint32(unix.RTA_TABLE, unix.RT_TABLE_MAIN)
			ae.Uint32(unix.RTA_PRIORITY, 100)
			ae.Bytes(unix.RTA_GATEWAY, ip("198.51.100.1"))
			ae.Uint32(unix.RTA_OIF, 2)
		}), Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("0.0.0.0/0"),
			Gateway: netip.MustParseAddr("198.51.100.1"), OIF: 2, Priority: 100}, ""},
		{"subnet on a link", msg(t, rtmsg(unix.AF_INET, 24, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.RTA_DST, ip("192.0.2.0"))
			ae.Uint32(unix.RTA_OIF, 3)
		}), Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("192.0.2.0/24"), OIF: 3}, ""},
		// Tables above 255 are only in RTA_TABLE; the header says RT_TABLE_COMPAT.
		{"table 1000", msg(t, rtmsg(unix.AF_INET6, 0, unix.RT_TABLE_COMPAT, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
			ae.Uint32(unix.RTA_TABLE, 1000)
		}), Route{Table: 1000, Type: unix.RTN_UNICAST, Dst: netip.MustParsePrefix("::/0")}, ""},
		{"IPv4 gateway in an IPv6 route", msg(t, rtmsg(unix.AF_INET6, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
			ae.Bytes(unix.RTA_GATEWAY, ip("198.51.100.1"))
		}), Route{}, "4 bytes in family 10"},
		{"prefix too long", msg(t, rtmsg(unix.AF_INET, 40, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), nil), Route{}, "prefix length 40"},
		{"other family", msg(t, rtmsg(unix.AF_MPLS, 20, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), nil), Route{}, "family 28"},
		{"short header", make([]byte, 11), Route{}, "shorter than its header"},
		{"bad RTA_OIF", msg(t, rtmsg(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, 0), func(ae *netlink.AttributeEncoder) {
			ae.Uint16(unix.RTA_OIF, 2)
		}), Route{}, "not a uint32"},
	})
}
