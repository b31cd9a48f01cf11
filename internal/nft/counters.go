package nft

import (
	"encoding/binary"
	"maps"
	"slices"
	"sort"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// portsByProto is the sorted ports of each protocol's counters.
func portsByProto(perPort map[string]map[uint16]backend.Counter) map[string][]uint16 {
	out := map[string][]uint16{}
	for proto, ports := range perPort {
		s := slices.Collect(maps.Keys(ports))
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out[proto] = s
	}
	return out
}

// nftaSetElemExpressions is NFTA_SET_ELEM_EXPRESSIONS, the list of an element's expressions when its set
// declares more than one (golang.org/x/sys has no name for it).
const nftaSetElemExpressions = 10

// readCountersNetlink reads the counting sets over netlink: the counter of every port, by protocol, as
// `nft -j list set` shows them (TestCountersNetlinkMatchNft), without an nft process per set each time the
// status page or the metrics are read. A missing table or set reads as empty.
func readCountersNetlink(conn *netlink.Conn) (map[string]map[uint16]backend.Counter, error) {
	out := map[string]map[uint16]backend.Counter{}
	for _, proto := range protocols {
		ports, err := setCounters(conn, countSetBase+proto)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errfmt.Errorf("reading counters of set %s%s: %w", countSetBase, proto, err)
		}
		out[proto] = ports
	}
	return out, nil
}

// setCounters reads the elements of counting set name in table ip hairpin, each port with its counter (zero
// when the element has none).
func setCounters(conn *netlink.Conn, name string) (map[uint16]backend.Counter, error) {
	a := &attrs{}
	a.str(unix.NFTA_SET_ELEM_LIST_TABLE, Table)
	a.str(unix.NFTA_SET_ELEM_LIST_SET, name)
	rs, err := dump(conn, ipv4.af, unix.NFT_MSG_GETSETELEM, a)
	if err != nil {
		return nil, err
	}
	out := map[uint16]backend.Counter{}
	for _, r := range rs {
		countElems(r.attrs, out)
	}
	return out, nil
}

// countElems adds to out the port and counter of every element in b, the attributes of one NEWSETELEM answer.
func countElems(b []byte, out map[uint16]backend.Counter) {
	list, _ := attr(b, unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	eachAttr(list, func(typ uint16, e []byte) {
		k := dataValue(e, unix.NFTA_SET_ELEM_KEY)
		if typ != unix.NFTA_LIST_ELEM || len(k) < 2 {
			return
		}
		var c backend.Counter
		// One expression comes as NFTA_SET_ELEM_EXPR, several as a list of them.
		eachAttr(e, func(typ uint16, d []byte) {
			switch typ {
			case unix.NFTA_SET_ELEM_EXPR:
				counterOf(d, &c)
			case nftaSetElemExpressions:
				eachAttr(d, func(_ uint16, x []byte) { counterOf(x, &c) })
			}
		})
		out[uint16(k[0])<<8|uint16(k[1])] = c
	})
}

// counterOf reads expression x into c when it is a counter.
func counterOf(x []byte, c *backend.Counter) {
	if attrString(x, unix.NFTA_EXPR_NAME) != "counter" {
		return
	}
	d, _ := attr(x, unix.NFTA_EXPR_DATA)
	if b, ok := attr(d, unix.NFTA_COUNTER_BYTES); ok && len(b) == 8 {
		c.Bytes = binary.BigEndian.Uint64(b)
	}
	if p, ok := attr(d, unix.NFTA_COUNTER_PACKETS); ok && len(p) == 8 {
		c.Packets = binary.BigEndian.Uint64(p)
	}
}

// countedPortsNetlink lists the counting sets' ports over netlink: an apply runs no nft process to read
// them (a `nft -j list set` of each set cost two process starts and, with traffic on tens of thousands of
// ports, a JSON document of them).
func countedPortsNetlink(conn *netlink.Conn) (map[string][]uint16, error) {
	out := map[string][]uint16{}
	for _, proto := range protocols {
		keys, err := setKeys(conn, ipv4, countSetBase+proto)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, errfmt.Errorf("set %s%s: %w", countSetBase, proto, err)
		}
		for _, k := range keys {
			if len(k) >= 2 {
				out[proto] = append(out[proto], uint16(k[0])<<8|uint16(k[1]))
			}
		}
		slices.Sort(out[proto])
	}
	return out, nil
}
