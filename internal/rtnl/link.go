package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Link is an interface as the kernel describes it in RTM_NEWLINK.
type Link struct {
	Index int
	Name  string
	// Flags are the IFF_* flags (unix.IFF_UP, unix.IFF_RUNNING, unix.IFF_LOOPBACK, ...).
	Flags uint32
	// Kind is the link type a driver registered ("veth", "ip6tnl", "pppoe" has none: ""), from IFLA_LINKINFO.
	Kind string
	// Tunnel is set for an ip6tnl interface: what it carries and where to.
	Tunnel *Tunnel
}

// Tunnel is an IPv6 tunnel's configuration (IFLA_INFO_DATA of an ip6tnl link).
type Tunnel struct {
	// Proto is the inner protocol: unix.IPPROTO_IPIP (mode ipip6), unix.IPPROTO_IPV6 (ip6ip6), 0 (any).
	Proto uint8
	// Remote is the far end, invalid when the tunnel has none.
	Remote netip.Addr
}

// LinkByName returns the interface named name; the error wraps ErrNotFound when there is none.
func (c *Conn) LinkByName(name string) (Link, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	attrs, err := ae.Encode()
	if err != nil {
		return Link{}, err
	}
	return c.link(append(make([]byte, unix.SizeofIfInfomsg), attrs...), fmt.Sprintf("interface %q", name))
}

// LinkByIndex returns the interface with that index; the error wraps ErrNotFound when there is none.
func (c *Conn) LinkByIndex(index int) (Link, error) {
	req := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[4:8], uint32(index))
	return c.link(req, fmt.Sprintf("interface %d", index))
}

func (c *Conn) link(req []byte, what string) (Link, error) {
	b, err := c.get(unix.RTM_GETLINK, unix.RTM_NEWLINK, req)
	if errors.Is(err, unix.ENODEV) {
		return Link{}, errfmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Link{}, errfmt.Errorf("%s: %w", what, err)
	}
	l, err := parseLink(b)
	if err != nil {
		return Link{}, errfmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}

// Links lists every interface.
func (c *Conn) Links() ([]Link, error) {
	return list(c, unix.RTM_GETLINK, unix.RTM_NEWLINK, make([]byte, unix.SizeofIfInfomsg), parseLink, "interfaces")
}

// parseLink reads an RTM_NEWLINK or RTM_DELLINK payload: struct ifinfomsg, then attributes.
func parseLink(b []byte) (Link, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return Link{}, errfmt.Errorf("link message of %d bytes, shorter than its header", len(b))
	}
	l := Link{
		Index: int(int32(binary.NativeEndian.Uint32(b[4:8]))),
		Flags: binary.NativeEndian.Uint32(b[8:12]),
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return Link{}, errfmt.Errorf("link message: %w", err)
	}
	var data []byte
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			l.Name = ad.String()
		case unix.IFLA_LINKINFO:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case unix.IFLA_INFO_KIND:
						l.Kind = nad.String()
					case unix.IFLA_INFO_DATA:
						data = nad.Bytes()
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return Link{}, errfmt.Errorf("link message: %w", err)
	}
	if l.Kind == "ip6tnl" && data != nil {
		t, err := parseTunnel(data)
		if err != nil {
			return Link{}, errfmt.Errorf("link message: tunnel of %s: %w", l.Name, err)
		}
		l.Tunnel = &t
	}
	return l, nil
}

// The IFLA_IPTUN_* attributes of linux/if_tunnel.h that x/sys/unix does not name.
const (
	iflaIPTunRemote = 3
	iflaIPTunProto  = 9
)

// parseTunnel reads the IFLA_IPTUN_* attributes of an ip6tnl link.
func parseTunnel(b []byte) (Tunnel, error) {
	var t Tunnel
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return t, err
	}
	for ad.Next() {
		switch ad.Type() {
		case iflaIPTunProto:
			t.Proto = ad.Uint8()
		case iflaIPTunRemote:
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok && !a.IsUnspecified() {
				t.Remote = a
			}
		}
	}
	return t, ad.Err()
}
