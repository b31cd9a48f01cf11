// Package dnswire writes the few DNS messages hairpin sends (a query, an RFC 2136 UPDATE) and reads the answers
// to them, with TSIG (RFC 8945) to sign the one and verify the other. It reads what hairpin uses (the header,
// the question, A, AAAA, CNAME, OPT's extended RCODE and TSIG records) and carries every other record's data
// unread. Standard library only: a general DNS library costs a router more than all of this.
package dnswire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Record types and classes hairpin reads or writes.
const (
	TypeA     uint16 = 1
	TypeCNAME uint16 = 5
	TypeSOA   uint16 = 6
	TypeAAAA  uint16 = 28
	TypeOPT   uint16 = 41
	TypeTSIG  uint16 = 250
	TypeANY   uint16 = 255

	ClassINET uint16 = 1
	ClassNONE uint16 = 254
	ClassANY  uint16 = 255
)

// Opcodes.
const (
	OpcodeQuery  = 0
	OpcodeUpdate = 5
)

// Response codes: the header's (with EDNS's extended bits) and TSIG's.
const (
	RcodeSuccess        = 0
	RcodeFormatError    = 1
	RcodeServerFailure  = 2
	RcodeNameError      = 3
	RcodeNotImplemented = 4
	RcodeRefused        = 5
	RcodeYXDomain       = 6
	RcodeYXRrset        = 7
	RcodeNXRrset        = 8
	RcodeNotAuth        = 9
	RcodeNotZone        = 10
	RcodeBadSig         = 16
	RcodeBadKey         = 17
	RcodeBadTime        = 18
)

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "", "", "", "", "BADSIG", "BADKEY", "BADTIME",
	"BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE"}

// RcodeName is the mnemonic of rc (NOERROR, REFUSED, BADSIG...), or RCODEn for one without.
func RcodeName(rc int) string {
	if rc >= 0 && rc < len(rcodeNames) && rcodeNames[rc] != "" {
		return rcodeNames[rc]
	}
	return "RCODE" + strconv.Itoa(rc)
}

// TypeName is the mnemonic of the types hairpin names in its messages, or TYPEn.
func TypeName(t uint16) string {
	switch t {
	case TypeA:
		return "A"
	case TypeAAAA:
		return "AAAA"
	case TypeCNAME:
		return "CNAME"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

const headerLen = 12

// Header is a message's header but for the section counts.
type Header struct {
	ID                 uint16
	Response           bool
	Opcode             int
	Authoritative      bool
	Truncated          bool
	RecursionDesired   bool
	RecursionAvailable bool
	// Rcode holds the header's four bits and, in a message read with an OPT record, EDNS's extended bits.
	Rcode int
}

// Question is one entry of the question section (the zone section of an UPDATE).
type Question struct {
	Name  string // presentation format, fully qualified
	Type  uint16
	Class uint16
}

// RR is one resource record. Data is the record's data as sent; of a record read from a message, Addr holds an
// A or AAAA record's address (invalid when the data is empty, as in UPDATE's deletions) and Target a CNAME's
// target, its compression undone.
type RR struct {
	Name   string
	Type   uint16
	Class  uint16
	TTL    uint32
	Data   []byte
	Addr   netip.Addr
	Target string
}

// Msg is a message read by Parse.
type Msg struct {
	Header
	Question   []Question
	Answer     []RR // the prerequisites of an UPDATE
	Authority  []RR // the updates of an UPDATE
	Additional []RR
	// TSIG is the message's TSIG record when it is the last additional record, where RFC 8945 has it; nil
	// otherwise. That record is in Additional too.
	TSIG *TSIG

	tsigAt int // offset of the TSIG record
}

// Errors Parse wraps; a message that is not one says where it stops making sense.
var (
	ErrShort   = errors.New("message ends early")
	ErrName    = errors.New("malformed name")
	ErrRdata   = errors.New("malformed record data")
	ErrLongMsg = errors.New("message longer than 65535 bytes")
)

// Parse reads a whole message. Bytes after the last record are ignored. A message of nothing but a header
// reads as one with empty sections whatever its counts say: some resolvers answer REFUSED that way.
func Parse(b []byte) (*Msg, error) {
	if len(b) < headerLen {
		return nil, errfmt.Errorf("%w: %d bytes, a header alone is %d", ErrShort, len(b), headerLen)
	}
	if len(b) > 65535 {
		return nil, ErrLongMsg
	}
	flags := binary.BigEndian.Uint16(b[2:])
	m := &Msg{Header: Header{
		ID:                 binary.BigEndian.Uint16(b),
		Response:           flags&(1<<15) != 0,
		Opcode:             int(flags>>11) & 0xF,
		Authoritative:      flags&(1<<10) != 0,
		Truncated:          flags&(1<<9) != 0,
		RecursionDesired:   flags&(1<<8) != 0,
		RecursionAvailable: flags&(1<<7) != 0,
		Rcode:              int(flags & 0xF),
	}}
	if len(b) == headerLen {
		return m, nil
	}
	count := func(i int) int { return int(binary.BigEndian.Uint16(b[4+2*i:])) }
	off := headerLen
	for range count(0) {
		var q Question
		var err error
		if q.Name, off, err = readName(b, off); err != nil {
			return nil, errfmt.Errorf("question: %w", err)
		}
		// A question cut short after its name ends the message (as the reference library reads it too).
		if off+4 > len(b) {
			if off != len(b) && off+2 != len(b) {
				return nil, errfmt.Errorf("question: %w", ErrShort)
			}
			if off+2 == len(b) {
				q.Type = binary.BigEndian.Uint16(b[off:])
			}
			m.Question = append(m.Question, q)
			off = len(b)
			break
		}
		q.Type, q.Class = binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:])
		off += 4
		m.Question = append(m.Question, q)
	}
	sections := [3]*[]RR{&m.Answer, &m.Authority, &m.Additional}
	last := -1
	for s, sec := range sections {
		for range count(s + 1) {
			if off == len(b) {
				break // counts beyond the message's end are ignored, as the reference library does
			}
			start := off
			rr, next, err := readRR(b, off)
			if err != nil {
				return nil, errfmt.Errorf("%s record %d: %w", sectionNames[s], len(*sec)+1, err)
			}
			*sec = append(*sec, rr)
			off = next
			if s == 2 {
				last = start
			}
		}
	}
	if n := len(m.Additional); n > 0 {
		for i := n - 1; i >= 0; i-- {
			if rr := m.Additional[i]; rr.Type == TypeOPT {
				m.Rcode |= int(rr.TTL>>24) << 4
				break
			}
		}
		if rr := m.Additional[n-1]; rr.Type == TypeTSIG {
			t, err := readTSIG(b, last)
			if err != nil {
				return nil, errfmt.Errorf("TSIG record: %w", err)
			}
			m.TSIG, m.tsigAt = t, last
		}
	}
	return m, nil
}

var sectionNames = [3]string{"answer", "authority", "additional"}

func readRR(b []byte, off int) (RR, int, error) {
	var rr RR
	var err error
	if rr.Name, off, err = readName(b, off); err != nil {
		return rr, 0, err
	}
	if off+10 > len(b) {
		return rr, 0, ErrShort
	}
	rr.Type = binary.BigEndian.Uint16(b[off:])
	rr.Class = binary.BigEndian.Uint16(b[off+2:])
	rr.TTL = binary.BigEndian.Uint32(b[off+4:])
	n := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	end := off + n
	if end > len(b) {
		return rr, 0, ErrShort
	}
	rr.Data = b[off:end:end]
	if n == 0 {
		return rr, end, nil // no data: UPDATE's deletions and prerequisites
	}
	switch rr.Type {
	case TypeA:
		if n != 4 {
			return rr, 0, errfmt.Errorf("%w: A record of %d bytes", ErrRdata, n)
		}
		rr.Addr = netip.AddrFrom4([4]byte(rr.Data))
	case TypeAAAA:
		if n != 16 {
			return rr, 0, errfmt.Errorf("%w: AAAA record of %d bytes", ErrRdata, n)
		}
		rr.Addr = netip.AddrFrom16([16]byte(rr.Data))
	case TypeCNAME:
		// The target may point back into the message, not past the record's data.
		t, next, err := readName(b[:end], off)
		if err != nil {
			return rr, 0, errfmt.Errorf("CNAME target: %w", err)
		}
		if next != end {
			return rr, 0, errfmt.Errorf("%w: CNAME record with %d bytes after its target", ErrRdata, end-next)
		}
		rr.Target = t
	}
	return rr, end, nil
}

// Limits of a name as the reference library reads one: at most 254 octets of labels and their length octets
// (255 with the root's), and at most 126 compression pointers, which bounds a loop.
const (
	maxNameOctets = 255
	maxPointers   = (maxNameOctets+1)/2 - 2
)

// readName reads the name at off in presentation format (with \X and \DDD escapes, as the zone file format
// has them) and returns the offset after it.
func readName(b []byte, off int) (string, int, error) {
	s := make([]byte, 0, 64)
	after, pointers, budget := 0, 0, maxNameOctets
	for {
		if off >= len(b) {
			return "", 0, errfmt.Errorf("%w: %w", ErrName, ErrShort)
		}
		c := int(b[off])
		off++
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if pointers == 0 {
					after = off
				}
				if len(s) == 0 {
					return ".", after, nil
				}
				return string(s), after, nil
			}
			if off+c > len(b) {
				return "", 0, errfmt.Errorf("%w: %w", ErrName, ErrShort)
			}
			if budget -= c + 1; budget <= 0 {
				return "", 0, errfmt.Errorf("%w: longer than 255 octets", ErrName)
			}
			for _, ch := range b[off : off+c] {
				s = appendEscaped(s, ch)
			}
			s = append(s, '.')
			off += c
		case 0xC0:
			if off >= len(b) {
				return "", 0, errfmt.Errorf("%w: %w", ErrName, ErrShort)
			}
			if pointers == 0 {
				after = off + 1
			}
			if pointers++; pointers > maxPointers {
				return "", 0, errfmt.Errorf("%w: too many compression pointers", ErrName)
			}
			off = (c&0x3F)<<8 | int(b[off])
		default:
			return "", 0, errfmt.Errorf("%w: label type %#x", ErrName, c&0xC0)
		}
	}
}

func appendEscaped(s []byte, ch byte) []byte {
	switch {
	case ch == '.' || ch == ' ' || ch == '\'' || ch == '@' || ch == ';' || ch == '(' || ch == ')' || ch == '"' || ch == '\\':
		return append(s, '\\', ch)
	case ch < ' ' || ch > '~':
		return append(s, '\\', '0'+ch/100, '0'+ch/10%10, '0'+ch%10)
	}
	return append(s, ch)
}

// appendName writes name (presentation format, fully qualified or not) uncompressed. An escape, \X or \DDD,
// is one octet (\DDD past 255 wraps around, as in the reference library); a label is at most 63 octets. The
// bound on the whole name is the reference library's (and publicip/source's), a little over RFC 1035's 255
// octets, so that every name the config accepts can be sent.
func appendName(b []byte, name string) ([]byte, error) {
	if name == "" {
		return nil, errfmt.Errorf("%w: empty", ErrName)
	}
	if name = Fqdn(name); !isFqdn(name) {
		return nil, errfmt.Errorf("%w: %q ends in a backslash", ErrName, name[:len(name)-1])
	}
	if name == "." {
		return append(b, 0), nil
	}
	start := len(b)
	b = append(b, 0) // the first label's length
	lenAt := start
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch ch {
		case '\\':
			if i+1 >= len(name) {
				return nil, errfmt.Errorf("%w: %q ends in a lone backslash", ErrName, name)
			}
			if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				ch = (name[i+1]-'0')*100 + (name[i+2]-'0')*10 + (name[i+3] - '0')
				i += 3
			} else {
				ch = name[i+1]
				i++
			}
		case '.':
			if len(b)-lenAt == 1 {
				return nil, errfmt.Errorf("%w: %q has an empty label", ErrName, name)
			}
			if i == len(name)-1 {
				b = append(b, 0)
				return checkLen(b, start, name)
			}
			lenAt = len(b)
			b = append(b, 0)
			continue
		}
		b = append(b, ch)
		n := len(b) - lenAt - 1
		if n > 63 {
			return nil, errfmt.Errorf("%w: %q has a label longer than 63 octets", ErrName, name)
		}
		b[lenAt] = byte(n)
	}
	b = append(b, 0)
	return checkLen(b, start, name)
}

// maxPackOctets bounds a name written: 256 octets of labels and their lengths, and the root's.
const maxPackOctets = 257

func checkLen(b []byte, start int, name string) ([]byte, error) {
	if len(b)-start > maxPackOctets {
		return nil, errfmt.Errorf("%w: %q is longer than 255 octets", ErrName, name)
	}
	return b, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// CanonicalName is name fully qualified with A-Z lowered, the form TSIG signs names in and names compare as.
func CanonicalName(name string) string {
	b := []byte(Fqdn(name))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Fqdn adds the final dot to name if it has none (an escaped one, "a\.", is not final).
func Fqdn(name string) string {
	if isFqdn(name) {
		return name
	}
	return name + "."
}

func isFqdn(s string) bool {
	if s == "" || s[len(s)-1] != '.' {
		return false
	}
	// An odd run of backslashes before the dot escapes it.
	n := 0
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// EqualNames says whether a and b name the same node: equal but for ASCII case and the final dot.
func EqualNames(a, b string) bool {
	a, b = Fqdn(a), Fqdn(b)
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// IsSubDomain says whether child is parent or below it.
func IsSubDomain(parent, child string) bool {
	p, c := CanonicalName(parent), CanonicalName(child)
	if p == "." || p == c {
		return true
	}
	return len(c) > len(p) && c[len(c)-len(p):] == p && c[len(c)-len(p)-1] == '.' && isFqdn(c[:len(c)-len(p)])
}

// CheckName says why name (presentation format) cannot be written in a message, or nil.
func CheckName(name string) error {
	_, err := appendName(nil, name)
	return err
}
