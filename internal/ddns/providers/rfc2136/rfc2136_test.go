package rfc2136

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/dnswire"
)

const testSecret = "vLOYVi76SJwCOvgi0woFuu8jx6svhl1M5LQXabpivGw="

// reply is an answer to an UPDATE, written by miekg/dns and read by dnswire as exchange reads it.
func reply(rcode int, tsigErr uint16) *dnswire.Msg {
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.Rcode = rcode
	if tsigErr != 0 {
		m.SetTsig("k.", dns.HmacSHA256, 300, 0)
		m.Extra[len(m.Extra)-1].(*dns.TSIG).Error = tsigErr
	}
	wire, err := m.Pack()
	if err != nil {
		panic(err)
	}
	r, err := dnswire.Parse(wire)
	if err != nil {
		panic(err)
	}
	return r
}

func TestClassify(t *testing.T) {
	unsigned := errUnsigned
	cases := []struct {
		name     string
		r        *dnswire.Msg
		verr     error
		kind     error
		auth     bool
		unsigned bool
		msg      string
	}{
		{"noerror", reply(dns.RcodeSuccess, 0), nil, nil, false, false, ""},
		{"badsig", reply(dns.RcodeNotAuth, dns.RcodeBadSig), dnswire.ErrSig, provider.ErrHold, true, false, "secret"},
		{"badkey", reply(dns.RcodeNotAuth, dns.RcodeBadKey), dnswire.ErrSig, provider.ErrHold, true, false, "does not know the key"},
		{"badtime", reply(dns.RcodeNotAuth, dns.RcodeBadTime), dnswire.ErrTime, provider.ErrTransient, false, false, "clock"},
		{"signed notauth", reply(dns.RcodeNotAuth, 0), nil, provider.ErrHold, false, false, "not authoritative"},
		{"signed refused", reply(dns.RcodeRefused, 0), nil, provider.ErrHold, true, false, "update policy"},
		{"signed yxrrset", reply(dns.RcodeYXRrset, 0), nil, provider.ErrHold, false, false, "home.example.net is a CNAME"},
		{"signed nxrrset", reply(dns.RcodeNXRrset, 0), nil, provider.ErrHold, false, false, "prerequisite"},
		{"servfail", reply(dns.RcodeServerFailure, 0), unsigned, provider.ErrTransient, false, false, "failed"},
		{"signed notzone", reply(dns.RcodeNotZone, 0), nil, provider.ErrHold, false, false, "not in the zone"},
		{"unsigned refused", reply(dns.RcodeRefused, 0), unsigned, provider.ErrTransient, false, true, "unsigned"},
		{"unsigned notauth", reply(dns.RcodeNotAuth, 0), unsigned, provider.ErrTransient, false, true, "unsigned"},
		{"unsigned noerror", reply(dns.RcodeSuccess, 0), unsigned, provider.ErrTransient, false, true, "unsigned"},
		{"bad signature on noerror", reply(dns.RcodeSuccess, 0), dnswire.ErrSig, provider.ErrTransient, false, true, "does not verify"},
		{"timeout", nil, errors.New("i/o timeout"), provider.ErrTransient, false, false, "no answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, perr := Classify(c.r, c.verr, "home.example.net.", time.Unix(1e9, 0))
			var err error
			if perr != nil {
				err = perr
			}
			if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) || provider.IsAuth(err) != c.auth ||
				errors.Is(err, errUnsigned) != c.unsigned || err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %v, want %v auth %v unsigned %v saying %q", err, c.kind, c.auth, c.unsigned, c.msg)
			}
		})
	}
}

// TestClockMessage: the BADTIME message gives the difference and the server's time from Other Data (RFC 8945
// section 5.2.3), or from a Time Signed that is not the request's.
func TestClockMessage(t *testing.T) {
	sent := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	server := sent.Add(-2 * time.Hour)
	st := uint64(server.Unix())
	other := &dnswire.TSIG{TimeSigned: uint64(sent.Unix()), Other: []byte{byte(st >> 40), byte(st >> 32), byte(st >> 24), byte(st >> 16), byte(st >> 8), byte(st)}}
	signed := &dnswire.TSIG{TimeSigned: uint64(server.Unix())}
	none := &dnswire.TSIG{TimeSigned: uint64(sent.Unix())}
	for name, c := range map[string]struct {
		t    *dnswire.TSIG
		want string
	}{
		"other data":  {other, "about 7200 s ahead of the server's (server time 2026-01-02T01:00:00Z"},
		"time signed": {signed, "about 7200 s ahead of the server's (server time 2026-01-02T01:00:00Z"},
		"neither":     {none, "(2026-01-02T03:00:00Z) differs from the server's by more than 300 s"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := clockMsg(c.t, sent); !strings.Contains(got, c.want) {
				t.Errorf("%s: %q, want it to contain %q", name, got, c.want)
			}
		})
	}
}

// fakeServer answers DNS over TCP on loopback with whatever answer says, and counts UDP datagrams, which it
// never answers: updates must not go over UDP.
type fakeServer struct {
	addr   string
	mu     sync.Mutex
	udp    int
	msgs   []*dns.Msg
	answer func(req *dns.Msg) *dns.Msg
}

func newFakeServer(t *testing.T, answer func(req *dns.Msg) *dns.Msg) *fakeServer {
	t.Helper()
	f := &fakeServer{answer: answer}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	u, err := net.ListenPacket("udp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); u.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := u.ReadFrom(buf); err != nil {
				return
			}
			f.mu.Lock()
			f.udp++
			f.mu.Unlock()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				co := &dns.Conn{Conn: c}
				raw, err := co.ReadMsgHeader(nil)
				if err != nil {
					return
				}
				req := new(dns.Msg)
				if req.Unpack(raw) != nil {
					return
				}
				f.mu.Lock()
				f.msgs = append(f.msgs, req)
				f.mu.Unlock()
				r := f.answer(req)
				r.Id = req.Id
				b, _ := r.Pack()
				co.Write(b)
			}()
		}
	}()
	return f
}

func (f *fakeServer) updates() (n int, udp int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.msgs {
		if m.Opcode == dns.OpcodeUpdate {
			n++
		}
	}
	return n, f.udp
}

func newProvider(t *testing.T, server string) *rfc2136 {
	t.Helper()
	p, err := New(provider.Entry{Provider: "rfc2136", Hostname: "home.example.net"},
		&Settings{Server: server, Zone: "example.net", TSIGKey: "hairpin-key", TSIGAlgorithm: "hmac-sha256", TTL: 60},
		provider.Env{SecretBlock: func(file, env string) (string, error) { return testSecret, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return p.(*rfc2136)
}

// TestUnsignedRefusals: an unsigned REFUSED to a signed update is transient, marked to hold when it comes
// UnsignedRefusalsToHold times in a row (the engine counts the row), over TCP; nothing goes over UDP. A probe
// that the server does not sign either leaves the clock out of it. The engine's side is TestUnsignedRefusalsHoldAcrossRuns.
func TestUnsignedRefusals(t *testing.T) {
	f := newFakeServer(t, func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetRcode(req, dns.RcodeRefused)
		return r
	})
	p := newProvider(t, f.addr)
	addr := netip.MustParseAddr("203.0.113.10")
	_, err := p.Update(context.Background(), addr)
	var pe *provider.Error
	if !errors.As(err, &pe) || !errors.Is(err, provider.ErrTransient) || provider.IsHold(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if pe.HoldAfter != UnsignedRefusalsToHold || !strings.Contains(pe.HoldMsg, "3 signed updates in a row over TCP") {
		t.Errorf("hold after %d: %q", pe.HoldAfter, pe.HoldMsg)
	}
	if n, udp := f.updates(); n < 1 || udp != 0 {
		t.Errorf("%d updates over TCP and %d datagrams over UDP", n, udp)
	}

	// A router clock that cannot be right (no real-time clock, NTP not synced yet) never holds on refusals
	// that may be the clock's fault.
	saved := PlausibleClock
	PlausibleClock = time.Now().Add(time.Hour)
	defer func() { PlausibleClock = saved }()
	_, err = p.Update(context.Background(), addr)
	if !errors.As(err, &pe) || pe.HoldAfter != 0 || !strings.Contains(err.Error(), "cannot be right") {
		t.Fatalf("with an implausible clock: %v (hold after %d)", err, pe.HoldAfter)
	}
}

// TestUpdateConfirms: an update the server answers NOERROR but does not apply (as Knot does for an A record at
// a CNAME without the prerequisite) is not a success; a server that already holds the record gets no update.
func TestUpdateConfirms(t *testing.T) {
	addr := netip.MustParseAddr("203.0.113.10")
	for name, c := range map[string]struct {
		serves  []dns.RR
		updates int
		ok      bool
		msg     string
	}{
		"applies nothing": {nil, 1, false, "serves no A record for home.example.net, not 203.0.113.10"},
		"already there":   {[]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: addr.AsSlice()}}, 0, true, ""},
		"other ttl":       {[]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: addr.AsSlice()}}, 1, true, ""},
		"CNAME": {[]dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: "home.example.net.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "other.example.net."},
			&dns.A{Hdr: dns.RR_Header{Name: "other.example.net.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: addr.AsSlice()}}, 1, false,
			"home.example.net is a CNAME (for other.example.net)"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, func(req *dns.Msg) *dns.Msg {
				r := new(dns.Msg)
				r.SetReply(req)
				r.Authoritative = true
				if req.Opcode == dns.OpcodeUpdate {
					r.SetTsig("hairpin-key.", dns.HmacSHA256, 300, time.Now().Unix())
					return signAnswer(t, r, req)
				}
				r.Answer = c.serves
				return r
			})
			p := newProvider(t, f.addr)
			answer, err := p.Update(context.Background(), addr)
			if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("answer %q, err = %v; want ok %v saying %q", answer, err, c.ok, c.msg)
			}
			if n, _ := f.updates(); n != c.updates {
				t.Errorf("%d updates sent, want %d", n, c.updates)
			}
		})
	}
}

// signAnswer signs r as the server would, with the request's MAC.
func signAnswer(t *testing.T, r, req *dns.Msg) *dns.Msg {
	t.Helper()
	// The request as received carries the client's MAC; the answer is signed over it.
	mac := req.IsTsig().MAC
	wire, _, err := dns.TsigGenerate(r, testSecret, mac, false)
	if err != nil {
		t.Fatal(err)
	}
	out := new(dns.Msg)
	if err := out.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNewRefusesUnwritableNames: a tsig_key or zone that no DNS message can carry is an error when the provider
// is built, naming the key, not a failure at every update.
func TestNewRefusesUnwritableNames(t *testing.T) {
	for name, c := range map[string]struct {
		s    Settings
		want string
	}{
		"empty label in the key": {Settings{Server: "192.0.2.53", Zone: "example.net", TSIGKey: "hairpin..key"}, `tsig_key "hairpin..key"`},
		"label of 64 octets":     {Settings{Server: "192.0.2.53", Zone: "example.net", TSIGKey: strings.Repeat("k", 64)}, "longer than 63"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(provider.Entry{Provider: "rfc2136", Hostname: "home.example.net"}, &c.s,
				provider.Env{SecretBlock: func(file, env string) (string, error) { return testSecret, nil }})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
	// Negative control: the same settings with a writable key build.
	if _, err := New(provider.Entry{Provider: "rfc2136", Hostname: "home.example.net"}, &Settings{Server: "192.0.2.53", Zone: "example.net", TSIGKey: "hairpin-key"},
		provider.Env{SecretBlock: func(file, env string) (string, error) { return testSecret, nil }}); err != nil {
		t.Errorf("a writable key: %v", err)
	}
}

func TestParseKeyFile(t *testing.T) {
	const v = testSecret
	cases := map[string]Key{
		v:               {Secret: v},
		v + "\n":        {Secret: v},
		"  " + v + "\n": {Secret: v},
		"key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + v + "\";\n};\n":                     {Name: "k", Algorithm: "hmac-sha256", Secret: v},
		"# made by tsig-keygen\nkey k. { algorithm HMAC-SHA512; secret \"" + v + "\"; };":          {Name: "k.", Algorithm: "hmac-sha512", Secret: v},
		"algorithm hmac-sha1; secret \"" + v + "\";":                                               {Algorithm: "hmac-sha1", Secret: v},
		"# hmac-sha256:k:" + v + "\nkey:\n  - id: k\n    algorithm: hmac-sha256\n    secret: " + v: {Name: "k", Algorithm: "hmac-sha256", Secret: v},
		"hmac-sha224:k:" + v:                     {Name: "k", Algorithm: "hmac-sha224", Secret: v},
		"k:" + v:                                 {Name: "k", Secret: v},
		"key \"a//b\" { secret \"ab//cd==\"; };": {Name: "a//b", Secret: "ab//cd=="},
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			got, err := ParseKeyFile(in)
			if err != nil || got != want {
				t.Errorf("ParseKeyFile(%q) = %+v, %v; want %+v", in, got, err, want)
			}
		})
	}
	for _, bad := range []string{"", "not base64!", "a:b:c:d", "key:\n  - id: a\n", "key \"k\" { algorithm hmac-sha256; };",
		"hmac-sha256:k:" + v + "\nhmac-sha256:j:" + v} {
		t.Run(bad, func(t *testing.T) {
			if k, err := ParseKeyFile(bad); err == nil {
				t.Errorf("ParseKeyFile(%q) = %+v, want an error", bad, k)
			} else if strings.Contains(err.Error(), v) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// FuzzParseKeyFile: any file content gives a key or an error, and an error never holds the secret-looking
// content.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(testSecret)
	f.Add("key \"k\" { algorithm hmac-sha256; secret \"" + testSecret + "\"; };")
	f.Add("key:\n  - id: k\n    algorithm: hmac-sha256\n    secret: " + testSecret)
	f.Add("hmac-sha256:k:" + testSecret)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeyFile(s)
		if err == nil && k.Secret == "" {
			t.Fatalf("ParseKeyFile(%q) gave an empty secret", s)
		}
	})
}

// FuzzClassify feeds arbitrary wire messages, as a server might send, to the classifier.
func FuzzClassify(f *testing.F) {
	for _, rc := range [][2]int{{dns.RcodeSuccess, 0}, {dns.RcodeNotAuth, dns.RcodeBadSig}, {dns.RcodeRefused, 0}, {dns.RcodeNotAuth, dns.RcodeBadTime}} {
		m := new(dns.Msg)
		m.SetUpdate("example.net.")
		m.Rcode = rc[0]
		if rc[1] != 0 {
			m.SetTsig("k.", dns.HmacSHA256, 300, 0)
			m.Extra[0].(*dns.TSIG).Error = uint16(rc[1])
		}
		b, _ := m.Pack()
		f.Add(b, false)
	}
	f.Add([]byte{0, 1, 2}, true)
	f.Fuzz(func(t *testing.T, wire []byte, verifyFailed bool) {
		m, perr := dnswire.Parse(wire)
		if perr != nil {
			m = nil
		}
		var err error
		if verifyFailed {
			err = dnswire.ErrSig
		}
		answer, cerr := Classify(m, err, "home.example.net.", time.Now())
		if cerr == nil && answer != "NOERROR" {
			t.Fatalf("Classify = %q, %v", answer, cerr)
		}
	})
}
