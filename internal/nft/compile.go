package nft

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// compile turns the script the apply builds for fam's table (build.go, guard.go, nft.go: the script model's text,
// what `hairpin show` prints) into one netlink batch, the messages nft 1.0.6 sends for it. It knows exactly
// the statements those builders write and refuses any other, so a new match or object in a builder fails
// TestCompileMatchesNft (which applies both ways and compares `nft list table`) until it is taught here.
//
// fresh says the table does not exist yet: everything in it is then created by this batch, so its flushes are
// left out. A batch that flushes or deletes makes the kernel wait for an RCU grace period before the socket
// that sent it can close (about 14 ms); a first apply has nothing to flush.
func compile(b *batch, script string, fresh bool) error {
	c := &compiler{b: b, sets: map[string]setSpec{}, fresh: fresh}
	for line := range strings.Lines(script) {
		if err := c.line(strings.TrimSuffix(line, "\n")); err != nil {
			return errfmt.Errorf("compiling %.120q: %w", line, err)
		}
	}
	c.flushRun()
	return b.err
}

type compiler struct {
	b     *batch
	sets  map[string]setSpec
	fresh bool
	// run gathers consecutive element additions to one set into one message list.
	runSet  string
	runStmt string
	run     []elem
	runNets []netip.Prefix
}

func (c *compiler) line(line string) error {
	c.b.stmt = line
	verb, rest, _ := strings.Cut(line, " ")
	kind, rest, _ := strings.Cut(rest, " ")
	fam, rest, _ := strings.Cut(rest, " ")
	table, rest, _ := strings.Cut(rest, " ")
	if fam != c.b.fam.name || table != Table {
		return errfmt.Errorf("not table %s %s", c.b.fam.name, Table)
	}
	if verb == "add" && kind == "element" {
		return c.addElement(rest)
	}
	c.flushRun()
	name, body, _ := strings.Cut(rest, " ")
	switch verb + " " + kind {
	case "add table":
		if name != "" {
			comment, ok := tableOptions(name + " " + body)
			if !ok {
				return errfmt.Errorf("table options %q", rest)
			}
			c.b.addTable(comment)
			return nil
		}
		c.b.addTable("")
	case "delete table":
		c.b.delTable()
	case "add chain":
		return c.addChain(name, body)
	case "flush chain":
		if !c.fresh {
			c.b.flushChain(name)
		}
	case "delete chain":
		c.b.delChain(name)
	case "add set", "add map":
		return c.addSet(name, body)
	case "flush set", "flush map":
		if !c.fresh {
			c.b.flushSet(name)
		}
	case "delete set", "delete map":
		c.b.delSet(name)
	case "delete element":
		s, ok := c.sets[name]
		if !ok {
			return errfmt.Errorf("set %s not declared before", name)
		}
		es, err := c.elements(s, body)
		if err != nil {
			return err
		}
		c.b.elems(unix.NFT_MSG_DELSETELEM, name, es)
	case "add counter":
		return c.addCounter(name, body)
	case "delete counter":
		c.b.delCounter(name)
	case "add rule":
		exprs, err := compileRule(c.b.fam, body)
		if err != nil {
			return err
		}
		c.b.addRule(name, &exprs.attrs)
	default:
		return errfmt.Errorf("unknown statement %s %s", verb, kind)
	}
	return nil
}

// tableOptions reads a table's options, `{ comment "..." ; }`, the one option the builders write.
func tableOptions(opts string) (string, bool) {
	q, ok := strings.CutPrefix(opts, "{ comment ")
	if !ok {
		return "", false
	}
	if q, ok = strings.CutSuffix(q, " ; }"); !ok {
		return "", false
	}
	return unquoteAll(q)
}

// unquoteAll is the string q quotes, and whether q is one whole double-quoted string.
func unquoteAll(q string) (string, bool) {
	if p, err := strconv.QuotedPrefix(q); err != nil || p != q || q[0] != '"' {
		return "", false
	}
	s, err := strconv.Unquote(q)
	return s, err == nil
}

// addCounter adds a named counter with the options the builders write: `{ [packets N bytes N ;] [comment "..." ;] }`.
func (c *compiler) addCounter(name, body string) error {
	if body == "" {
		c.b.addCounter(name, 0, 0, "")
		return nil
	}
	packets, bytes, comment, ok := counterOptions(body)
	if !ok {
		return errfmt.Errorf("counter options %q", body)
	}
	c.b.addCounter(name, packets, bytes, comment)
	return nil
}

// counterOptions reads a counter's options: its values (0 when not given) and comment ("" when not given).
func counterOptions(body string) (packets, bytes uint64, comment string, ok bool) {
	rest, found := strings.CutPrefix(body, "{")
	if !found {
		return 0, 0, "", false
	}
	if rest, found = strings.CutSuffix(rest, " }"); !found {
		return 0, 0, "", false
	}
	if values, found := strings.CutPrefix(rest, " packets "); found {
		p, values, found1 := strings.Cut(values, " bytes ")
		b, after, found2 := strings.Cut(values, " ;")
		var perr, berr error
		packets, perr = strconv.ParseUint(p, 10, 64)
		bytes, berr = strconv.ParseUint(b, 10, 64)
		if !found1 || !found2 || perr != nil || berr != nil {
			return 0, 0, "", false
		}
		rest = after
	}
	if quoted, found := strings.CutPrefix(rest, " comment "); found {
		q, err := strconv.QuotedPrefix(quoted)
		if err != nil {
			return 0, 0, "", false
		}
		if rest, found = strings.CutPrefix(quoted[len(q):], " ;"); !found {
			return 0, 0, "", false
		}
		if comment, found = unquoteAll(q); !found {
			return 0, 0, "", false
		}
	}
	if rest != "" {
		return 0, 0, "", false
	}
	return packets, bytes, comment, true
}

// Verdicts and the conntrack direction, from the kernel's netfilter.h and nf_conntrack_tuple_common.h.
const (
	nfDrop        = 0
	nfAccept      = 1
	ctDirOriginal = 0
)

var (
	hooks      = map[string]uint32{"prerouting": unix.NF_INET_PRE_ROUTING, "input": unix.NF_INET_LOCAL_IN, "forward": unix.NF_INET_FORWARD, "output": unix.NF_INET_LOCAL_OUT, "postrouting": unix.NF_INET_POST_ROUTING}
	priorities = map[string]int32{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
	policies   = map[string]uint32{"accept": nfAccept, "drop": nfDrop}
)

// addChain: "NAME" or "NAME { type T hook H priority P ; policy accept ; }".
func (c *compiler) addChain(name, body string) error {
	if body == "" {
		c.b.addChain(name, nil)
		return nil
	}
	opts, ok := braced(body)
	if !ok {
		return errfmt.Errorf("chain options %q", body)
	}
	var base baseHook
	base.policy = nfAccept
	var haveHook bool
	for _, clause := range opts {
		f := strings.Fields(clause)
		switch {
		case len(f) >= 6 && f[0] == "type" && f[2] == "hook" && f[4] == "priority":
			h, ok := hooks[f[3]]
			if !ok {
				return errfmt.Errorf("hook %q", f[3])
			}
			p, err := priority(f[5:])
			if err != nil {
				return err
			}
			base.typ, base.hook, base.priority, haveHook = f[1], h, p, true
		case len(f) == 2 && f[0] == "policy":
			p, ok := policies[f[1]]
			if !ok {
				return errfmt.Errorf("policy %q", f[1])
			}
			base.policy = p
		default:
			return errfmt.Errorf("chain option %q", clause)
		}
	}
	if !haveHook {
		return errfmt.Errorf("chain options %q without a hook", body)
	}
	c.b.addChain(name, &base)
	return nil
}

// priority reads "-100", "filter", "filter - 5" or "dstnat + 10".
func priority(f []string) (int32, error) {
	base, err := strconv.ParseInt(f[0], 10, 32)
	if err != nil {
		p, ok := priorities[f[0]]
		if !ok {
			return 0, errfmt.Errorf("priority %q", strings.Join(f, " "))
		}
		base = int64(p)
	}
	switch {
	case len(f) == 1:
		return int32(base), nil
	case len(f) == 3 && (f[1] == "-" || f[1] == "+"):
		d, err := strconv.ParseInt(f[2], 10, 32)
		if err != nil {
			return 0, err
		}
		if f[1] == "-" {
			d = -d
		}
		return int32(base + d), nil
	}
	return 0, errfmt.Errorf("priority %q", strings.Join(f, " "))
}

// braced splits "{ A ; B ; }" into its clauses.
func braced(body string) ([]string, bool) {
	inner, ok := strings.CutPrefix(body, "{ ")
	if !ok {
		return nil, false
	}
	inner, ok = strings.CutSuffix(inner, " }")
	if !ok {
		return nil, false
	}
	var out []string
	for _, c := range strings.Split(inner, " ;") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out, true
}

// addSet: "NAME { type T ; [counter ;] [flags F ;] [timeout Ns ;] [size N ;] [elements = { ... } ;] }".
func (c *compiler) addSet(name, body string) error {
	var elements string
	if i := strings.Index(body, " elements = { "); i >= 0 {
		j := strings.LastIndex(body, " } ; }")
		if j < i {
			return errfmt.Errorf("set elements of %s", name)
		}
		elements = body[i+len(" elements = { ") : j]
		body = body[:i] + " }"
	}
	opts, ok := braced(body)
	if !ok {
		return errfmt.Errorf("set options %q", body)
	}
	s := setSpec{name: name}
	for _, clause := range opts {
		key, val, _ := strings.Cut(clause, " ")
		switch key {
		case "type":
			s.typ = setTypes[val]
			if s.typ == nil {
				return errfmt.Errorf("set type %q", val)
			}
		case "counter":
			s.counter = true
		case "flags":
			for _, f := range strings.Split(val, ",") {
				switch f {
				case "interval":
					s.flags |= unix.NFT_SET_INTERVAL
				case "dynamic":
					s.flags |= unix.NFT_SET_EVAL
				case "timeout":
					s.flags |= unix.NFT_SET_TIMEOUT
				default:
					return errfmt.Errorf("set flag %q", f)
				}
			}
		case "timeout":
			d, err := time.ParseDuration(val)
			if err != nil {
				return err
			}
			s.timeout = uint64(d.Milliseconds())
		case "size":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return err
			}
			s.size = uint32(n)
		default:
			return errfmt.Errorf("set option %q", clause)
		}
	}
	if s.typ == nil {
		return errfmt.Errorf("set %s without a type", name)
	}
	c.b.addSet(s)
	c.sets[name] = s
	if elements != "" {
		return c.addElement(name + " { " + elements + " }")
	}
	return nil
}

// addElement gathers "SET { E }" into the run of additions to SET.
func (c *compiler) addElement(rest string) error {
	name, body, _ := strings.Cut(rest, " ")
	s, ok := c.sets[name]
	if !ok {
		return errfmt.Errorf("set %s not declared before", name)
	}
	if name != c.runSet {
		c.flushRun()
		c.runSet, c.runStmt = name, c.b.stmt
	}
	inner, ok1 := strings.CutPrefix(body, "{ ")
	inner, ok2 := strings.CutSuffix(inner, " }")
	if !ok1 || !ok2 {
		return errfmt.Errorf("elements %q", body)
	}
	if s.flags&unix.NFT_SET_INTERVAL != 0 {
		for _, e := range strings.Split(inner, ", ") {
			p, err := parsePrefix(e)
			if err != nil {
				return err
			}
			c.runNets = append(c.runNets, p)
		}
		return nil
	}
	es, err := c.elements(s, body)
	if err != nil {
		return err
	}
	c.run = append(c.run, es...)
	return nil
}

// flushRun sends the gathered additions. An interval set's prefixes become interval elements the way nft
// makes them (prefixElements): the set is empty before them (flushed or new).
func (c *compiler) flushRun() {
	if c.runSet == "" {
		return
	}
	es := append(c.run, prefixElements(c.b.fam, c.runNets, true)...)
	stmt := c.b.stmt
	c.b.stmt = c.runStmt
	defer func() { c.b.stmt = stmt }()
	c.b.elems(unix.NFT_MSG_NEWSETELEM, c.runSet, es)
	c.runSet, c.run, c.runNets = "", nil, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// elements parses "{ E, E }" for set s.
func (c *compiler) elements(s setSpec, body string) ([]elem, error) {
	inner, ok1 := strings.CutPrefix(body, "{ ")
	inner, ok2 := strings.CutSuffix(inner, " }")
	if !ok1 || !ok2 {
		return nil, errfmt.Errorf("elements %q", body)
	}
	parts := strings.Split(inner, ", ")
	out := make([]elem, len(parts))
	for i, p := range parts {
		e, err := s.typ.elem(c.b.fam, p)
		if err != nil {
			return nil, errfmt.Errorf("element %q of %s: %w", p, s.name, err)
		}
		out[i] = e
	}
	return out, nil
}

// elemCodec parses one element's text for a set type.
type elemCodec func(fam family, s string) (elem, error)

// udataKeyBig is nft's user data for a set whose key is in network byte order (NFTNL_UDATA_SET_KEYBYTEORDER,
// BYTEORDER_BIG_ENDIAN); udataPortMap and udataPortVmap are those of the maps keyed by protocol and port,
// to an address and port and to a verdict (nft 1.0.6 --debug=mnl, byte for byte).
var (
	udataKeyBig   = []byte{0, 4, 2, 0, 0, 0}
	udataPortMap  = []byte{0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0, 4, 8, 0, 4, 13, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0}
	udataPortVmap = []byte{0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0}
)

// nft's datatype numbers, and how a concatenation of them is numbered (TYPE_BITS).
const (
	typeVerdict  = 1
	typeIPv4     = 7
	typeIPv6     = 8
	typeProto    = 12
	typeService  = 13
	typeBits     = 6
	dataVerdict  = 0xffffff00 // NFT_DATA_VERDICT
	typePortPair = typeProto<<typeBits | typeService
)

var setTypes = map[string]*setType{
	"ipv4_addr":    {key: typeIPv4, keyLen: 4, udata: udataKeyBig, elem: addrElem},
	"ipv6_addr":    {key: typeIPv6, keyLen: 16, udata: udataKeyBig, elem: addrElem},
	"inet_service": {key: typeService, keyLen: 2, udata: udataKeyBig, elem: portElem},
	"inet_proto . inet_service : ipv4_addr . inet_service": {key: typePortPair, keyLen: 8,
		data: typeIPv4<<typeBits | typeService, dataLen: 8, isMap: true, udata: udataPortMap, elem: dnatElem},
	"inet_proto . inet_service : ipv6_addr . inet_service": {key: typePortPair, keyLen: 8,
		data: typeIPv6<<typeBits | typeService, dataLen: 20, isMap: true, udata: udataPortMap, elem: dnatElem},
	"inet_proto . inet_service : verdict": {key: typePortPair, keyLen: 8, data: dataVerdict, isMap: true,
		udata: udataPortVmap, elem: vmapElem},
}

func addrElem(fam family, s string) (elem, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !fam.has(a) {
		return elem{}, errfmt.Errorf("not an address of family %s", fam.name)
	}
	return elem{key: fam.bytes(a)}, nil
}

func portElem(_ family, s string) (elem, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return elem{}, err
	}
	return elem{key: binary.BigEndian.AppendUint16(nil, uint16(p))}, nil
}

// portKey is "tcp . 8090" as a concatenation's key: each field padded to 4 bytes.
func portKey(s string) ([]byte, error) {
	proto, port, ok := strings.Cut(s, " . ")
	if !ok {
		return nil, errfmt.Errorf("key %q", s)
	}
	n, ok := protoNumbers[proto]
	if !ok {
		return nil, errfmt.Errorf("protocol %q", proto)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, err
	}
	return []byte{n, 0, 0, 0, byte(p >> 8), byte(p), 0, 0}, nil
}

// mapElem splits "tcp . 8090 : VALUE" into the key, encoded, and the value's text.
func mapElem(s string) (key []byte, value string, err error) {
	k, v, ok := strings.Cut(s, " : ")
	if !ok {
		return nil, "", errfmt.Errorf("map element %q", s)
	}
	key, err = portKey(k)
	return key, v, err
}

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}

// dnatElem is "tcp . 8090 : 192.168.88.180 . 80".
func dnatElem(fam family, s string) (elem, error) {
	key, v, err := mapElem(s)
	if err != nil {
		return elem{}, err
	}
	addr, port, ok := strings.Cut(v, " . ")
	if !ok {
		return elem{}, errfmt.Errorf("value %q", v)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !fam.has(a) {
		return elem{}, errfmt.Errorf("not an address of family %s: %q", fam.name, addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return elem{}, err
	}
	val := append(fam.bytes(a), byte(p>>8), byte(p), 0, 0)
	return elem{key: key, val: val}, nil
}

// vmapElem is "tcp . 8090 : jump guard_front-cam".
func vmapElem(_ family, s string) (elem, error) {
	key, v, err := mapElem(s)
	if err != nil {
		return elem{}, err
	}
	code, chain, err := verdictOf(strings.Fields(v))
	if err != nil {
		return elem{}, err
	}
	return elem{key: key, isVerdict: true, verdict: code, chain: chain}, nil
}

// verdictOf reads "accept", "drop", "return", "jump C" or "goto C".
func verdictOf(f []string) (int32, string, error) {
	switch {
	case len(f) == 1 && f[0] == "accept":
		return nfAccept, "", nil
	case len(f) == 1 && f[0] == "drop":
		return nfDrop, "", nil
	case len(f) == 1 && f[0] == "return":
		return unix.NFT_RETURN, "", nil
	case len(f) == 2 && f[0] == "jump":
		return unix.NFT_JUMP, f[1], nil
	case len(f) == 2 && f[0] == "goto":
		return unix.NFT_GOTO, f[1], nil
	}
	return 0, "", errfmt.Errorf("verdict %q", strings.Join(f, " "))
}

// compileRule turns the text of one rule of build.go or guard.go into nft's expressions for it. Each case
// names the statement and gives the bytecode nft 1.0.6 makes of it (nft --debug=netlink).
func compileRule(fam family, text string) (*exprList, error) {
	t, err := tokens(text)
	if err != nil {
		return nil, err
	}
	l := &exprList{}
	next := func() string {
		if len(t) == 0 {
			return ""
		}
		s := t[0]
		t = t[1:]
		return s
	}
	expect := func(words ...string) bool {
		if len(t) < len(words) {
			return false
		}
		for i, w := range words {
			if t[i] != w {
				return false
			}
		}
		t = t[len(words):]
		return true
	}
	setName := func() (string, error) {
		s := next()
		if !strings.HasPrefix(s, "@") || len(s) < 2 {
			return "", errfmt.Errorf("expected @set, got %q", s)
		}
		return s[1:], nil
	}
	for len(t) > 0 {
		tok := next()
		switch {
		case tok == "iifname":
			// meta load iifname => reg 1 ; cmp eq|neq reg 1 "NAME" padded to 16 bytes
			op := uint32(unix.NFT_CMP_EQ)
			if expect("!=") {
				op = unix.NFT_CMP_NEQ
			}
			name, err := strconv.Unquote(next())
			if err != nil || len(name) >= unix.IFNAMSIZ {
				return nil, errfmt.Errorf("interface name in %q", text)
			}
			v := make([]byte, unix.IFNAMSIZ)
			copy(v, name)
			l.meta(unix.NFT_META_IIFNAME, reg1)
			l.cmp(op, reg1, v)
		case (tok == "ip" || tok == "ip6") && tok == fam.name:
			// payload load 4b|16b @ network header + OFFSET => reg 1 ; [bitwise & MASK ;] lookup reg 1 set S
			field := next()
			off, ok := addrOffsets[fam.name+" "+field]
			if !ok {
				return nil, errfmt.Errorf("address field %q in %q", field, text)
			}
			length := uint32(len(fam.bytes(netip.IPv4Unspecified())))
			if !fam.counts {
				length = 16
			}
			l.payload(unix.NFT_PAYLOAD_NETWORK_HEADER, off, length, reg1)
			if expect("&") {
				m, err := netip.ParseAddr(next())
				if err != nil || !fam.has(m) {
					return nil, errfmt.Errorf("mask in %q", text)
				}
				l.bitwise(reg1, fam.bytes(m), make([]byte, length))
			}
			set, err := setName()
			if err != nil {
				return nil, err
			}
			l.lookup(set, reg1, -1)
		case tok == "ct" && expect("status", "dnat"):
			// ct load status => reg 1 ; bitwise & 0x20 ; cmp neq 0
			l.ctBit(unix.NFT_CT_STATUS, ctStatusDNAT)
		case tok == "ct" && expect("state", "new"):
			l.ctBit(unix.NFT_CT_STATE, 1<<3) // NF_CT_STATE_BIT(IP_CT_NEW)
		case tok == "ct" && expect("mark", "set", "ct", "mark", "or"):
			// ct load mark => reg 1 ; bitwise reg 1 = (reg 1 & ^BIT) ^ BIT ; ct set mark with reg 1
			bit, err := strconv.ParseUint(next(), 0, 32)
			if err != nil {
				return nil, err
			}
			l.ctLoad(unix.NFT_CT_MARK, -1, reg1)
			l.bitwise(reg1, binary.NativeEndian.AppendUint32(nil, ^uint32(bit)), binary.NativeEndian.AppendUint32(nil, uint32(bit)))
			l.ctSet(unix.NFT_CT_MARK, reg1)
		case tok == "ct" && expect("mark", "and"):
			// ct load mark => reg 1 ; bitwise & BIT ; cmp neq 0
			bit, err := strconv.ParseUint(next(), 0, 32)
			if err != nil || !expect("!=", "0") {
				return nil, errfmt.Errorf("ct mark match in %q", text)
			}
			l.ctBit(unix.NFT_CT_MARK, uint32(bit))
		case tok == "ct" && expect("original", fam.name, "daddr"):
			// ct load dst_ip|dst_ip6 => reg 1 , dir original ; lookup reg 1 set S
			key := uint32(unix.NFT_CT_DST_IP)
			if !fam.counts {
				key = unix.NFT_CT_DST_IP6
			}
			set, err := setName()
			if err != nil {
				return nil, err
			}
			l.ctLoad(key, ctDirOriginal, reg1)
			l.lookup(set, reg1, -1)
		case tok == "ct" && expect("original", "protocol"):
			// ct load protocol => reg 1 , dir original ; cmp eq reg 1 PROTO
			n, ok := protoNumbers[next()]
			if !ok {
				return nil, errfmt.Errorf("protocol in %q", text)
			}
			l.ctLoad(unix.NFT_CT_PROTOCOL, ctDirOriginal, reg1)
			l.cmp(unix.NFT_CMP_EQ, reg1, []byte{n})
		case tok == "update":
			set, err := setName()
			if err != nil {
				return nil, err
			}
			switch {
			case expect("{", "ct", "original", "proto-dst", "}"):
				// ct load proto_dst => reg 1 , dir original ; dynset update reg_key 1 set S
				l.ctLoad(unix.NFT_CT_PROTO_DST, ctDirOriginal, reg1)
				l.dynsetUpdate(set, reg1, nil)
			case fam.counts && expect("{", "ip", "saddr", "limit", "rate", "over"):
				// payload load 4b @ network header + 12 => reg 1 ;
				// dynset update reg_key 1 set S expr [ limit rate N/UNIT burst B type packets flags 0x1 ]
				lim, err := limitOf(next(), t)
				if err != nil {
					return nil, errfmt.Errorf("%w in %q", err, text)
				}
				t = t[4:]
				l.payload(unix.NFT_PAYLOAD_NETWORK_HEADER, addrOffsets["ip saddr"], 4, reg1)
				l.dynsetUpdate(set, reg1, lim)
			default:
				return nil, errfmt.Errorf("update statement in %q", text)
			}
		case tok == "counter" && expect("name"):
			// objref type 1 name NAME
			name, err := strconv.Unquote(next())
			if err != nil {
				return nil, err
			}
			l.objrefCounter(name)
		case tok == "dnat" && expect(fam.name, "to", "meta", "l4proto", ".", "th", "dport", "map"):
			// meta load l4proto => reg 1 ; payload load 2b @ transport header + 2 => reg 9 ;
			// lookup reg 1 set S dreg 1 ; nat dnat FAM addr_min reg 1 proto_min reg 9 (ip6: reg 2)
			set, err := setName()
			if err != nil {
				return nil, err
			}
			l.meta(unix.NFT_META_L4PROTO, reg1)
			l.payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg9)
			l.lookup(set, reg1, reg1)
			proto := uint32(reg9)
			if !fam.counts {
				proto = reg2
			}
			l.nat(unix.NFT_NAT_DNAT, fam, reg1, proto)
		case tok == "meta" && expect("l4proto", ".", "th", "dport", "vmap"):
			// meta load l4proto => reg 1 ; payload load 2b @ transport header + 2 => reg 9 ;
			// lookup reg 1 set S dreg 0
			set, err := setName()
			if err != nil {
				return nil, err
			}
			l.meta(unix.NFT_META_L4PROTO, reg1)
			l.payload(unix.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg9)
			l.lookup(set, reg1, regVerdic)
		case tok == "snat" && expect(fam.name, "to"):
			// immediate reg 1 ADDR ; nat snat FAM addr_min reg 1
			a, err := netip.ParseAddr(next())
			if err != nil || !fam.has(a) {
				return nil, errfmt.Errorf("snat address in %q", text)
			}
			l.immediate(reg1, fam.bytes(a))
			l.nat(unix.NFT_NAT_SNAT, fam, reg1, 0)
		case tok == "masquerade":
			l.expr("masq", nil)
		case tok == "accept" || tok == "drop" || tok == "return":
			code, _, _ := verdictOf([]string{tok})
			l.verdict(code, "")
		case tok == "jump" || tok == "goto":
			code, chain, err := verdictOf([]string{tok, next()})
			if err != nil {
				return nil, err
			}
			l.verdict(code, chain)
		default:
			return nil, errfmt.Errorf("statement at %q in %q", tok, text)
		}
	}
	return l, l.err
}

// addrOffsets are the offsets of the address fields in the network header.
var addrOffsets = map[string]uint32{"ip saddr": 12, "ip daddr": 16, "ip6 saddr": 8, "ip6 daddr": 24}

// ctBit is "ct KEY BIT": ct load KEY => reg 1 ; bitwise reg 1 = (reg 1 & BIT) ^ 0 ; cmp neq reg 1 0. ct's
// status, state and mark are in host byte order.
func (l *exprList) ctBit(key, bit uint32) {
	l.ctLoad(key, -1, reg1)
	l.bitwise(reg1, binary.NativeEndian.AppendUint32(nil, bit), make([]byte, 4))
	l.cmp(unix.NFT_CMP_NEQ, reg1, make([]byte, 4))
}

var limitUnits = map[string]uint64{"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}

// limitOf reads "N/UNIT burst B packets }" (rate, then the rest in t).
func limitOf(rate string, t []string) (*limitSpec, error) {
	n, unit, ok := strings.Cut(rate, "/")
	r, err := strconv.ParseUint(n, 10, 64)
	u, uok := limitUnits[unit]
	if !ok || err != nil || !uok || len(t) < 4 || t[0] != "burst" || t[2] != "packets" || t[3] != "}" {
		return nil, errfmt.Errorf("limit %q", rate)
	}
	burst, err := strconv.ParseUint(t[1], 10, 32)
	if err != nil {
		return nil, err
	}
	return &limitSpec{rate: r, unit: u, burst: uint32(burst), over: true}, nil
}

// tokens splits a rule's text at spaces, keeping a quoted string (with its quotes) whole.
func tokens(s string) ([]string, error) {
	var out []string
	for s != "" {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, q)
			s = s[len(q):]
			continue
		}
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out, nil
}
