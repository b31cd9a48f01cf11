package publicip

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// STUN (RFC 8489) as far as asking for the mapped address goes: one Binding request, and the
// XOR-MAPPED-ADDRESS (or an RFC 3489 server's MAPPED-ADDRESS) of its success response. Written here instead
// of taken from a STUN library: the one the daemon used brought DTLS and its transport along.
const (
	stunHeaderLen       = 20
	stunMagicCookie     = 0x2112A442
	stunBindingRequest  = 0x0001
	stunBindingSuccess  = 0x0101
	stunBindingError    = 0x0111
	stunMappedAddress   = 0x0001
	stunXORMappedAddr   = 0x0020
	stunFingerprint     = 0x8028
	stunFingerprintXOR  = 0x5354554e
	stunFamilyIPv4      = 0x01
	stunFamilyIPv6      = 0x02
	stunTransactionSize = 12
)

type stunQuery struct {
	raw []byte
	id  [stunTransactionSize]byte
}

// newSTUNQuery is a Binding request with a random transaction id and a FINGERPRINT, as servers that share
// their port with other protocols expect.
func newSTUNQuery() stunQuery {
	var q stunQuery
	_, _ = rand.Read(q.id[:]) // crypto/rand.Read never fails
	b := make([]byte, stunHeaderLen, stunHeaderLen+8)
	binary.BigEndian.PutUint16(b[0:], stunBindingRequest)
	binary.BigEndian.PutUint16(b[2:], 8) // the FINGERPRINT attribute
	binary.BigEndian.PutUint32(b[4:], stunMagicCookie)
	copy(b[8:], q.id[:])
	// The fingerprint covers the message up to the attribute, with the length already counting it.
	crc := crc32.ChecksumIEEE(b) ^ stunFingerprintXOR
	b = binary.BigEndian.AppendUint16(b, stunFingerprint)
	b = binary.BigEndian.AppendUint16(b, 4)
	q.raw = binary.BigEndian.AppendUint32(b, crc)
	return q
}

func (q stunQuery) request() []byte { return q.raw }

func (q stunQuery) parse(b []byte) (netip.Addr, bool, error) { return parseSTUN(b, q.id) }

// parseSTUN reads a binding response to the transaction id. ok is false for anything that is not a
// well-formed STUN message for this transaction (stray or stale datagrams are ignored).
func parseSTUN(b []byte, id [stunTransactionSize]byte) (addr netip.Addr, ok bool, err error) {
	if len(b) < stunHeaderLen || b[0]&0xc0 != 0 || binary.BigEndian.Uint32(b[4:]) != stunMagicCookie {
		return netip.Addr{}, false, nil
	}
	size := int(binary.BigEndian.Uint16(b[2:]))
	if size%4 != 0 || stunHeaderLen+size > len(b) || [stunTransactionSize]byte(b[8:20]) != id {
		return netip.Addr{}, false, nil
	}
	attrs := b[stunHeaderLen : stunHeaderLen+size]
	switch t := binary.BigEndian.Uint16(b[0:]); t {
	case stunBindingSuccess:
	case stunBindingError:
		return netip.Addr{}, true, errors.New("STUN answer is a binding error response, not a binding success")
	default:
		return netip.Addr{}, true, errfmt.Errorf("STUN answer is message type 0x%04x, not a binding success", t)
	}
	var xored, mapped netip.Addr
	for len(attrs) >= 4 {
		typ, n := binary.BigEndian.Uint16(attrs[0:]), int(binary.BigEndian.Uint16(attrs[2:]))
		if 4+n > len(attrs) {
			return netip.Addr{}, false, nil // an attribute past the message: malformed
		}
		val := attrs[4 : 4+n]
		switch typ {
		case stunXORMappedAddr:
			if a, ok := stunAddress(val, b[4:20]); ok && !xored.IsValid() {
				xored = a
			}
		case stunMappedAddress:
			if a, ok := stunAddress(val, nil); ok && !mapped.IsValid() {
				mapped = a
			}
		}
		attrs = attrs[min(4+(n+3)&^3, len(attrs)):] // values are padded to four bytes
	}
	a := xored
	if !a.IsValid() {
		a = mapped // RFC 3489 servers only send MAPPED-ADDRESS
	}
	if !a.IsValid() {
		return netip.Addr{}, true, errors.New("STUN answer has no mapped address")
	}
	addr, err = checkPublic(a.Unmap())
	return addr, true, err
}

// stunAddress decodes a (XOR-)MAPPED-ADDRESS value: a reserved byte, the family, the port and the address,
// XORed with the magic cookie and transaction id (key, the header's bytes 4-20) when key is set.
func stunAddress(v, key []byte) (netip.Addr, bool) {
	if len(v) < 4 {
		return netip.Addr{}, false
	}
	var n int
	switch v[1] {
	case stunFamilyIPv4:
		n = 4
	case stunFamilyIPv6:
		n = 16
	default:
		return netip.Addr{}, false
	}
	if len(v) != 4+n {
		return netip.Addr{}, false
	}
	ip := make([]byte, n)
	copy(ip, v[4:])
	for i := range key {
		if i < n {
			ip[i] ^= key[i]
		}
	}
	return netip.AddrFromSlice(ip)
}
