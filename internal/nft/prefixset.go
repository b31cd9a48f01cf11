package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/nft/script"
)

// An allow list's prefixes live in sets of a stable name, one hash set of addresses per prefix length the
// list holds: allow_ID_24 holds the network addresses of the list's /24s, and the guard matches
// `ip saddr & 255.255.255.0 @allow_ID_24` (prefixSetNames, lengthSet). A hash set, unlike an interval set
// (an rbtree), takes a change of one element without rebuilding anything: in a set of 100,000 an addition
// commits in about 0.1 ms where the interval set took 11 ms, so a list whose prefixes change keeps its sets
// and only the difference is sent (SetAllowPrefixes, allowdiff.go). The cost is one lookup per length present
// for a new connection from the internet. Beside the sets, a named counter of the list's name (allow_ID) is
// its record: its packet count holds a digest of the prefixes the sets hold (prefixDigest), its byte count
// their number. An apply trusts sets whose record matches the list and does not send their 100,000 prefixes
// again; a list without a matching record is loaded afresh.
//
// A full apply never changes the content of a set the rules use: that would be a second commit outside the
// apply's one transaction. A list whose sets do not match is loaded over netlink under the list's other
// name, allow_ID_b (sets allow_ID_b_LEN), or back under allow_ID, before the transaction that points the
// rules at it, records it and deletes the old sets; so the rules and the sets change together, or neither
// does. Loading over netlink skips nft's parser, which takes seconds for a country list. Config IDs hold no
// underscore, so allow_ID_b and allow_ID_LEN cannot be mistaken for another list's names.

// prefixSetNames are the two names an allow list's set takes, by the list's ID: never by its content.
func prefixSetNames(id string) [2]string {
	return [2]string{setAllowBase + id, setAllowBase + id + "_b"}
}

// prefixDigest is the record of a set holding prefixes: the first 8 bytes of a SHA-256 of their addresses and
// lengths.
func prefixDigest(prefixes []netip.Prefix) uint64 { return summarize(prefixes).digest }

// listSummary is what the record check needs of a list's prefixes: their digest and the lengths they hold.
type listSummary struct {
	digest  uint64
	lengths []int
}

// summarize reads prefixes once for their digest (prefixDigest) and their lengths (prefixLengths).
func summarize(prefixes []netip.Prefix) listSummary {
	h := sha256.New()
	buf := make([]byte, 0, 5*1024)
	var have [33]bool
	for i, p := range prefixes {
		a, bits := p.Addr().As4(), p.Bits()
		have[bits] = true
		buf = append(buf, a[0], a[1], a[2], a[3], byte(bits))
		if len(buf) == cap(buf) || i == len(prefixes)-1 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	return listSummary{digest: binary.BigEndian.Uint64(h.Sum(nil)), lengths: lengthsHeld(&have)}
}

// summaryMemo is the summary of the prefixes an allow list was last checked or recorded with, and the slice
// that holds them. A config's prefix slices are never changed once loaded (config.Reload hands the running
// config's slice on to the next config when a list did not change, and builds a new one when it did), so the
// same slice has the same summary: a reload that changes one prefix of 100,000 does not read the running
// list's 100,000 again. One slice per list is kept, the one the running config holds anyway; a full apply
// starts the memo afresh, so that it holds no list the config no longer has.
type summaryMemo struct {
	id       string
	prefixes []netip.Prefix
	summary  listSummary
}

// summary is summarize(prefixes), from the memo when prefixes is the slice list id was last summarized from.
// A summary is made under b.mu (about 0.5 ms for 100,000 prefixes), which guards nothing slow.
func (b *Backend) summary(id string, prefixes []netip.Prefix) listSummary {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := 0
	for i < len(b.summaries) && b.summaries[i].id != id {
		i++
	}
	if i == len(b.summaries) {
		b.summaries = append(b.summaries, summaryMemo{id: id})
	}
	m := &b.summaries[i]
	if len(prefixes) == 0 || len(m.prefixes) != len(prefixes) || &m.prefixes[0] != &prefixes[0] {
		m.prefixes, m.summary = prefixes, summarize(prefixes)
	}
	return m.summary
}

// recordComment explains the record counter to whoever lists the table.
func recordComment(id string) string {
	return "allow list " + id + ": packets = digest of its prefixes, bytes = their number"
}

// recordCounter is the record of set name holding prefixes.
func recordCounter(name, id string, prefixes []netip.Prefix) *script.Counter {
	digest, n, comment := prefixDigest(prefixes), uint64(len(prefixes)), recordComment(id)
	return &script.Counter{Name: name, Packets: &digest, Bytes: &n, Comment: &comment}
}

// recordCounters writes the record of set name holding prefixes. The counter is added, deleted and added again
// with its values: adding a counter that exists changes nothing, and a stale one of that name must not survive.
func recordCounters(tx *script.Transaction, name, id string, prefixes []netip.Prefix) {
	tx.Add(&script.Counter{Name: name})
	tx.Delete(&script.Counter{Name: name})
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
func prefixElements(fam family, prefixes []netip.Prefix, first bool) []elem {
	out := make([]elem, 0, 2*len(prefixes)+1)
	if first && len(prefixes) > 0 && !prefixes[0].Addr().IsUnspecified() {
		out = append(out, elem{key: make([]byte, len(fam.bytes(prefixes[0].Addr()))), intervalEnd: true})
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
		out = append(out, elem{key: start})
		if !carry {
			out = append(out, elem{key: end, intervalEnd: true})
		}
	}
	return out
}

// prefixesPerMessage keeps one netlink message's element list under the 64 KiB an attribute can hold.
const prefixesPerMessage = 2000

// lengthSet is the set of list name holding its prefixes of length bits.
func lengthSet(name string, bits int) string {
	return name + "_" + strconv.Itoa(bits)
}

// prefixLengths are the lengths prefixes hold, in ascending order: one set and one rule each.
func prefixLengths(prefixes []netip.Prefix) []int {
	var have [33]bool
	for _, p := range prefixes {
		have[p.Bits()] = true
	}
	return lengthsHeld(&have)
}

// lengthsHeld lists the lengths have marks, in ascending order.
func lengthsHeld(have *[33]bool) []int {
	var out []int
	for bits, ok := range have {
		if ok {
			out = append(out, bits)
		}
	}
	return out
}

// lengthMatch is the guard's match of an address in the set of list name for prefixes of length bits.
func lengthMatch(name string, bits int) string {
	if bits == 32 {
		return "ip saddr @" + lengthSet(name, bits)
	}
	m := uint32(0xffffffff) << (32 - bits)
	return fmt.Sprintf("ip saddr & %d.%d.%d.%d @%s", m>>24, m>>16&0xff, m>>8&0xff, m&0xff, lengthSet(name, bits))
}

// lengthKeys are the elements of prefixes' sets, by length: each prefix's network address.
func lengthKeys(prefixes []netip.Prefix) *[33][][4]byte {
	out := new([33][][4]byte)
	for _, p := range prefixes {
		out[p.Bits()] = append(out[p.Bits()], p.Masked().Addr().As4())
	}
	return out
}

// loadPrefixSetNetlink creates the sets of list name in hairpin's table, one per prefix length, and fills
// them, all in one netlink transaction: they appear complete or not at all. The batch is megabytes for a big
// list, more than a netlink socket sends by default, so the send buffer is raised for it (root may).
func loadPrefixSetNetlink(name string, prefixes []netip.Prefix) error {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return errfmt.Errorf("netlink: %w", err)
	}
	defer conn.Close()
	b := &batch{fam: ipv4}
	byLen := lengthKeys(prefixes)
	for _, bits := range prefixLengths(prefixes) {
		b.addSet(setSpec{name: lengthSet(name, bits), typ: setTypes[ipv4.addrType]})
	}
	for bits, keys := range byLen {
		elems := make([]elem, len(keys))
		for j := range keys {
			elems[j] = elem{key: keys[j][:]}
		}
		b.elems(unix.NFT_MSG_NEWSETELEM, lengthSet(name, bits), elems)
	}
	if b.err == nil {
		b.err = sendBatch(conn, 0, b.msgs)
	}
	if b.err != nil {
		return errfmt.Errorf("loading %d prefixes into the sets of %s: %w", len(prefixes), name, b.err)
	}
	return nil
}

// LoadPrefixSet is the load Apply makes for an allow list that changed: it creates the sets of list name in
// hairpin's table (which must exist) holding prefixes, over netlink. The benchmark times it against nft -f.
func LoadPrefixSet(name string, prefixes []netip.Prefix) error {
	return loadPrefixSetNetlink(name, prefixes)
}
