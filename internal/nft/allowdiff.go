package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// A reload whose allow lists changed, and nothing else, sends only the difference: the prefixes gone and the
// prefixes new, as element deletions and additions on each list's sets in place (one per prefix length), and
// the list's record (the counter beside them, prefixset.go) rewritten, all in one netlink batch. The batch carries the ruleset's
// generation ID read before the records were checked, so the kernel refuses it (ERESTART) if anything at all
// was committed in between; and it is only built when the record of the set in place says it holds exactly
// the prefixes the change starts from. On any doubt the caller applies fully.

// errStaleRecord says the set in place is not known to hold what a change starts from.
var errStaleRecord = errors.New("no set of the allow list is recorded as holding the installed prefixes")

// maxEditPrefixes bounds the prefixes one in-place change sends; a bigger change is a full load, which then
// costs about the same.
const maxEditPrefixes = 50_000

// setEdit is one allow list's change in place: the sets of list name go from holding from to holding to.
type setEdit struct {
	id, name       string
	removed, added []netip.Prefix
	to             []netip.Prefix
	digest         uint64 // prefixDigest(to)
}

// SetAllowPrefixes implements backend.PrefixUpdater.
func (b *Backend) SetAllowPrefixes(ctx context.Context, changes []plan.PrefixChange) error {
	// The generation first: whatever is read after it (ownership, records) holds when the batch commits at it.
	gen, err := b.k.generation(ctx)
	if err == nil && gen == 0 {
		err = errors.New("the kernel gave generation 0, which a batch cannot be guarded by") // 0 means "no check"
	}
	if err != nil {
		return errfmt.Errorf("changing allow lists in place (a full apply is needed): %w", err)
	}
	if err := ipv4.mustOwn(b.k.tableState(ctx, ipv4)); err != nil {
		return errfmt.Errorf("changing allow lists in place (a full apply is needed): %w", err)
	}
	objs, records, err := b.k.records(ctx)
	if err != nil {
		return errfmt.Errorf("changing allow lists in place (a full apply is needed): %w", err)
	}
	sets := map[string]bool{}
	for _, n := range objs["set"] {
		sets[n] = true
	}
	var edits []setEdit
	total := 0
	for _, c := range changes {
		if len(c.From) == 0 || len(c.To) == 0 {
			return errfmt.Errorf("allow list %s: an empty list is a change of rules (a full apply is needed)", c.ID)
		}
		from, name := b.summary(c.ID, c.From), ""
		for _, n := range prefixSetNames(c.ID) {
			if slices.Contains(objs["counter"], n) && records[n] == from.digest && hasSets(sets, n, from.lengths) {
				name = n
				break
			}
		}
		if name == "" {
			return errfmt.Errorf("allow list %s (a full apply is needed): %w", c.ID, errStaleRecord)
		}
		to := b.summary(c.ID, c.To)
		if !slices.Equal(from.lengths, to.lengths) {
			// One rule per length: a length that comes or goes is a change of rules.
			return errfmt.Errorf("allow list %s: the prefix lengths it holds changed: %w", c.ID, backend.ErrRulesChange)
		}
		removed, added := plan.DiffPrefixes(c.From, c.To)
		total += len(removed) + len(added)
		edits = append(edits, setEdit{id: c.ID, name: name, removed: removed, added: added, to: c.To, digest: to.digest})
	}
	if total > maxEditPrefixes {
		return errfmt.Errorf("%d prefixes changed, more than %d (a full apply is needed)", total, maxEditPrefixes)
	}
	if err := b.k.editSets(ctx, gen, edits); err != nil {
		b.noteGeneration(0)
		return errfmt.Errorf("changing allow lists in place (a full apply is needed): %w", err)
	}
	// The batch was the one commit since gen: the sets are known to hold their lists now if they were then.
	b.mu.Lock()
	if b.lastGen == gen {
		b.lastGen = nextGen(gen)
	} else {
		b.lastGen = 0
	}
	b.mu.Unlock()
	return nil
}

// nextGen is the generation ID after one commit from gen: the kernel counts up and skips 0.
func nextGen(gen uint32) uint32 {
	if gen+1 == 0 {
		return 1
	}
	return gen + 1
}

// Netlink constants of nf_tables.h and libnftnl that golang.org/x/sys does not carry.
const (
	nftaObjUserdata = 8 // NFTA_OBJ_USERDATA
	udataObjComment = 0 // NFTNL_UDATA_OBJ_COMMENT
)

// generationNetlink reads the ruleset's generation ID: it changes with every commit in the namespace.
func generationNetlink(conn *netlink.Conn) (uint32, error) {
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, errfmt.Errorf("reading the ruleset generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("reading the ruleset generation: no generation in the kernel's answer")
}

// editSetsNetlink sends edits as one batch that the kernel commits only if the ruleset is still at generation
// gen (NFNL_BATCH_GENID): per list, its record counter deleted and added with the new digest, the network
// addresses of the removed prefixes deleted from their length's set and those of the added ones added, so the
// sets end exactly as a load of the new list would leave them.
func editSetsNetlink(conn *netlink.Conn, gen uint32, edits []setEdit) error {
	var msgs []netlink.Message
	add := func(typ uint16, flags netlink.HeaderFlags, ae *netlink.AttributeEncoder) error {
		data, err := ae.Encode()
		if err != nil {
			return err
		}
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | int(typ)), Flags: netlink.Request | netlink.Acknowledge | flags},
			Data:   append([]byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, data...),
		})
		return nil
	}
	for _, e := range edits {
		del := encoder()
		del.String(unix.NFTA_OBJ_TABLE, Table)
		del.String(unix.NFTA_OBJ_NAME, e.name)
		del.Uint32(unix.NFTA_OBJ_TYPE, unix.NFT_OBJECT_COUNTER)
		if err := add(unix.NFT_MSG_DELOBJ, 0, del); err != nil {
			return err
		}
		rec := encoder()
		rec.String(unix.NFTA_OBJ_TABLE, Table)
		rec.String(unix.NFTA_OBJ_NAME, e.name)
		rec.Uint32(unix.NFTA_OBJ_TYPE, unix.NFT_OBJECT_COUNTER)
		rec.Nested(unix.NFTA_OBJ_DATA, func(nae *netlink.AttributeEncoder) error {
			nae.Uint64(unix.NFTA_COUNTER_BYTES, uint64(len(e.to)))
			nae.Uint64(unix.NFTA_COUNTER_PACKETS, e.digest)
			return nil
		})
		comment := recordComment(e.id)
		rec.Bytes(nftaObjUserdata, append([]byte{udataObjComment, byte(len(comment) + 1)}, append([]byte(comment), 0)...))
		if err := add(unix.NFT_MSG_NEWOBJ, netlink.Create, rec); err != nil {
			return err
		}
		// Deletions first, so that the batch's messages read as the change they make.
		for _, step := range []struct {
			typ      uint16
			flags    netlink.HeaderFlags
			prefixes []netip.Prefix
		}{
			{unix.NFT_MSG_DELSETELEM, 0, e.removed},
			{unix.NFT_MSG_NEWSETELEM, netlink.Create, e.added},
		} {
			for bits, keys := range lengthKeys(step.prefixes) {
				for i := 0; i < len(keys); i += prefixesPerMessage {
					ae := encoder()
					ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
					ae.String(unix.NFTA_SET_ELEM_LIST_SET, lengthSet(e.name, bits))
					chunk := keys[i:min(i+prefixesPerMessage, len(keys))]
					ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(list *netlink.AttributeEncoder) error {
						for _, k := range chunk {
							list.Nested(unix.NFTA_LIST_ELEM, func(elem *netlink.AttributeEncoder) error {
								elem.Nested(unix.NFTA_SET_ELEM_KEY, func(key *netlink.AttributeEncoder) error {
									key.Bytes(unix.NFTA_DATA_VALUE, k[:])
									return nil
								})
								return nil
							})
						}
						return nil
					})
					if err := add(step.typ, step.flags, ae); err != nil {
						return err
					}
				}
			}
		}
	}
	return sendBatch(conn, gen, msgs)
}

func encoder() *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	return ae
}

// sendBatch sends msgs between a batch begin carrying gen and a batch end, and reads the kernel's answer to
// each: an acknowledgement, or the error that undid the whole batch.
func sendBatch(conn *netlink.Conn, gen uint32, msgs []netlink.Message) error {
	begin := encoder()
	begin.Uint32(unix.NFNL_BATCH_GENID, gen)
	genAttr, err := begin.Encode()
	if err != nil {
		return err
	}
	// struct nfgenmsg of a batch message: the subsystem in res_id, big-endian.
	batchHdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, nfnlSubsysNFTables}
	all := make([]netlink.Message, 0, len(msgs)+2)
	all = append(all, netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data: append(append([]byte{}, batchHdr...), genAttr...)})
	all = append(all, msgs...)
	all = append(all, netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data: batchHdr})
	size := 0
	for _, m := range all {
		size += 16 + len(m.Data)
	}
	if size > 128<<10 {
		if err := raiseSndbuf(conn, size+64<<10); err != nil {
			return err
		}
	}
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	defer conn.SetReadDeadline(time.Time{})
	if _, err := conn.SendMessages(all); err != nil {
		return err
	}
	// The kernel answers every message in order, an acknowledgement or an error, after the whole batch: the
	// acknowledgements before the first error count the messages it took.
	for acked := 0; acked < len(msgs); {
		for _, err := range conn.ReceiveIter() {
			if err != nil {
				if errors.Is(err, unix.ERESTART) {
					return errfmt.Errorf("the ruleset changed meanwhile: %w", err)
				}
				return &refusal{index: acked, err: err}
			}
			acked++
		}
	}
	return nil
}

// refusal is the kernel's refusal of a batch: the index of the first message it refused, and why.
type refusal struct {
	index int
	err   error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// raiseSndbuf lets conn send a batch of size bytes (root may exceed the system's limit).
func raiseSndbuf(conn *netlink.Conn, size int) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	}); err != nil {
		return err
	}
	return serr
}

// SetHolds reports whether set name in hairpin's table holds p's network address (an interval set: has an
// interval starting there or holding it), asking the kernel for that one element: the benchmark polls it to see when a change has reached the
// kernel, at a cost that does not grow with the set. A missing set holds nothing.
func SetHolds(conn *netlink.Conn, name string, p netip.Prefix) (bool, error) {
	ae := encoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, name)
	ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(list *netlink.AttributeEncoder) error {
		list.Nested(unix.NFTA_LIST_ELEM, func(elem *netlink.AttributeEncoder) error {
			elem.Nested(unix.NFTA_SET_ELEM_KEY, func(k *netlink.AttributeEncoder) error {
				k.Bytes(unix.NFTA_DATA_VALUE, ipv4.bytes(p.Masked().Addr()))
				return nil
			})
			return nil
		})
		return nil
	})
	data, err := ae.Encode()
	if err != nil {
		return false, err
	}
	_, err = conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETSETELEM), Flags: netlink.Request},
		Data:   append([]byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, data...),
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, err
}
