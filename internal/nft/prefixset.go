package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"sigs.k8s.io/knftables"
)

// An allow list's prefixes live in a set of a stable name, allow_ID (prefixSetNames), so that a list whose
// prefixes change keeps its set and only the difference is sent (SetAllowPrefixes, allowdiff.go). Beside the
// set, a named counter of the same name is its record: its packet count holds a digest of the prefixes the
// set holds (prefixDigest), its byte count their number. An apply trusts a set whose record matches the list
// and does not send its 100,000 prefixes again; one without a matching record is loaded afresh.
//
// A full apply never changes the content of a set the rules use: that would be a second commit outside the
// apply's one transaction. A list whose set does not match is loaded over netlink into the list's other
// name, allow_ID_b (or back into allow_ID), before the transaction that points the rules at it, records it
// and deletes the old set; so the rules and the set change together, or neither does. Loading over netlink
// skips nft's parser and interval merging, which take seconds for a country list.

// prefixSetNames are the two names an allow list's set takes, by the list's ID: never by its content.
func prefixSetNames(id string) [2]string {
	return [2]string{setAllowBase + id, setAllowBase + id + "_b"}
}

// prefixDigest is the record of a set holding prefixes: the first 8 bytes of a SHA-256 of their addresses and
// lengths.
func prefixDigest(prefixes []netip.Prefix) uint64 {
	h := sha256.New()
	buf := make([]byte, 0, 5*1024)
	for i, p := range prefixes {
		a := p.Addr().As4()
		buf = append(buf, a[0], a[1], a[2], a[3], byte(p.Bits()))
		if len(buf) == cap(buf) || i == len(prefixes)-1 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// recordComment explains the record counter to whoever lists the table.
func recordComment(id string) string {
	return "allow list " + id + ": packets = digest of its prefixes, bytes = their number"
}

// recordCounter is the record of set name holding prefixes.
func recordCounter(name, id string, prefixes []netip.Prefix) *knftables.Counter {
	digest, n, comment := prefixDigest(prefixes), uint64(len(prefixes)), recordComment(id)
	return &knftables.Counter{Name: name, Packets: &digest, Bytes: &n, Comment: &comment}
}

// recordCounters writes the record of set name holding prefixes. The counter is added, deleted and added again
// with its values: adding a counter that exists changes nothing, and a stale one of that name must not survive.
func recordCounters(tx *knftables.Transaction, name, id string, prefixes []netip.Prefix) {
	tx.Add(&knftables.Counter{Name: name})
	tx.Delete(&knftables.Counter{Name: name})
	tx.Add(recordCounter(name, id, prefixes))
}

// prefixSet is the set an apply points an allow list's rules at, and whether the apply loaded it.
type prefixSet struct {
	name   string
	loaded bool
}

// prefixElements turns sorted, disjoint prefixes of fam into interval set elements the way nft does: each
// prefix is a start key and an interval-end key one past its last address, and an interval end at the
// unspecified address opens the set when the first prefix does not start there (first says prefixes begin the
// set).
func prefixElements(fam family, prefixes []netip.Prefix, first bool) []gnft.SetElement {
	out := make([]gnft.SetElement, 0, 2*len(prefixes)+1)
	if first && len(prefixes) > 0 && !prefixes[0].Addr().IsUnspecified() {
		out = append(out, gnft.SetElement{Key: make([]byte, len(fam.bytes(prefixes[0].Addr()))), IntervalEnd: true})
	}
	for _, p := range prefixes {
		start := fam.bytes(p.Masked().Addr())
		end := slices.Clone(start)
		for i := range end {
			hostBits := min(max(8*(i+1)-p.Bits(), 0), 8)
			end[i] |= byte(1<<hostBits - 1)
		}
		carry := true // end is the last address; one past it, unless it is the very last
		for i := len(end) - 1; i >= 0 && carry; i-- {
			end[i]++
			carry = end[i] == 0
		}
		out = append(out, gnft.SetElement{Key: start})
		if !carry {
			out = append(out, gnft.SetElement{Key: end, IntervalEnd: true})
		}
	}
	return out
}

// prefixesPerMessage keeps one netlink message's element list (two elements per prefix) under the 64 KiB an
// attribute can hold.
const prefixesPerMessage = 1000

// loadPrefixSetNetlink creates set name in hairpin's table and fills it, all in one netlink transaction: the
// set appears complete or not at all. The batch is several megabytes for a big list, more than a netlink
// socket sends by default, so the send buffer is raised for it (root may).
func loadPrefixSetNetlink(name string, prefixes []netip.Prefix) error {
	sndbuf := 128*len(prefixes) + 1<<20
	conn, err := gnft.New(gnft.WithSockOptions(func(c *netlink.Conn) error { return raiseSndbuf(c, sndbuf) }))
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer conn.CloseLasting()
	set := &gnft.Set{Table: ipv4.table(), Name: name, KeyType: gnft.TypeIPAddr, Interval: true}
	if err := conn.AddSet(set, nil); err != nil {
		return err
	}
	// Elements are built a message at a time: only the encoded messages stay until the flush.
	for i := 0; i < len(prefixes); i += prefixesPerMessage {
		if err := conn.SetAddElements(set, prefixElements(ipv4, prefixes[i:min(i+prefixesPerMessage, len(prefixes))], i == 0)); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("loading %d prefixes into set %s: %w", len(prefixes), name, err)
	}
	return nil
}

// LoadPrefixSet is the load Apply makes for an allow list that changed: it creates the interval set name in
// hairpin's table (which must exist) holding prefixes, over netlink. The benchmark times it against nft -f.
func LoadPrefixSet(name string, prefixes []netip.Prefix) error {
	return loadPrefixSetNetlink(name, prefixes)
}
