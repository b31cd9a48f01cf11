package nft

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// An allow list's prefixes live in a set named after their content (prefixSetName). A list that did not
// change keeps its set, so an apply or a resync does not send 100,000 prefixes again; a list that changed
// gets a new set, loaded over netlink before the transaction that points the rules at it, and the old set
// goes in that same transaction. Loading over netlink skips nft's parser and interval merging, which take
// seconds for a country list.

// prefixSetName is the set holding s's prefixes: the set ID and the first 8 bytes of a hash of the prefixes.
func prefixSetName(s plan.AllowSet) string {
	h := sha256.New()
	var b [5]byte
	for _, p := range s.Prefixes {
		a := p.Addr().As4()
		copy(b[:4], a[:])
		b[4] = byte(p.Bits())
		h.Write(b[:])
	}
	return fmt.Sprintf("%s%s_%s", setAllowBase, s.ID, hex.EncodeToString(h.Sum(nil)[:8]))
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
	conn, err := gnft.New(gnft.WithSockOptions(func(c *netlink.Conn) error {
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf)
		}); err != nil {
			return err
		}
		return serr
	}))
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

// loadPrefixSetTx is the same load as one knftables transaction, for the fake kernel.
func loadPrefixSetTx(ctx context.Context, run func(context.Context, *knftables.Transaction) error, tx *knftables.Transaction, name string, prefixes []netip.Prefix) error {
	keys := make([]string, len(prefixes))
	for i, p := range prefixes {
		keys[i] = p.String()
	}
	tx.Add(&knftables.Set{Name: name, Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}})
	for _, k := range keys {
		tx.Add(&knftables.Element{Set: name, Key: []string{k}})
	}
	return run(ctx, tx)
}

// LoadPrefixSet is the load Apply makes for an allow list that changed: it creates the interval set name in
// hairpin's table (which must exist) holding prefixes, over netlink. The benchmark times it against nft -f.
func LoadPrefixSet(name string, prefixes []netip.Prefix) error {
	return loadPrefixSetNetlink(name, prefixes)
}
