package nft

import (
	"errors"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// The fast paths change a table's content over netlink, without starting the nft binary: an address change is
// the hot path of the daemon (target: forwards follow within milliseconds), and a fork and exec of nft costs
// more than the kernel transaction.
//
// On IPv4 a WAN change is two commits, new addresses first (addWANNetlink), the old ones retired after
// (retireWANNetlink). Each is atomic; between them both addresses forward, which is harmless for the moment it
// lasts, and a removal never delays an addition. The daemon records between the two what it is installing
// (internal/daemon/intent.go), so that the record costs the new address nothing.
//
// On IPv6 a prefix change moves every forward named by an interface identifier, so the DNAT map changes with
// the addresses and prefixes, and setContentNetlink replaces all three in one batch that makes them agree at
// every instant.

// addWANNetlink sends its batch before asking the kernel anything about the set: adding an element that is
// already there changes nothing (no NLM_F_EXCL), so every wanted address is simply added, and the set is
// named rather than looked up.
func addWANNetlink(conn *netlink.Conn, fam family, addrs []netip.Addr) error {
	want := wanElements(fam, addrs)
	if len(want) == 0 {
		return nil
	}
	b := &batch{fam: fam}
	b.elems(unix.NFT_MSG_NEWSETELEM, setWAN, want)
	if err := sendBatch(conn, 0, b.msgs); err != nil {
		return errfmt.Errorf("set %s: %w", setWAN, err)
	}
	return nil
}

// retireWANNetlink is idempotent: it deletes what the set holds now and is not wanted. An element that went
// away meanwhile (another writer, or a retry of an update a crash cut short) fails the batch with ENOENT; the
// set is then read again and the removal retried.
func retireWANNetlink(conn *netlink.Conn, fam family, addrs []netip.Addr) error {
	for try := 0; ; try++ {
		current, err := setKeys(conn, fam, setWAN)
		if err != nil {
			return errfmt.Errorf("set %s: %w", setWAN, err)
		}
		_, del := wanDiff(fam, current, addrs)
		if len(del) == 0 {
			return nil
		}
		b := &batch{fam: fam}
		b.elems(unix.NFT_MSG_DELSETELEM, setWAN, del)
		err = sendBatch(conn, 0, b.msgs)
		if err == nil || try == 2 || !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
}

// setContentNetlink brings the content of fam's table to c in one netlink batch: the answering addresses,
// the LAN prefixes and the DNAT map, each flushed and refilled. It creates nothing.
func setContentNetlink(conn *netlink.Conn, fam family, c content) error {
	b := &batch{fam: fam}
	b.flushSet(setWAN)
	b.flushSet(setLAN)
	b.flushSet(mapDNAT)
	b.elems(unix.NFT_MSG_NEWSETELEM, setWAN, wanElements(fam, c.wan))
	b.elems(unix.NFT_MSG_NEWSETELEM, setLAN, prefixElements(fam, c.lan, true))
	b.elems(unix.NFT_MSG_NEWSETELEM, mapDNAT, dnatElements(fam, c.rules))
	if err := sendBatch(conn, 0, b.msgs); err != nil {
		return errfmt.Errorf("table %s %s: %w", fam.name, Table, err)
	}
	return nil
}

// wanElements turns the addresses of addrs in fam into set elements.
func wanElements(fam family, addrs []netip.Addr) []elem {
	var out []elem
	for _, a := range addrs {
		if fam.has(a) {
			out = append(out, elem{key: fam.bytes(a)})
		}
	}
	return out
}

// wanDiff returns the elements to add and to delete to turn current (a set's keys) into the addresses of want
// in fam.
func wanDiff(fam family, current [][]byte, want []netip.Addr) (add, del []elem) {
	have := map[netip.Addr]bool{}
	for _, k := range current {
		if a, ok := netip.AddrFromSlice(k); ok {
			if fam.counts {
				a = a.Unmap()
			}
			have[a] = true
		}
	}
	keep := map[netip.Addr]bool{}
	for _, a := range want {
		if !fam.has(a) {
			continue
		}
		keep[a] = true
		if !have[a] {
			add = append(add, elem{key: fam.bytes(a)})
		}
	}
	for a := range have {
		if !keep[a] {
			del = append(del, elem{key: fam.bytes(a)})
		}
	}
	return add, del
}

// dnatElements encodes the DNAT map's elements as the kernel holds them: each part of a concatenation in its
// own 4-byte register, so the protocol (1 byte) and the ports (2 bytes, network order) are padded.
func dnatElements(fam family, rules []plan.Rule) []elem {
	var out []elem
	for _, r := range rules {
		proto := byte(6)
		if r.Protocol == "udp" {
			proto = 17
		}
		to := fam.bytes(r.To)
		r.Expand(func(ext, in uint16) bool {
			key := []byte{proto, 0, 0, 0, byte(ext >> 8), byte(ext), 0, 0}
			val := append(append([]byte{}, to...), byte(in>>8), byte(in), 0, 0)
			out = append(out, elem{key: key, val: val})
			return true
		})
	}
	return out
}
