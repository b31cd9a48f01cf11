package dnswire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Builder writes a message section by section, in order: questions, then answer (an UPDATE's prerequisites),
// authority (its updates) and additional records. Names are written uncompressed.
type Builder struct {
	b       []byte
	section int // 0 question, 1 answer, 2 authority, 3 additional
	err     error
}

// NewBuilder starts a message with header h (its Rcode's low four bits only).
func NewBuilder(h Header) *Builder {
	b := make([]byte, headerLen, 512)
	binary.BigEndian.PutUint16(b, h.ID)
	var f uint16
	if h.Response {
		f |= 1 << 15
	}
	f |= uint16(h.Opcode&0xF) << 11
	if h.Authoritative {
		f |= 1 << 10
	}
	if h.Truncated {
		f |= 1 << 9
	}
	if h.RecursionDesired {
		f |= 1 << 8
	}
	if h.RecursionAvailable {
		f |= 1 << 7
	}
	f |= uint16(h.Rcode & 0xF)
	binary.BigEndian.PutUint16(b[2:], f)
	return &Builder{b: b}
}

var errOrder = errors.New("dnswire: sections written out of order")

func (m *Builder) enter(section int) bool {
	if m.err != nil {
		return false
	}
	if section < m.section {
		m.err = errOrder
		return false
	}
	m.section = section
	at := 4 + 2*section
	n := binary.BigEndian.Uint16(m.b[at:])
	if n == 0xFFFF {
		m.err = errors.New("dnswire: more than 65535 entries in a section")
		return false
	}
	binary.BigEndian.PutUint16(m.b[at:], n+1)
	return true
}

// Question adds a question (an UPDATE's zone).
func (m *Builder) Question(name string, qtype, class uint16) {
	if !m.enter(0) {
		return
	}
	b, err := appendName(m.b, name)
	if err != nil {
		m.err = err
		return
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	m.b = binary.BigEndian.AppendUint16(b, class)
}

// Answer adds a record to the answer section (an UPDATE's prerequisites).
func (m *Builder) Answer(rr RR) { m.record(1, rr) }

// Authority adds a record to the authority section (an UPDATE's updates).
func (m *Builder) Authority(rr RR) { m.record(2, rr) }

// Additional adds a record to the additional section.
func (m *Builder) Additional(rr RR) { m.record(3, rr) }

func (m *Builder) record(section int, rr RR) {
	if !m.enter(section) {
		return
	}
	var err error
	m.b, err = appendRR(m.b, rr)
	if err != nil {
		m.err = err
	}
}

func appendRR(b []byte, rr RR) ([]byte, error) {
	b, err := appendName(b, rr.Name)
	if err != nil {
		return nil, err
	}
	if len(rr.Data) > 65535 {
		return nil, errfmt.Errorf("dnswire: record data of %d bytes", len(rr.Data))
	}
	b = binary.BigEndian.AppendUint16(b, rr.Type)
	b = binary.BigEndian.AppendUint16(b, rr.Class)
	b = binary.BigEndian.AppendUint32(b, rr.TTL)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rr.Data)))
	return append(b, rr.Data...), nil
}

// Finish returns the message, or the first error met writing it (a name that cannot be written).
func (m *Builder) Finish() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	if len(m.b) > 65535 {
		return nil, ErrLongMsg
	}
	return m.b, nil
}

// NewID returns a random message ID, so that an off-path forger has to guess it.
func NewID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return binary.BigEndian.Uint16(b[:])
}

// Query is a question for name's records of type qtype, class IN, with a random ID; rd asks for recursion.
func Query(name string, qtype uint16, rd bool) (id uint16, msg []byte, err error) {
	id = NewID()
	m := NewBuilder(Header{ID: id, RecursionDesired: rd})
	m.Question(name, qtype, ClassINET)
	msg, err = m.Finish()
	return id, msg, err
}
