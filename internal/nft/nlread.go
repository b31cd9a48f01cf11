package nft

import (
	"bytes"
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// What the backend reads of the kernel's nftables state, over netlink: chains, sets, named counters, a set's
// elements and a chain's rules, each one dump request. Only the attributes hairpin uses are decoded and any
// other is skipped, so a rule of someone else's with an expression hairpin does not know reads fine.

// reply is one object of a dump: its family (nfgenmsg) and attributes.
type reply struct {
	af    byte
	attrs []byte
}

// dump asks for every object of kind typ (NFT_MSG_GET*) in family af (0: all) that matches the attributes in a.
func dump(conn *netlink.Conn, af byte, typ uint16, a *attrs) ([]reply, error) {
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | int(typ)), Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{af, unix.NFNETLINK_V0, 0, 0}, a.b...),
	})
	if err != nil {
		return nil, err
	}
	out := make([]reply, 0, len(msgs))
	for _, m := range msgs {
		if len(m.Data) >= 4 {
			out = append(out, reply{af: m.Data[0], attrs: m.Data[4:]})
		}
	}
	return out, nil
}

// eachAttr calls fn with the type (without flags) and data of every attribute in b.
func eachAttr(b []byte, fn func(typ uint16, data []byte)) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:n])
		n = (n + 3) &^ 3
		if n >= len(b) {
			return
		}
		b = b[n:]
	}
}

// attr returns the data of the first attribute of type typ in b.
func attr(b []byte, typ uint16) (data []byte, ok bool) {
	eachAttr(b, func(t uint16, d []byte) {
		if t == typ && !ok {
			data, ok = d, true
		}
	})
	return data, ok
}

func attrString(b []byte, typ uint16) string {
	d, _ := attr(b, typ)
	if i := bytes.IndexByte(d, 0); i >= 0 {
		d = d[:i]
	}
	return string(d)
}

// attrU32 reads a big-endian number; def when the attribute is missing.
func attrU32(b []byte, typ uint16, def int64) int64 {
	d, ok := attr(b, typ)
	if !ok || len(d) < 4 {
		return def
	}
	return int64(binary.BigEndian.Uint32(d))
}

// dataValue reads an nft_data value nested in attribute typ.
func dataValue(b []byte, typ uint16) []byte {
	d, _ := attr(b, typ)
	v, _ := attr(d, unix.NFTA_DATA_VALUE)
	return v
}

// chainInfo is a chain as listed: hook and policy are -1 for a regular chain.
type chainInfo struct {
	af           byte
	table, name  string
	hook, policy int64
}

// listChains lists the chains of family af (0: every family).
func listChains(conn *netlink.Conn, af byte) ([]chainInfo, error) {
	rs, err := dump(conn, af, unix.NFT_MSG_GETCHAIN, &attrs{})
	if err != nil {
		return nil, err
	}
	out := make([]chainInfo, 0, len(rs))
	for _, r := range rs {
		c := chainInfo{af: r.af, table: attrString(r.attrs, unix.NFTA_CHAIN_TABLE), name: attrString(r.attrs, unix.NFTA_CHAIN_NAME), hook: -1,
			policy: attrU32(r.attrs, unix.NFTA_CHAIN_POLICY, -1)}
		if h, ok := attr(r.attrs, unix.NFTA_CHAIN_HOOK); ok {
			c.hook = attrU32(h, unix.NFTA_HOOK_HOOKNUM, -1)
		}
		out = append(out, c)
	}
	return out, nil
}

// listSets names the sets and maps of hairpin's table of fam.
func listSets(conn *netlink.Conn, fam family) ([]string, error) {
	a := &attrs{}
	a.str(unix.NFTA_SET_TABLE, Table)
	rs, err := dump(conn, fam.af, unix.NFT_MSG_GETSET, a)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		out = append(out, attrString(r.attrs, unix.NFTA_SET_NAME))
	}
	return out, nil
}

// objInfo is a named object: its type (NFT_OBJECT_*) and, for a counter, its packet count.
type objInfo struct {
	name    string
	typ     int64
	packets uint64
}

// listObjects lists the named objects of hairpin's table of fam.
func listObjects(conn *netlink.Conn, fam family) ([]objInfo, error) {
	a := &attrs{}
	a.str(unix.NFTA_OBJ_TABLE, Table)
	rs, err := dump(conn, fam.af, unix.NFT_MSG_GETOBJ, a)
	if err != nil {
		return nil, err
	}
	var out []objInfo
	for _, r := range rs {
		o := objInfo{name: attrString(r.attrs, unix.NFTA_OBJ_NAME), typ: attrU32(r.attrs, unix.NFTA_OBJ_TYPE, -1)}
		if d, ok := attr(r.attrs, unix.NFTA_OBJ_DATA); ok && o.typ == unix.NFT_OBJECT_COUNTER {
			if p, ok := attr(d, unix.NFTA_COUNTER_PACKETS); ok && len(p) == 8 {
				o.packets = binary.BigEndian.Uint64(p)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// setKeys lists the keys of the elements of set name in hairpin's table of fam (a missing set: ENOENT).
func setKeys(conn *netlink.Conn, fam family, name string) ([][]byte, error) {
	a := &attrs{}
	a.str(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
	a.str(unix.NFTA_SET_ELEM_LIST_SET, name)
	rs, err := dump(conn, fam.af, unix.NFT_MSG_GETSETELEM, a)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, r := range rs {
		list, _ := attr(r.attrs, unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		eachAttr(list, func(typ uint16, e []byte) {
			if typ == unix.NFTA_LIST_ELEM {
				if k := dataValue(e, unix.NFTA_SET_ELEM_KEY); k != nil {
					out = append(out, bytes.Clone(k))
				}
			}
		})
	}
	return out, nil
}

// exprInfo is what the forward-chain check reads of an expression: its name and registers, ct's key, cmp's
// operator, a bitwise mask or compared value, and an immediate verdict.
type exprInfo struct {
	name       string
	dreg, sreg int64
	key, op    int64
	data       []byte
	verdict    int64
	chain      string
}

// listRules lists the rules of chain in table of family af, each as its expressions.
func listRules(conn *netlink.Conn, af byte, table, chain string) ([][]exprInfo, error) {
	a := &attrs{}
	a.str(unix.NFTA_RULE_TABLE, table)
	a.str(unix.NFTA_RULE_CHAIN, chain)
	rs, err := dump(conn, af, unix.NFT_MSG_GETRULE, a)
	if err != nil {
		return nil, err
	}
	out := make([][]exprInfo, 0, len(rs))
	for _, r := range rs {
		out = append(out, decodeRule(r.attrs))
	}
	return out, nil
}

// decodeRule reads a rule's expressions from its attributes.
func decodeRule(b []byte) []exprInfo {
	var rule []exprInfo
	list, _ := attr(b, unix.NFTA_RULE_EXPRESSIONS)
	eachAttr(list, func(typ uint16, e []byte) {
		if typ != unix.NFTA_LIST_ELEM {
			return
		}
		x := exprInfo{name: attrString(e, unix.NFTA_EXPR_NAME), dreg: -1, sreg: -1, key: -1, op: -1, verdict: -1}
		d, _ := attr(e, unix.NFTA_EXPR_DATA)
		switch x.name {
		case "ct":
			x.dreg, x.sreg, x.key = attrU32(d, unix.NFTA_CT_DREG, -1), attrU32(d, unix.NFTA_CT_SREG, -1), attrU32(d, unix.NFTA_CT_KEY, -1)
		case "bitwise":
			x.dreg, x.sreg, x.data = attrU32(d, unix.NFTA_BITWISE_DREG, -1), attrU32(d, unix.NFTA_BITWISE_SREG, -1), dataValue(d, unix.NFTA_BITWISE_MASK)
		case "cmp":
			x.sreg, x.op, x.data = attrU32(d, unix.NFTA_CMP_SREG, -1), attrU32(d, unix.NFTA_CMP_OP, -1), dataValue(d, unix.NFTA_CMP_DATA)
		case "immediate":
			x.dreg = attrU32(d, unix.NFTA_IMMEDIATE_DREG, -1)
			data, _ := attr(d, unix.NFTA_IMMEDIATE_DATA)
			if v, ok := attr(data, unix.NFTA_DATA_VERDICT); ok {
				x.verdict = int64(int32(attrU32(v, unix.NFTA_VERDICT_CODE, 0)))
				x.chain = attrString(v, unix.NFTA_VERDICT_CHAIN)
			}
		}
		rule = append(rule, x)
	})
	return rule
}
