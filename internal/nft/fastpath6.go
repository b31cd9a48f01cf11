package nft

import (
	"fmt"
	"net/netip"

	gnft "github.com/google/nftables"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// setIPv6Netlink brings the content of table ip6 hairpin to d in one netlink batch, without the nft
// binary: the answering addresses, the LAN prefixes and the DNAT map, each flushed and refilled. A prefix
// change moves every forward named by an interface identifier, so the map changes with the prefixes, and one
// batch makes the three agree at every instant. The batch holds a few elements per IPv6 forward: it is the
// IPv6 counterpart of the WAN fast path (fastpath.go), which needs no map change and so can add before it
// removes.
func setIPv6Netlink(conn *gnft.Conn, d *plan.Desired6) error {
	table := &gnft.Table{Family: gnft.TableFamilyIPv6, Name: Table}
	wan := &gnft.Set{Table: table, Name: setWAN, KeyType: gnft.TypeIP6Addr}
	lan := &gnft.Set{Table: table, Name: setLAN, KeyType: gnft.TypeIP6Addr, Interval: true}
	dnat := &gnft.Set{Table: table, Name: mapDNAT, IsMap: true}
	conn.FlushSet(wan)
	conn.FlushSet(lan)
	conn.FlushSet(dnat)
	var wanElems []gnft.SetElement
	for _, a := range d.WANAddrs {
		b := a.As16()
		wanElems = append(wanElems, gnft.SetElement{Key: b[:]})
	}
	for _, add := range []struct {
		set   *gnft.Set
		elems []gnft.SetElement
	}{{wan, wanElems}, {lan, prefixElements6(d.LANNets)}, {dnat, dnatElements6(d.Rules)}} {
		if len(add.elems) == 0 {
			continue
		}
		if err := conn.SetAddElements(add.set, add.elems); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("table ip6 %s: %w", Table, err)
	}
	return nil
}

// dnatElements6 encodes the DNAT map's elements as the kernel holds them: each part of a concatenation in its
// own 4-byte register, so the protocol (1 byte) and the ports (2 bytes, network order) are padded.
func dnatElements6(rules []plan.Rule) []gnft.SetElement {
	var out []gnft.SetElement
	for _, r := range rules {
		proto := byte(6)
		if r.Protocol == "udp" {
			proto = 17
		}
		to := r.To.As16()
		r.Expand(func(ext, in uint16) bool {
			key := []byte{proto, 0, 0, 0, byte(ext >> 8), byte(ext), 0, 0}
			val := append(append([]byte{}, to[:]...), byte(in>>8), byte(in), 0, 0)
			out = append(out, gnft.SetElement{Key: key, Val: val})
			return true
		})
	}
	return out
}

// prefixElements6 is prefixElements for IPv6: each prefix a start key and an interval-end key one past its
// last address, and an interval end at :: opening the set when the first prefix does not start there.
func prefixElements6(prefixes []netip.Prefix) []gnft.SetElement {
	var out []gnft.SetElement
	if len(prefixes) > 0 && prefixes[0].Addr() != netip.IPv6Unspecified() {
		out = append(out, gnft.SetElement{Key: make([]byte, 16), IntervalEnd: true})
	}
	for _, p := range prefixes {
		start := p.Masked().Addr().As16()
		last := start
		for i := range 16 {
			hostBits := min(max(8*(i+1)-p.Bits(), 0), 8)
			last[i] |= byte(1<<hostBits - 1)
		}
		out = append(out, gnft.SetElement{Key: append([]byte{}, start[:]...)})
		end, carry := last, true
		for i := 15; i >= 0 && carry; i-- {
			end[i]++
			carry = end[i] == 0
		}
		if !carry { // last was not the very last address
			out = append(out, gnft.SetElement{Key: append([]byte{}, end[:]...), IntervalEnd: true})
		}
	}
	return out
}
