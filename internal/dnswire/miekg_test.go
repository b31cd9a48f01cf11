package dnswire

// The reference: github.com/miekg/dns, an independent and widely used implementation, is held here as the
// oracle of what dnswire writes and reads. It is a test dependency only.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testSecret = "vLOYVi76SJwCOvgi0woFuu8jx6svhl1M5LQXabpivGw="

var algorithms = []string{HmacSHA1, HmacSHA224, HmacSHA256, HmacSHA384, HmacSHA512}

func testKey(t testing.TB, alg string) Key {
	t.Helper()
	secret, err := base64.StdEncoding.DecodeString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Name: "hairpin-key.", Algorithm: alg, Secret: secret}
}

// update builds the UPDATE the rfc2136 provider sends.
func update(t testing.TB, id uint16) []byte {
	t.Helper()
	b := NewBuilder(Header{ID: id, Opcode: OpcodeUpdate})
	b.Question("example.net.", TypeSOA, ClassINET)
	b.Answer(RR{Name: "home.example.net.", Type: TypeCNAME, Class: ClassNONE})
	b.Authority(RR{Name: "home.example.net.", Type: TypeA, Class: ClassANY})
	b.Authority(RR{Name: "home.example.net.", Type: TypeA, Class: ClassINET, TTL: 60, Data: []byte{203, 0, 113, 10}})
	wire, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// TestUpdateAsMiekgBuildsIt: the UPDATE is byte for byte the one miekg/dns builds with SetUpdate,
// RRsetNotUsed, RemoveRRset and Insert (uncompressed, as SetUpdate has it).
func TestUpdateAsMiekgBuildsIt(t *testing.T) {
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.Id = 0x1234
	m.RRsetNotUsed([]dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}}})
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(203, 0, 113, 10)}})
	want, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if got := update(t, 0x1234); !bytes.Equal(got, want) {
		t.Errorf("UPDATE\n got %x\nwant %x", got, want)
	}
	id, q, err := Query("Home.Example.net.", TypeAAAA, true)
	if err != nil {
		t.Fatal(err)
	}
	mq := new(dns.Msg)
	mq.SetQuestion("Home.Example.net.", dns.TypeAAAA)
	mq.Id = id
	if want, _ := mq.Pack(); !bytes.Equal(q, want) {
		t.Errorf("query\n got %x\nwant %x", q, want)
	}
}

// TestSignVerifiedByMiekg: what Sign signs, miekg/dns verifies, for every algorithm, as a request and as an
// answer to a signed request; and it reads the same TSIG record.
func TestSignVerifiedByMiekg(t *testing.T) {
	now := time.Now()
	reqMAC := bytes.Repeat([]byte{0xab}, 32)
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			for _, rm := range [][]byte{nil, reqMAC} {
				signed, mac, err := Sign(update(t, 7), testKey(t, alg), now, 300, rm)
				if err != nil {
					t.Fatal(err)
				}
				if err := dns.TsigVerify(append([]byte(nil), signed...), testSecret, hex.EncodeToString(rm), false); err != nil {
					t.Fatalf("request MAC %x: miekg/dns does not verify: %v", rm, err)
				}
				m := new(dns.Msg)
				if err := m.Unpack(signed); err != nil {
					t.Fatal(err)
				}
				tr := m.IsTsig()
				if tr == nil || tr.MAC != hex.EncodeToString(mac) || tr.OrigId != 7 || tr.Fudge != 300 ||
					tr.TimeSigned != uint64(now.Unix()) || tr.Algorithm != alg || tr.Hdr.Name != "hairpin-key." {
					t.Errorf("miekg/dns reads %v", tr)
				}
				// Negative control: another secret does not verify.
				if err := dns.TsigVerify(append([]byte(nil), signed...), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", hex.EncodeToString(rm), false); err == nil {
					t.Error("miekg/dns verifies with another secret")
				}
			}
		})
	}
}

// miekgAnswer is the answer to an UPDATE with rcode, signed by miekg/dns with reqMAC at signedAt.
func miekgAnswer(t testing.TB, alg, secret string, rcode int, reqMAC []byte, signedAt time.Time) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.Id = 0x4242
	m.Response = true
	m.Rcode = rcode
	m.SetTsig("hairpin-key.", alg, 300, signedAt.Unix())
	wire, _, err := dns.TsigGenerate(m, secret, hex.EncodeToString(reqMAC), false)
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// TestVerifyMiekgSigned: an answer miekg/dns signs verifies, for every algorithm and every response code
// (NOTAUTH included, which BIND signs); a changed byte, another secret, another request's MAC, another key
// name and a time outside the window do not.
func TestVerifyMiekgSigned(t *testing.T) {
	now := time.Now()
	reqMAC := bytes.Repeat([]byte{0x11}, 32)
	verify := func(wire []byte, k Key, rm []byte, at time.Time) error {
		m, err := Parse(wire)
		if err != nil {
			return err
		}
		return Verify(wire, m, k, rm, at)
	}
	for _, alg := range algorithms {
		for _, rcode := range []int{RcodeSuccess, RcodeRefused, RcodeNotAuth, RcodeYXRrset} {
			t.Run(alg+" "+RcodeName(rcode), func(t *testing.T) {
				k := testKey(t, alg)
				good := miekgAnswer(t, alg, testSecret, rcode, reqMAC, now)
				if err := verify(good, k, reqMAC, now); err != nil {
					t.Fatalf("signed by miekg/dns: %v", err)
				}
				tampered := append([]byte(nil), good...)
				tampered[14] ^= 1 // inside the zone's name
				renamed := k
				renamed.Name = "other-key."
				for name, c := range map[string]struct {
					wire []byte
					k    Key
					rm   []byte
					at   time.Time
					want error
				}{
					"tampered":           {tampered, k, reqMAC, now, ErrSig},
					"other secret":       {miekgAnswer(t, alg, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", rcode, reqMAC, now), k, reqMAC, now, ErrSig},
					"other request":      {good, k, bytes.Repeat([]byte{0x22}, 32), now, ErrSig},
					"no request MAC":     {good, k, nil, now, ErrSig},
					"other key":          {good, renamed, reqMAC, now, ErrKey},
					"301 s later":        {good, k, reqMAC, now.Add(301 * time.Second), ErrTime},
					"301 s earlier":      {good, k, reqMAC, now.Add(-301 * time.Second), ErrTime},
					"just inside window": {good, k, reqMAC, now.Add(300 * time.Second), nil},
				} {
					if err := verify(c.wire, c.k, c.rm, c.at); !errors.Is(err, c.want) && (err != nil || c.want != nil) {
						t.Errorf("%s: err = %v, want %v", name, err, c.want)
					}
				}
			})
		}
	}
}

// TestVerifyUnsigned: a BADSIG answer carries an empty MAC (RFC 8945 section 5.3.2) and does not verify; a
// message without TSIG record is ErrNoSig.
func TestVerifyUnsigned(t *testing.T) {
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.Response, m.Rcode = true, dns.RcodeNotAuth
	m.SetTsig("hairpin-key.", dns.HmacSHA256, 300, time.Now().Unix())
	m.Extra[0].(*dns.TSIG).Error = dns.RcodeBadSig
	wire, _, err := dns.TsigGenerate(m, testSecret, "", false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	if r.TSIG == nil || r.TSIG.Error != RcodeBadSig || len(r.TSIG.MAC) != 0 {
		t.Fatalf("TSIG = %+v", r.TSIG)
	}
	if err := Verify(wire, r, testKey(t, HmacSHA256), nil, time.Now()); !errors.Is(err, ErrSig) {
		t.Errorf("BADSIG answer: err = %v, want ErrSig", err)
	}
	plain, _ := Parse(update(t, 1))
	if err := Verify(update(t, 1), plain, testKey(t, HmacSHA256), nil, time.Now()); !errors.Is(err, ErrNoSig) {
		t.Errorf("no TSIG: err = %v, want ErrNoSig", err)
	}
}

// sameAsMiekg fails the test where m (read by Parse) and r (read by miekg/dns from the same bytes) differ in
// anything hairpin reads.
func sameAsMiekg(t *testing.T, m *Msg, r *dns.Msg, wire []byte) {
	t.Helper()
	h := Header{ID: r.Id, Response: r.Response, Opcode: r.Opcode, Authoritative: r.Authoritative, Truncated: r.Truncated,
		RecursionDesired: r.RecursionDesired, RecursionAvailable: r.RecursionAvailable, Rcode: r.Rcode}
	if m.Header != h {
		t.Fatalf("%x: header %+v, miekg/dns reads %+v", wire, m.Header, h)
	}
	if len(m.Question) != len(r.Question) {
		t.Fatalf("%x: %d questions, miekg/dns reads %d", wire, len(m.Question), len(r.Question))
	}
	for i, q := range r.Question {
		if m.Question[i] != (Question{q.Name, q.Qtype, q.Qclass}) {
			t.Fatalf("%x: question %+v, miekg/dns reads %+v", wire, m.Question[i], q)
		}
	}
	for s, pair := range [][2]any{{m.Answer, r.Answer}, {m.Authority, r.Ns}, {m.Additional, r.Extra}} {
		mine, theirs := pair[0].([]RR), pair[1].([]dns.RR)
		if len(mine) != len(theirs) {
			t.Fatalf("%x: section %d has %d records, miekg/dns reads %d", wire, s, len(mine), len(theirs))
		}
		for i, rr := range theirs {
			got, hd := mine[i], rr.Header()
			if got.Name != hd.Name || got.Type != hd.Rrtype || got.Class != hd.Class || got.TTL != hd.Ttl {
				t.Fatalf("%x: record %+v, miekg/dns reads %v", wire, got, rr)
			}
			var addr netip.Addr
			var target string
			switch rr := rr.(type) {
			case *dns.A:
				addr, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				addr, _ = netip.AddrFromSlice(rr.AAAA)
			case *dns.CNAME:
				target = rr.Target
			}
			if got.Addr != addr || got.Target != target {
				t.Fatalf("%x: record data %v %q, miekg/dns reads %v", wire, got.Addr, got.Target, rr)
			}
		}
	}
	tr := r.IsTsig()
	if (tr == nil) != (m.TSIG == nil) {
		t.Fatalf("%x: TSIG %+v, miekg/dns reads %v", wire, m.TSIG, tr)
	}
	if tr != nil {
		mt := m.TSIG
		if mt.Key != tr.Hdr.Name || mt.Algorithm != tr.Algorithm || mt.TimeSigned != tr.TimeSigned || mt.Fudge != tr.Fudge ||
			hex.EncodeToString(mt.MAC) != tr.MAC || mt.OrigID != tr.OrigId || mt.Error != int(tr.Error) ||
			hex.EncodeToString(mt.Other) != tr.OtherData {
			t.Fatalf("%x: TSIG %+v, miekg/dns reads %v", wire, mt, tr)
		}
	}
}

// seeds are messages of the kinds hairpin reads: answers to queries with CNAME chains, compression and EDNS,
// signed UPDATE answers, a bare header.
func seeds(t testing.TB) [][]byte {
	q := new(dns.Msg)
	q.SetQuestion("www.Example.net.", dns.TypeA)
	r := new(dns.Msg)
	r.SetReply(q)
	r.Compress = true
	r.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "www.Example.net.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 30}, Target: "a\\.b.example.net."},
		&dns.A{Hdr: dns.RR_Header{Name: "a\\.b.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(203, 0, 113, 7)},
		&dns.AAAA{Hdr: dns.RR_Header{Name: "a\\.b.example.net.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: net.ParseIP("2001:db8::1")},
		&dns.TXT{Hdr: dns.RR_Header{Name: "example.net.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"x y"}},
	}
	r.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.net.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.example.net."}}
	r.SetEdns0(1232, false)
	r.Rcode = dns.RcodeBadVers // packed as EDNS's extended bits
	a, err := r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	reqMAC := bytes.Repeat([]byte{1}, 32)
	other := new(dns.Msg)
	other.SetUpdate("example.net.")
	other.Response, other.Rcode = true, dns.RcodeNotAuth
	other.SetTsig("hairpin-key.", dns.HmacSHA256, 300, time.Now().Unix())
	other.Extra[0].(*dns.TSIG).Error = dns.RcodeBadTime
	other.Extra[0].(*dns.TSIG).OtherLen = 6
	other.Extra[0].(*dns.TSIG).OtherData = "00006553f100"
	badtime, _, err := dns.TsigGenerate(other, testSecret, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{a, update(t, 3), miekgAnswer(t, dns.HmacSHA256, testSecret, dns.RcodeSuccess, reqMAC, time.Now()), badtime,
		{0, 1, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0}, {0, 1, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0, 0}, {0, 1, 2}}
}

// FuzzParse holds Parse to miekg/dns: whatever miekg/dns reads, Parse reads the same (header, questions, every
// record's owner, type, class and TTL, A, AAAA and CNAME data, the TSIG record). Parse may read messages that
// miekg/dns refuses for malformed data of record types hairpin does not read. Whatever it reads, it reads
// without panicking, and a message it reads keeps its records within the message.
func FuzzParse(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		m, err := Parse(wire)
		r := new(dns.Msg)
		rerr := r.Unpack(wire)
		if rerr == nil && len(wire) <= 65535 {
			if err != nil {
				t.Fatalf("%x: Parse: %v; miekg/dns reads %v", wire, err, r)
			}
			sameAsMiekg(t, m, r, wire)
		}
		if err == nil && m.TSIG != nil {
			// Nothing verifies without the key.
			k := testKey(t, HmacSHA256)
			k.Secret = []byte("not the key")
			if Verify(wire, m, k, nil, time.Now()) == nil {
				t.Fatalf("%x verifies", wire)
			}
		}
	})
}

// TestParseSeeds runs the seeds through FuzzParse's comparison, and checks what they hold.
func TestParseSeeds(t *testing.T) {
	for i, wire := range seeds(t) {
		m, err := Parse(wire)
		r := new(dns.Msg)
		if rerr := r.Unpack(wire); rerr != nil {
			if err == nil && i < 4 {
				t.Fatalf("seed %d: miekg/dns: %v", i, rerr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		sameAsMiekg(t, m, r, wire)
	}
	m, _ := Parse(seeds(t)[0])
	if m.Rcode != RcodeBadSig || m.Answer[0].Target != `a\.b.example.net.` || m.Answer[1].Addr != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("read %+v", m)
	}
	m, _ = Parse(seeds(t)[3])
	if m.TSIG == nil || m.TSIG.Error != RcodeBadTime || !bytes.Equal(m.TSIG.Other, []byte{0, 0, 0x65, 0x53, 0xf1, 0}) {
		t.Errorf("BADTIME answer's TSIG: %+v", m.TSIG)
	}
}

// FuzzBuild holds the Builder to miekg/dns: a record of any owner, type, class, TTL and data that the Builder
// writes reads back the same in miekg/dns, and a name the Builder refuses, miekg/dns refuses too.
func FuzzBuild(f *testing.F) {
	f.Add("home.example.net.", uint16(1), uint16(1), uint32(60), []byte{203, 0, 113, 1})
	f.Add(`a\.b\065.example.`, uint16(28), uint16(254), uint32(0), []byte{})
	f.Add(".", uint16(16), uint16(255), uint32(1), []byte("\x03abc"))
	f.Fuzz(func(t *testing.T, name string, typ, class uint16, ttl uint32, data []byte) {
		b := NewBuilder(Header{ID: 9, Opcode: OpcodeUpdate})
		b.Question(name, TypeSOA, ClassINET)
		b.Authority(RR{Name: name, Type: typ, Class: class, TTL: ttl, Data: data})
		wire, err := b.Finish()
		_, ok := dns.IsDomainName(name)
		if err != nil {
			if ok && !strings.Contains(name, "\\") {
				t.Fatalf("Builder refuses %q: %v; miekg/dns takes it", name, err)
			}
			return
		}
		if !ok {
			t.Fatalf("Builder writes %q, which miekg/dns refuses", name)
		}
		m, err := Parse(wire)
		r := new(dns.Msg)
		rerr := r.Unpack(wire)
		if err != nil {
			if rerr == nil {
				t.Fatalf("%x: Parse: %v; miekg/dns reads it", wire, err)
			}
			return // data that is not its type's (an A record of 3 bytes)
		}
		if got := m.Authority[0]; got.Type != typ || got.Class != class || got.TTL != ttl || !bytes.Equal(got.Data, data) {
			t.Fatalf("wrote %q %d %d %d %x, read %+v", name, typ, class, ttl, data, got)
		}
		if rerr == nil {
			sameAsMiekg(t, m, r, wire)
		}
	})
}
