package rfc2136

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"

	"github.com/miekg/dns"
)

// verifyNotAuth checks the TSIG signature of an answer with rcode NOTAUTH, which miekg/dns refuses to verify
// at all (it reads NOTAUTH as a TSIG failure). BIND signs NOTAUTH when it is not authoritative for the zone,
// and that answer deserves to be believed like any other signed one. The MAC is computed as RFC 8945
// section 4.3.3 says: the request's MAC, the message without its TSIG record (original ID, one fewer
// additional record), and the TSIG variables.
func verifyNotAuth(raw []byte, secret, requestMAC string) error {
	if len(raw) < 12 {
		return dns.ErrShortRead
	}
	counts := func(i int) int { return int(binary.BigEndian.Uint16(raw[4+2*i:])) }
	off := 12
	var err error
	for range counts(0) {
		if _, off, err = dns.UnpackDomainName(raw, off); err != nil {
			return err
		}
		off += 4
	}
	total := counts(1) + counts(2) + counts(3)
	var tsig *dns.TSIG
	tsigOff := 0
	for i := range total {
		start := off
		var rr dns.RR
		if rr, off, err = dns.UnpackRR(raw, off); err != nil {
			return err
		}
		if t, ok := rr.(*dns.TSIG); ok && i == total-1 {
			tsig, tsigOff = t, start
		}
	}
	if tsig == nil {
		return dns.ErrNoSig
	}
	var h func() hash.Hash
	switch dns.CanonicalName(tsig.Algorithm) {
	case dns.HmacSHA1:
		h = sha1.New
	case dns.HmacSHA224:
		h = sha256.New224
	case dns.HmacSHA256:
		h = sha256.New
	case dns.HmacSHA384:
		h = sha512.New384
	case dns.HmacSHA512:
		h = sha512.New
	default:
		return dns.ErrKeyAlg
	}
	key, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return err
	}
	msg := append([]byte(nil), raw[:tsigOff]...)
	binary.BigEndian.PutUint16(msg[0:], tsig.OrigId)
	binary.BigEndian.PutUint16(msg[10:], uint16(counts(3)-1))

	mac := hmac.New(h, key)
	if requestMAC != "" {
		rm, err := hex.DecodeString(requestMAC)
		if err != nil {
			return err
		}
		mac.Write(binary.BigEndian.AppendUint16(nil, uint16(len(rm))))
		mac.Write(rm)
	}
	mac.Write(msg)
	vars := make([]byte, 0, 64)
	name := make([]byte, 256)
	n, err := dns.PackDomainName(dns.CanonicalName(tsig.Hdr.Name), name, 0, nil, false)
	if err != nil {
		return err
	}
	vars = append(vars, name[:n]...)
	vars = binary.BigEndian.AppendUint16(vars, dns.ClassANY)
	vars = binary.BigEndian.AppendUint32(vars, 0)
	if n, err = dns.PackDomainName(dns.CanonicalName(tsig.Algorithm), name, 0, nil, false); err != nil {
		return err
	}
	vars = append(vars, name[:n]...)
	vars = append(vars, byte(tsig.TimeSigned>>40), byte(tsig.TimeSigned>>32), byte(tsig.TimeSigned>>24),
		byte(tsig.TimeSigned>>16), byte(tsig.TimeSigned>>8), byte(tsig.TimeSigned))
	vars = binary.BigEndian.AppendUint16(vars, tsig.Fudge)
	vars = binary.BigEndian.AppendUint16(vars, tsig.Error)
	other, err := hex.DecodeString(tsig.OtherData)
	if err != nil {
		return err
	}
	vars = binary.BigEndian.AppendUint16(vars, uint16(len(other)))
	vars = append(vars, other...)
	mac.Write(vars)
	got, err := hex.DecodeString(tsig.MAC)
	if err != nil || !hmac.Equal(mac.Sum(nil), got) {
		return dns.ErrSig
	}
	if d := time.Since(time.Unix(int64(tsig.TimeSigned), 0)); d > time.Duration(tsig.Fudge)*time.Second ||
		d < -time.Duration(tsig.Fudge)*time.Second {
		return dns.ErrTime
	}
	return nil
}
