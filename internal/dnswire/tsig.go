package dnswire

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// TSIG algorithms' names on the wire (RFC 8945 section 6).
const (
	HmacSHA1   = "hmac-sha1."
	HmacSHA224 = "hmac-sha224."
	HmacSHA256 = "hmac-sha256."
	HmacSHA384 = "hmac-sha384."
	HmacSHA512 = "hmac-sha512."
)

func algorithm(name string) func() hash.Hash {
	switch CanonicalName(name) {
	case HmacSHA1:
		return sha1.New
	case HmacSHA224:
		return sha256.New224
	case HmacSHA256:
		return sha256.New
	case HmacSHA384:
		return sha512.New384
	case HmacSHA512:
		return sha512.New
	}
	return nil
}

// TSIG is a TSIG record (RFC 8945 section 4.2). Its owner name is the key's name.
type TSIG struct {
	Key        string
	TTL        uint32 // 0 as sent; signed as read
	Algorithm  string
	TimeSigned uint64 // seconds since 1970, 48 bits
	Fudge      uint16 // seconds either side of TimeSigned the signature is good for
	MAC        []byte
	OrigID     uint16
	Error      int
	Other      []byte // a BADTIME answer's server time
}

// Key is a TSIG key: its name, its algorithm's wire name (HmacSHA256...) and the secret, decoded.
type Key struct {
	Name      string
	Algorithm string
	Secret    []byte
}

// Why a signature does not verify.
var (
	ErrNoSig  = errors.New("no TSIG record")
	ErrSig    = errors.New("bad signature")
	ErrTime   = errors.New("signed outside its time window")
	ErrKey    = errors.New("signed with another key")
	ErrKeyAlg = errors.New("unknown TSIG algorithm")
)

// Sign signs msg, a message without TSIG record, with k at now, its time window fudge seconds either side, and
// returns it with the TSIG record appended and that record's MAC. requestMAC is the request's MAC when msg
// answers a signed request, else nil.
func Sign(msg []byte, k Key, now time.Time, fudge uint16, requestMAC []byte) (signed, mac []byte, err error) {
	if len(msg) < headerLen {
		return nil, nil, ErrShort
	}
	t := &TSIG{Key: k.Name, Algorithm: k.Algorithm, TimeSigned: uint64(now.Unix()) & (1<<48 - 1), Fudge: fudge,
		OrigID: binary.BigEndian.Uint16(msg)}
	mac, err = t.sum(msg, k.Secret, requestMAC)
	if err != nil {
		return nil, nil, err
	}
	t.MAC = mac
	out := append(make([]byte, 0, len(msg)+128), msg...)
	out, err = t.appendRR(out)
	if err != nil {
		return nil, nil, err
	}
	ar := binary.BigEndian.Uint16(out[10:])
	if ar == 0xFFFF {
		return nil, nil, errors.New("dnswire: more than 65535 additional records")
	}
	binary.BigEndian.PutUint16(out[10:], ar+1)
	return out, mac, nil
}

// Verify checks the TSIG signature of msg (as received, m as Parse read it) with k at now: the record names k
// and its algorithm, its MAC is right over the request's MAC, the message as it was before the record was
// added (with its original ID) and the record's variables, and now is within its time window. ErrTime means
// all but the time is right. Any response code is verified alike, NOTAUTH included.
func Verify(msg []byte, m *Msg, k Key, requestMAC []byte, now time.Time) error {
	t := m.TSIG
	if t == nil {
		return ErrNoSig
	}
	if !EqualNames(t.Key, k.Name) || !EqualNames(t.Algorithm, k.Algorithm) {
		return errfmt.Errorf("%w: %s (%s)", ErrKey, t.Key, t.Algorithm)
	}
	body := append([]byte(nil), msg[:m.tsigAt]...)
	binary.BigEndian.PutUint16(body, t.OrigID)
	binary.BigEndian.PutUint16(body[10:], uint16(len(m.Additional)-1))
	want, err := t.sum(body, k.Secret, requestMAC)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, t.MAC) {
		return ErrSig
	}
	// The time is checked after the MAC (RFC 8945 section 5.2.3), so that a forger learns nothing from it.
	d := now.Unix() - int64(t.TimeSigned)
	if d > int64(t.Fudge) || -d > int64(t.Fudge) {
		return ErrTime
	}
	return nil
}

// sum is the MAC over the request's MAC, msg and the TSIG variables of t.
func (t *TSIG) sum(msg, secret, requestMAC []byte) ([]byte, error) {
	h := algorithm(t.Algorithm)
	if h == nil {
		return nil, errfmt.Errorf("%w: %s", ErrKeyAlg, t.Algorithm)
	}
	mac := hmac.New(h, secret)
	if requestMAC != nil {
		_, _ = mac.Write(binary.BigEndian.AppendUint16(nil, uint16(len(requestMAC))))
		_, _ = mac.Write(requestMAC)
	}
	_, _ = mac.Write(msg)
	vars, err := appendName(make([]byte, 0, 64), CanonicalName(t.Key))
	if err != nil {
		return nil, err
	}
	vars = binary.BigEndian.AppendUint16(vars, ClassANY)
	vars = binary.BigEndian.AppendUint32(vars, t.TTL)
	if vars, err = appendName(vars, CanonicalName(t.Algorithm)); err != nil {
		return nil, err
	}
	vars = appendTime(vars, t.TimeSigned)
	vars = binary.BigEndian.AppendUint16(vars, t.Fudge)
	vars = binary.BigEndian.AppendUint16(vars, uint16(t.Error))
	vars = binary.BigEndian.AppendUint16(vars, uint16(len(t.Other)))
	vars = append(vars, t.Other...)
	_, _ = mac.Write(vars)
	return mac.Sum(nil), nil
}

func appendTime(b []byte, t uint64) []byte {
	return append(b, byte(t>>40), byte(t>>32), byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
}

func (t *TSIG) appendRR(b []byte) ([]byte, error) {
	data, err := appendName(make([]byte, 0, 96), CanonicalName(t.Algorithm))
	if err != nil {
		return nil, err
	}
	data = appendTime(data, t.TimeSigned)
	data = binary.BigEndian.AppendUint16(data, t.Fudge)
	data = binary.BigEndian.AppendUint16(data, uint16(len(t.MAC)))
	data = append(data, t.MAC...)
	data = binary.BigEndian.AppendUint16(data, t.OrigID)
	data = binary.BigEndian.AppendUint16(data, uint16(t.Error))
	data = binary.BigEndian.AppendUint16(data, uint16(len(t.Other)))
	data = append(data, t.Other...)
	return appendRR(b, RR{Name: t.Key, Type: TypeTSIG, Class: ClassANY, TTL: t.TTL, Data: data})
}

// readTSIG reads the TSIG record at off, which Parse has read as a record already. Data that ends early,
// after any field, leaves the fields after it empty, as the reference library reads it; such a record does
// not verify.
func readTSIG(b []byte, off int) (*TSIG, error) {
	t := &TSIG{}
	var err error
	if t.Key, off, err = readName(b, off); err != nil {
		return nil, err
	}
	t.TTL = binary.BigEndian.Uint32(b[off+4:])
	end := off + 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	d := b[:end]
	if off += 10; off == end {
		return t, nil // a record without data
	}
	if t.Algorithm, off, err = readName(d, off); err != nil {
		return nil, errfmt.Errorf("algorithm: %w", err)
	}
	field := func(n int) ([]byte, bool) {
		if off == end {
			return nil, false
		}
		if off+n > end {
			err = ErrShort
			return nil, false
		}
		off += n
		return d[off-n : off : off], true
	}
	f, ok := field(6)
	if !ok {
		return t, err
	}
	for _, c := range f {
		t.TimeSigned = t.TimeSigned<<8 | uint64(c)
	}
	if f, ok = field(2); !ok {
		return t, err
	}
	t.Fudge = binary.BigEndian.Uint16(f)
	if f, ok = field(2); !ok {
		return t, err
	}
	macLen := int(binary.BigEndian.Uint16(f))
	if off+macLen > end {
		return nil, ErrShort
	}
	t.MAC, off = d[off:off+macLen:off+macLen], off+macLen
	if f, ok = field(2); !ok {
		if err == nil && off == end {
			err = ErrShort // the reference library wants the original ID after the MAC
		}
		return t, err
	}
	t.OrigID = binary.BigEndian.Uint16(f)
	if f, ok = field(2); !ok {
		return t, err
	}
	t.Error = int(binary.BigEndian.Uint16(f))
	if f, ok = field(2); !ok {
		return t, err
	}
	otherLen := int(binary.BigEndian.Uint16(f))
	if off == end {
		return t, nil
	}
	if off+otherLen > end {
		return nil, ErrShort
	}
	if off+otherLen < end {
		return nil, errfmt.Errorf("%w: %d bytes after the TSIG record's fields", ErrRdata, end-off-otherLen)
	}
	t.Other = d[off:end:end]
	return t, nil
}
