package rtnl

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Addr is an interface address as the kernel describes it in RTM_NEWADDR.
type Addr struct {
	// Index is the interface's index.
	Index int
	// Prefix is the local address with the length of its subnet (192.0.2.1/24). An address with a peer
	// (point-to-point, as PPP gives) has no subnet of its own: its length is the full 32 or 128.
	Prefix netip.Prefix
	// Flags are the IFA_F_* flags (unix.IFA_F_TENTATIVE, unix.IFA_F_DEPRECATED, ...).
	Flags uint32
}

// Addrs lists the addresses of every interface of the family: unix.AF_INET, unix.AF_INET6, or
// unix.AF_UNSPEC for both in one dump.
func (c *Conn) Addrs(family uint8) ([]Addr, error) {
	req := make([]byte, unix.SizeofIfAddrmsg)
	req[0] = family
	return list(c, unix.RTM_GETADDR, unix.RTM_NEWADDR, req, parseAddr, "addresses")
}

// parseAddr reads an RTM_NEWADDR or RTM_DELADDR payload: struct ifaddrmsg, then attributes. IFA_ADDRESS is
// the address, except on a point-to-point link where IFA_LOCAL is ours and IFA_ADDRESS the peer's.
func parseAddr(b []byte) (Addr, error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return Addr{}, errfmt.Errorf("address message of %d bytes, shorter than its header", len(b))
	}
	family, bits := b[0], int(b[1])
	a := Addr{Flags: uint32(b[2]), Index: int(binary.NativeEndian.Uint32(b[4:8]))}
	size := 0
	switch family {
	case unix.AF_INET:
		size = 4
	case unix.AF_INET6:
		size = 16
	default:
		return Addr{}, errfmt.Errorf("address message of family %d", family)
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return Addr{}, errfmt.Errorf("address message: %w", err)
	}
	var local, address netip.Addr
	for ad.Next() {
		switch ad.Type() {
		case unix.IFA_LOCAL:
			local = addrAttr(ad, family)
		case unix.IFA_ADDRESS:
			address = addrAttr(ad, family)
		case unix.IFA_FLAGS:
			a.Flags = ad.Uint32() // the whole flags word; the header holds only its low byte
		}
	}
	if err := ad.Err(); err != nil {
		return Addr{}, errfmt.Errorf("address message: %w", err)
	}
	if bits > size*8 {
		return Addr{}, errfmt.Errorf("address message: prefix length %d in family %d", bits, family)
	}
	switch {
	case local.IsValid() && address.IsValid() && local != address:
		a.Prefix = netip.PrefixFrom(local, local.BitLen())
	case address.IsValid():
		a.Prefix = netip.PrefixFrom(address, bits)
	case local.IsValid():
		a.Prefix = netip.PrefixFrom(local, bits)
	default:
		return Addr{}, errors.New("address message without an address")
	}
	return a, nil
}

// addrAttr reads the current attribute as an address of family, which the caller has checked is unix.AF_INET
// or unix.AF_INET6; another length stops the decoder with an error. Not inlined: its closure copied into each of
// the four callers grew the router build by ~3 KB.
//
//go:noinline
func addrAttr(ad *netlink.AttributeDecoder, family uint8) netip.Addr {
	var ip netip.Addr
	ad.Do(func(b []byte) error {
		a, ok := netip.AddrFromSlice(b)
		if !ok || a.Is4() != (family == unix.AF_INET) {
			return errfmt.Errorf("address of %d bytes in family %d", len(b), family)
		}
		ip = a
		return nil
	})
	return ip
}
