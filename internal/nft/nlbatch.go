package nft

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// batch is one nftables transaction as the netlink messages nft itself would send for it, built by hand: the
// apply's whole table (compile.go) goes to the kernel in one batch from hairpin's own socket, without the nft
// binary. Every message asks for an acknowledgement, so sendBatch knows when the kernel is done and which
// message it refused; the kernel commits the batch whole or not at all.
type batch struct {
	fam   family
	msgs  []netlink.Message
	setID uint32
	err   error
	// stmt is the statement the next messages are made of (compile sets it); stmts holds it for each message,
	// so that a refusal names what the kernel refused.
	stmt  string
	stmts []string
}

// msg appends one message of type typ (NFT_MSG_*) on fam's table with the attributes in a.
func (b *batch) msg(typ uint16, flags netlink.HeaderFlags, a *attrs) {
	if a.err != nil && b.err == nil {
		b.err = a.err
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | int(typ)), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   append([]byte{b.fam.af, unix.NFNETLINK_V0, 0, 0}, a.b...),
	})
	b.stmts = append(b.stmts, b.stmt)
}

// attrs appends netlink attributes to a buffer: nft's own encoding (big-endian numbers, NUL-terminated
// strings, nested attributes flagged NLA_F_NESTED), without the allocations of a general encoder, which count
// at 50,000 map elements.
type attrs struct {
	b   []byte
	err error
}

//go:noinline
func (a *attrs) put(typ uint16, data []byte) {
	n := 4 + len(data)
	a.b = binary.NativeEndian.AppendUint16(a.b, uint16(n))
	a.b = binary.NativeEndian.AppendUint16(a.b, typ)
	a.b = append(a.b, data...)
	for ; n%4 != 0; n++ {
		a.b = append(a.b, 0)
	}
}

//go:noinline
func (a *attrs) str(typ uint16, s string) {
	n := 4 + len(s) + 1
	a.b = binary.NativeEndian.AppendUint16(a.b, uint16(n))
	a.b = binary.NativeEndian.AppendUint16(a.b, typ)
	a.b = append(a.b, s...)
	a.b = append(a.b, 0)
	for ; n%4 != 0; n++ {
		a.b = append(a.b, 0)
	}
}

//go:noinline
func (a *attrs) u32(typ uint16, v uint32) { a.put(typ, binary.BigEndian.AppendUint32(nil, v)) }

//go:noinline
func (a *attrs) u64(typ uint16, v uint64) { a.put(typ, binary.BigEndian.AppendUint64(nil, v)) }

// nest opens a nested attribute; end closes the one opened at the offset nest returned.
//
//go:noinline
func (a *attrs) nest(typ uint16) int {
	off := len(a.b)
	a.b = append(a.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(a.b[off+2:], typ|unix.NLA_F_NESTED)
	return off
}

//go:noinline
func (a *attrs) end(off int) {
	n := len(a.b) - off
	if n > 0xffff {
		if a.err == nil {
			a.err = errfmt.Errorf("netlink attribute of %d bytes, more than 65535", n)
		}
		return
	}
	binary.NativeEndian.PutUint16(a.b[off:], uint16(n))
}

// data writes an nft_data value (NFTA_DATA_VALUE inside attribute typ).
//
//go:noinline
func (a *attrs) data(typ uint16, v []byte) {
	n := a.nest(typ)
	a.put(unix.NFTA_DATA_VALUE, v)
	a.end(n)
}

// verdict writes an nft_data verdict (inside attribute typ): code and, for a jump or goto, the chain.
func (a *attrs) verdict(typ uint16, code int32, chain string) {
	n := a.nest(typ)
	v := a.nest(unix.NFTA_DATA_VERDICT)
	a.u32(unix.NFTA_VERDICT_CODE, uint32(code))
	if chain != "" {
		a.str(unix.NFTA_VERDICT_CHAIN, chain)
	}
	a.end(v)
	a.end(n)
}

// The batch's operations, each one message as nft 1.0.6 sends it (nft --debug=mnl): "add" is NLM_F_CREATE
// without NLM_F_EXCL, so an object that exists is kept.

func (b *batch) addTable(comment string) {
	a := &attrs{}
	a.str(nftaTableName, Table)
	a.u32(unix.NFTA_TABLE_FLAGS, 0)
	if comment != "" {
		a.put(nftaTableUserdata, udataString(udataTableComment, comment))
	}
	b.msg(unix.NFT_MSG_NEWTABLE, netlink.Create, a)
}

func (b *batch) delTable() {
	a := &attrs{}
	a.str(nftaTableName, Table)
	b.msg(unix.NFT_MSG_DELTABLE, 0, a)
}

// baseHook is what makes a chain a base chain.
type baseHook struct {
	typ      string
	hook     uint32
	priority int32
	policy   uint32
}

func (b *batch) addChain(name string, base *baseHook) {
	a := &attrs{}
	a.str(unix.NFTA_CHAIN_TABLE, Table)
	a.str(unix.NFTA_CHAIN_NAME, name)
	if base != nil {
		a.str(unix.NFTA_CHAIN_TYPE, base.typ)
		a.u32(unix.NFTA_CHAIN_POLICY, base.policy)
		h := a.nest(unix.NFTA_CHAIN_HOOK)
		a.u32(unix.NFTA_HOOK_HOOKNUM, base.hook)
		a.u32(unix.NFTA_HOOK_PRIORITY, uint32(base.priority))
		a.end(h)
	}
	b.msg(unix.NFT_MSG_NEWCHAIN, netlink.Create, a)
}

// flushChain deletes every rule of chain.
func (b *batch) flushChain(name string) {
	b.named(unix.NFT_MSG_DELRULE, unix.NFTA_RULE_TABLE, unix.NFTA_RULE_CHAIN, name)
}

func (b *batch) delChain(name string) {
	b.named(unix.NFT_MSG_DELCHAIN, unix.NFTA_CHAIN_TABLE, unix.NFTA_CHAIN_NAME, name)
}

// named appends a message of type typ that names one object of hairpin's table: tableAttr and nameAttr are
// the attribute numbers of its kind.
func (b *batch) named(typ, tableAttr, nameAttr uint16, name string) {
	a := &attrs{}
	a.str(tableAttr, Table)
	a.str(nameAttr, name)
	b.msg(typ, 0, a)
}

// addRule appends a rule of the expressions in exprs (each an NFTA_LIST_ELEM, exprList).
func (b *batch) addRule(chain string, exprs *attrs) {
	a := &attrs{b: make([]byte, 0, 64+len(exprs.b))}
	a.str(unix.NFTA_RULE_TABLE, Table)
	a.str(unix.NFTA_RULE_CHAIN, chain)
	n := a.nest(unix.NFTA_RULE_EXPRESSIONS)
	a.b = append(a.b, exprs.b...)
	a.end(n)
	a.err = exprs.err
	b.msg(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.HeaderFlags(unix.NLM_F_APPEND), a)
}

// setType is a set's or map's declared type, as nft encodes it: key (and data) type and length, and the user
// data nft stores beside them, which `nft list` reads back (captured from nft 1.0.6 with --debug=mnl).
type setType struct {
	key, keyLen   uint32
	data, dataLen uint32
	isMap         bool
	udata         []byte
	elem          elemCodec
}

// setSpec is a set or map declaration.
type setSpec struct {
	name    string
	typ     *setType
	flags   uint32 // NFT_SET_*
	counter bool
	timeout uint64 // milliseconds
	size    uint32
}

func (b *batch) addSet(s setSpec) {
	b.setID++
	a := &attrs{}
	a.str(unix.NFTA_SET_TABLE, Table)
	a.str(unix.NFTA_SET_NAME, s.name)
	flags := s.flags
	if s.typ.isMap {
		flags |= unix.NFT_SET_MAP
	}
	a.u32(unix.NFTA_SET_FLAGS, flags)
	a.u32(unix.NFTA_SET_KEY_TYPE, s.typ.key)
	a.u32(unix.NFTA_SET_KEY_LEN, s.typ.keyLen)
	if s.typ.isMap {
		a.u32(unix.NFTA_SET_DATA_TYPE, s.typ.data)
		a.u32(unix.NFTA_SET_DATA_LEN, s.typ.dataLen)
	}
	a.u32(unix.NFTA_SET_ID, b.setID)
	if s.size > 0 {
		d := a.nest(unix.NFTA_SET_DESC)
		a.u32(unix.NFTA_SET_DESC_SIZE, s.size)
		a.end(d)
	}
	if s.timeout > 0 {
		a.u64(unix.NFTA_SET_TIMEOUT, s.timeout)
	}
	a.put(unix.NFTA_SET_USERDATA, s.typ.udata)
	if s.counter {
		e := a.nest(nftaSetExpr)
		a.str(unix.NFTA_EXPR_NAME, "counter")
		a.end(a.nest(unix.NFTA_EXPR_DATA))
		a.end(e)
	}
	b.msg(unix.NFT_MSG_NEWSET, netlink.Create, a)
}

func (b *batch) delSet(name string) {
	b.named(unix.NFT_MSG_DELSET, unix.NFTA_SET_TABLE, unix.NFTA_SET_NAME, name)
}

// flushSet deletes every element of set (or map) name.
func (b *batch) flushSet(name string) {
	b.named(unix.NFT_MSG_DELSETELEM, unix.NFTA_SET_ELEM_LIST_TABLE, unix.NFTA_SET_ELEM_LIST_SET, name)
}

// elem is one set element: its key, for a map its value or verdict, and whether it ends an interval.
type elem struct {
	key, val    []byte
	verdict     int32
	chain       string
	isVerdict   bool
	intervalEnd bool
}

// elemsPerMessage keeps a message's element list under the 65,535 bytes an attribute holds: a DNAT map
// element of IPv6 is under 64 bytes.
const elemsPerMessage = 800

// elems adds (typ NFT_MSG_NEWSETELEM) or deletes (NFT_MSG_DELSETELEM) elements of set name, in messages of
// at most elemsPerMessage elements.
func (b *batch) elems(typ uint16, name string, es []elem) {
	flags := netlink.HeaderFlags(0)
	if typ == unix.NFT_MSG_NEWSETELEM {
		flags = netlink.Create
	}
	for i := 0; i < len(es); i += elemsPerMessage {
		chunk := es[i:min(i+elemsPerMessage, len(es))]
		a := &attrs{b: make([]byte, 0, 64+len(chunk)*56)}
		a.str(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
		a.str(unix.NFTA_SET_ELEM_LIST_SET, name)
		l := a.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		for _, e := range chunk {
			n := a.nest(unix.NFTA_LIST_ELEM)
			if e.intervalEnd {
				a.u32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
			}
			a.data(unix.NFTA_SET_ELEM_KEY, e.key)
			switch {
			case e.isVerdict:
				a.verdict(unix.NFTA_SET_ELEM_DATA, e.verdict, e.chain)
			case e.val != nil:
				a.data(unix.NFTA_SET_ELEM_DATA, e.val)
			}
			a.end(n)
		}
		a.end(l)
		b.msg(typ, flags, a)
	}
}

// addCounter adds a named counter, with its values and comment when given (a record, prefixset.go).
func (b *batch) addCounter(name string, packets, bytes uint64, comment string) {
	a := &attrs{}
	a.str(unix.NFTA_OBJ_TABLE, Table)
	a.str(unix.NFTA_OBJ_NAME, name)
	a.u32(unix.NFTA_OBJ_TYPE, unix.NFT_OBJECT_COUNTER)
	if comment != "" {
		a.put(nftaObjUserdata, udataString(udataObjComment, comment))
	}
	d := a.nest(unix.NFTA_OBJ_DATA)
	a.u64(unix.NFTA_COUNTER_BYTES, bytes)
	a.u64(unix.NFTA_COUNTER_PACKETS, packets)
	a.end(d)
	b.msg(unix.NFT_MSG_NEWOBJ, netlink.Create, a)
}

func (b *batch) delCounter(name string) {
	a := &attrs{}
	a.str(unix.NFTA_OBJ_TABLE, Table)
	a.str(unix.NFTA_OBJ_NAME, name)
	a.u32(unix.NFTA_OBJ_TYPE, unix.NFT_OBJECT_COUNTER)
	b.msg(unix.NFT_MSG_DELOBJ, 0, a)
}

// nftaSetExpr is NFTA_SET_EXPR, a set's expression for every element (its counter).
const nftaSetExpr = 17

// udataString is one libnftnl user-data TLV holding a NUL-terminated string (a table's or object's comment).
func udataString(typ byte, s string) []byte {
	return append(append([]byte{typ, byte(len(s) + 1)}, s...), 0)
}

// Expressions, each an NFTA_LIST_ELEM of a rule's NFTA_RULE_EXPRESSIONS, encoded as nft 1.0.6 encodes the
// statements build.go writes (their bytecode is in nft --debug=netlink; compile.go says which statement gives
// which). Registers: reg 1 is NFT_REG_1 (128 bits), reg 9 the second 32-bit register NFT_REG32_01.
const (
	reg1      = unix.NFT_REG_1
	reg2      = unix.NFT_REG_2
	reg9      = unix.NFT_REG32_01
	regVerdic = unix.NFT_REG_VERDICT
)

// exprList builds a rule's expressions.
type exprList struct{ attrs }

//go:noinline
func (l *exprList) expr(name string, fill func(a *attrs)) {
	n := l.nest(unix.NFTA_LIST_ELEM)
	l.str(unix.NFTA_EXPR_NAME, name)
	if fill != nil {
		d := l.nest(unix.NFTA_EXPR_DATA)
		fill(&l.attrs)
		l.end(d)
	}
	l.end(n)
}

func (l *exprList) meta(key, dreg uint32) {
	l.expr("meta", func(a *attrs) { a.u32(unix.NFTA_META_KEY, key); a.u32(unix.NFTA_META_DREG, dreg) })
}

func (l *exprList) payload(base, offset, length, dreg uint32) {
	l.expr("payload", func(a *attrs) {
		a.u32(unix.NFTA_PAYLOAD_DREG, dreg)
		a.u32(unix.NFTA_PAYLOAD_BASE, base)
		a.u32(unix.NFTA_PAYLOAD_OFFSET, offset)
		a.u32(unix.NFTA_PAYLOAD_LEN, length)
	})
}

func (l *exprList) cmp(op uint32, sreg uint32, v []byte) {
	l.expr("cmp", func(a *attrs) {
		a.u32(unix.NFTA_CMP_SREG, sreg)
		a.u32(unix.NFTA_CMP_OP, op)
		a.data(unix.NFTA_CMP_DATA, v)
	})
}

// bitwise is reg = (reg & mask) ^ xor.
func (l *exprList) bitwise(reg uint32, mask, xor []byte) {
	l.expr("bitwise", func(a *attrs) {
		a.u32(unix.NFTA_BITWISE_SREG, reg)
		a.u32(unix.NFTA_BITWISE_DREG, reg)
		a.u32(unix.NFTA_BITWISE_LEN, uint32(len(mask)))
		a.data(unix.NFTA_BITWISE_MASK, mask)
		a.data(unix.NFTA_BITWISE_XOR, xor)
	})
}

// lookup looks reg up in set; dreg >= 0 makes it a map lookup into dreg (0: a verdict map).
func (l *exprList) lookup(set string, sreg uint32, dreg int) {
	l.expr("lookup", func(a *attrs) {
		a.str(unix.NFTA_LOOKUP_SET, set)
		a.u32(unix.NFTA_LOOKUP_SREG, sreg)
		if dreg >= 0 {
			a.u32(unix.NFTA_LOOKUP_DREG, uint32(dreg))
		}
	})
}

// ctLoad loads ct key into dreg; dir >= 0 is the direction the key needs (0: original).
func (l *exprList) ctLoad(key uint32, dir int, dreg uint32) {
	l.expr("ct", func(a *attrs) {
		a.u32(unix.NFTA_CT_DREG, dreg)
		a.u32(unix.NFTA_CT_KEY, key)
		if dir >= 0 {
			a.put(unix.NFTA_CT_DIRECTION, []byte{byte(dir)})
		}
	})
}

func (l *exprList) ctSet(key, sreg uint32) {
	l.expr("ct", func(a *attrs) { a.u32(unix.NFTA_CT_KEY, key); a.u32(unix.NFTA_CT_SREG, sreg) })
}

func (l *exprList) immediate(dreg uint32, v []byte) {
	l.expr("immediate", func(a *attrs) { a.u32(unix.NFTA_IMMEDIATE_DREG, dreg); a.data(unix.NFTA_IMMEDIATE_DATA, v) })
}

func (l *exprList) verdict(code int32, chain string) {
	l.expr("immediate", func(a *attrs) {
		a.u32(unix.NFTA_IMMEDIATE_DREG, regVerdic)
		a.verdict(unix.NFTA_IMMEDIATE_DATA, code, chain)
	})
}

// nat is snat or dnat (typ NFT_NAT_*) of fam to the address in addr and, when proto != 0, the port in proto.
func (l *exprList) nat(typ uint32, fam family, addr, proto uint32) {
	l.expr("nat", func(a *attrs) {
		a.u32(unix.NFTA_NAT_TYPE, typ)
		a.u32(unix.NFTA_NAT_FAMILY, uint32(fam.af))
		a.u32(unix.NFTA_NAT_REG_ADDR_MIN, addr)
		if proto != 0 {
			a.u32(unix.NFTA_NAT_REG_PROTO_MIN, proto)
		}
	})
}

// dynsetUpdate updates set's element keyed by sreg, with a limit when lim is not nil.
func (l *exprList) dynsetUpdate(set string, sreg uint32, lim *limitSpec) {
	l.expr("dynset", func(a *attrs) {
		a.str(unix.NFTA_DYNSET_SET_NAME, set)
		a.u32(unix.NFTA_DYNSET_OP, unix.NFT_DYNSET_OP_UPDATE)
		a.u32(unix.NFTA_DYNSET_SREG_KEY, sreg)
		if lim != nil {
			e := a.nest(unix.NFTA_DYNSET_EXPR)
			a.str(unix.NFTA_EXPR_NAME, "limit")
			d := a.nest(unix.NFTA_EXPR_DATA)
			a.u64(unix.NFTA_LIMIT_RATE, lim.rate)
			a.u64(unix.NFTA_LIMIT_UNIT, lim.unit)
			a.u32(unix.NFTA_LIMIT_BURST, lim.burst)
			a.u32(unix.NFTA_LIMIT_TYPE, unix.NFT_LIMIT_PKTS)
			if lim.over {
				a.u32(unix.NFTA_LIMIT_FLAGS, unix.NFT_LIMIT_F_INV)
			}
			a.end(d)
			a.end(e)
		}
	})
}

// limitSpec is a packet rate limit: rate packets per unit seconds, a burst of burst packets; over matches
// above the rate.
type limitSpec struct {
	rate, unit uint64
	burst      uint32
	over       bool
}

func (l *exprList) objrefCounter(name string) {
	l.expr("objref", func(a *attrs) {
		a.u32(unix.NFTA_OBJREF_IMM_TYPE, unix.NFT_OBJECT_COUNTER)
		a.str(unix.NFTA_OBJREF_IMM_NAME, name)
	})
}
