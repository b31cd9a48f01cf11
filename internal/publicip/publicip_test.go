package publicip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"github.com/pion/stun/v3"

	"github.com/hairpin-nat/hairpin/internal/publicip/source"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// httpIP serves body on 127.0.0.1 and counts requests.
func httpIP(t *testing.T, status int, body string) (string, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.UserAgent() == "" || !strings.HasPrefix(r.UserAgent(), "hairpin") {
			t.Errorf("User-Agent = %q", r.UserAgent())
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// httpHung never answers until the client gives up.
func httpHung(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stunServer answers binding requests on 127.0.0.1 with ip as the mapped address, after ignoring the first
// drop requests.
func stunServer(t *testing.T, ip string, drop int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			if drop > 0 {
				drop--
				continue
			}
			resp := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: net.ParseIP(ip), Port: 4242}, stun.Fingerprint)
			pc.WriteTo(resp.Raw, from)
		}
	}()
	return pc.LocalAddr().String()
}

// dnsServer answers A questions for name on 127.0.0.1 with ip, or with rcode when ip is "".
func dnsServer(t *testing.T, name, ip string, rcode int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case ip == "":
			m.Rcode = rcode
		case q.Qtype == dns.TypeA && strings.EqualFold(q.Name, dns.Fqdn(name)):
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
				A:   net.ParseIP(ip),
			})
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.ActivateAndServe()
	}()
	t.Cleanup(func() {
		srv.Shutdown()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func discover(t *testing.T, sources []string, opts Options) (netip.Addr, string, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	d, err := NewDiscoverer(sources, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d.Discover(context.Background())
}

func TestDiscoverEachKind(t *testing.T) {
	httpURL, _ := httpIP(t, 200, " 203.0.113.7\r\n")
	stunAddr := stunServer(t, "198.51.100.4", 0)
	dnsAddr := dnsServer(t, DefaultDNSName, "192.0.2.9", 0)
	otherDNS := dnsServer(t, "me.example.test", "203.0.113.99", 0)
	tests := []struct {
		source string
		want   string
	}{
		{httpURL, "203.0.113.7"},
		{"stun:" + stunAddr, "198.51.100.4"},
		{"dns:" + dnsAddr, "192.0.2.9"},
		{"dns:" + otherDNS + "/me.example.test", "203.0.113.99"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			addr, from, err := discover(t, []string{tt.source}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if addr.String() != tt.want || from != tt.source {
				t.Errorf("got %v from %s, want %s from %s", addr, from, tt.want, tt.source)
			}
		})
	}
}

func TestDiscoverRejectsGarbage(t *testing.T) {
	tests := []struct {
		name   string
		source func(t *testing.T) string
		want   string
	}{
		{"http text", func(t *testing.T) string { u, _ := httpIP(t, 200, "<html>hello</html>"); return u }, "not an address"},
		{"http private", func(t *testing.T) string { u, _ := httpIP(t, 200, "192.168.1.10"); return u }, "private"},
		{"http cgnat", func(t *testing.T) string { u, _ := httpIP(t, 200, "100.64.3.4"); return u }, "carrier-grade"},
		{"http ipv6", func(t *testing.T) string { u, _ := httpIP(t, 200, "2001:db8::1"); return u }, "not an IPv4"},
		{"http loopback", func(t *testing.T) string { u, _ := httpIP(t, 200, "127.0.0.1"); return u }, "loopback"},
		{"http long", func(t *testing.T) string { u, _ := httpIP(t, 200, strings.Repeat("1", 1000)); return u }, "longer than"},
		{"http status", func(t *testing.T) string { u, _ := httpIP(t, 503, "203.0.113.1"); return u }, "503"},
		{"stun private", func(t *testing.T) string { return "stun:" + stunServer(t, "10.1.2.3", 0) }, "private"},
		{"dns nxdomain", func(t *testing.T) string { return "dns:" + dnsServer(t, "x", "", dns.RcodeNameError) }, "NXDOMAIN"},
		{"dns wrong name", func(t *testing.T) string { return "dns:" + dnsServer(t, "other.test", "203.0.113.1", 0) }, "NXDOMAIN"},
		{"dns multicast", func(t *testing.T) string { return "dns:" + dnsServer(t, DefaultDNSName, "224.0.0.1", 0) }, "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _, err := discover(t, []string{tt.source(t)}, Options{Timeout: 2 * time.Second})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, %v; want an error with %q", addr, err, tt.want)
			}
		})
	}
}

func TestDiscoverFirstAnswerWins(t *testing.T) {
	good, _ := httpIP(t, 200, "203.0.113.1")
	bad, _ := httpIP(t, 200, "garbage")
	hung := httpHung(t)
	tests := []struct {
		name    string
		sources []string
		stagger time.Duration
	}{
		{"all at once, hung first", []string{hung, "stun:" + stunServer(t, "198.51.100.1", 0)}, -1},
		{"all at once, good last", []string{hung, bad, good}, -1},
		// A long stagger shows that a failure starts the next source at once.
		{"failure moves on", []string{bad, good}, time.Minute},
		{"stagger moves on from a hung source", []string{hung, good}, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			addr, from, err := discover(t, tt.sources, Options{Timeout: time.Minute, Stagger: tt.stagger})
			if err != nil {
				t.Fatal(err)
			}
			if from != tt.sources[len(tt.sources)-1] {
				t.Errorf("answer %v came from %s, want the last source", addr, from)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %v: waited for the hung source", el)
			}
		})
	}
}

func TestDiscoverTimeout(t *testing.T) {
	hung := httpHung(t)
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	start := time.Now()
	_, _, err = discover(t, []string{hung, "stun:" + pc.LocalAddr().String(), "dns:" + pc.LocalAddr().String()},
		Options{Timeout: 100 * time.Millisecond, Stagger: -1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v with a 100ms timeout", el)
	}
}

func TestDiscoverSTUNRetransmits(t *testing.T) {
	addr, _, err := discover(t, []string{"stun:" + stunServer(t, "203.0.113.50", 1)}, Options{})
	if err != nil || addr.String() != "203.0.113.50" {
		t.Errorf("got %v, %v after a lost request", addr, err)
	}
}

func TestDiscoverMinInterval(t *testing.T) {
	u, hits := httpIP(t, 200, "203.0.113.1")
	bad, badHits := httpIP(t, 500, "")
	// The servers live outside the bubble and the client closes its connections, so nothing in the bubble
	// waits on the network while fake time passes.
	synctest.Test(t, func(t *testing.T) {
		d, err := NewDiscoverer([]string{u}, Options{HTTPClient: closingClient(), Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			advance time.Duration
			hits    int32
		}{{0, 1}, {10 * time.Second, 1}, {19 * time.Second, 1}, {time.Second, 2}, {29 * time.Second, 2}, {time.Minute, 3}}
		for i, s := range steps {
			time.Sleep(s.advance)
			addr, _, err := d.Discover(context.Background())
			if err != nil || addr.String() != "203.0.113.1" {
				t.Fatalf("step %d: %v, %v", i, addr, err)
			}
			if got := hits.Load(); got != s.hits {
				t.Errorf("step %d: %d requests, want %d", i, got, s.hits)
			}
		}

		// Errors are cached too, so a broken service is not hammered either.
		d, _ = NewDiscoverer([]string{bad}, Options{HTTPClient: closingClient(), Logger: discard()})
		for range 3 {
			if _, _, err := d.Discover(context.Background()); err == nil {
				t.Fatal("no error from a failing source")
			}
		}
		if got := badHits.Load(); got != 1 {
			t.Errorf("failing source asked %d times, want 1", got)
		}
	})
}

// closingClient closes each connection after its answer, for tests in a synctest bubble.
func closingClient() *web.Client {
	return &web.Client{DisableKeepAlives: true}
}

func TestDiscoverCancelNotCached(t *testing.T) {
	u, hits := httpIP(t, 200, "203.0.113.1")
	hung := httpHung(t)
	d, err := NewDiscoverer([]string{hung, u}, Options{Stagger: time.Hour, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := d.Discover(ctx); err == nil {
		t.Fatal("no error from a cancelled discovery")
	}
	d.opts.Stagger = -1
	if addr, _, err := d.Discover(context.Background()); err != nil || addr.String() != "203.0.113.1" {
		t.Errorf("after a cancelled call: %v, %v (%d requests)", addr, err, hits.Load())
	}
}

func TestDiscoverDial(t *testing.T) {
	u, _ := httpIP(t, 200, "203.0.113.77")
	httpAddr := strings.TrimPrefix(u, "http://")
	stunAddr := stunServer(t, "198.51.100.77", 0)
	var mu sync.Mutex
	var networks []string
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		networks = append(networks, network+" "+address)
		mu.Unlock()
		switch address {
		case "ip.example.test:80":
			address = httpAddr
		case "stun.example.test:3478":
			address = stunAddr
		}
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	for i, tt := range []struct{ source, want string }{
		{"http://ip.example.test/", "203.0.113.77"},
		{"stun:stun.example.test", "198.51.100.77"},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			addr, _, err := discover(t, []string{tt.source}, Options{Dial: dial})
			if err != nil || addr.String() != tt.want {
				t.Errorf("%s: %v, %v", tt.source, addr, err)
			}
		})
	}
	want := []string{"tcp4 ip.example.test:80", "udp4 stun.example.test:3478"}
	if strings.Join(networks, ",") != strings.Join(want, ",") {
		t.Errorf("dialled %v, want %v", networks, want)
	}
}

func TestDefaultSourcesValid(t *testing.T) {
	for _, s := range DefaultSources() {
		if err := CheckSource(s); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParseHTTPBody(f *testing.F) {
	for _, s := range []string{"203.0.113.1\n", " 10.0.0.1 ", "::ffff:198.51.100.2", "2001:db8::1", "", "x", "1.2.3.4.5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseHTTPBody(body)
		if err == nil {
			if _, err := checkPublic(a); err != nil || !a.Is4() {
				t.Errorf("accepted %v from %q", a, body)
			}
		}
	})
}

// miekgParseDNSAnswer is parseDNSAnswer as it was written with miekg/dns, the oracle FuzzParseDNSAnswer holds
// the hand-written reader to.
func miekgParseDNSAnswer(b []byte, id uint16, name string) (netip.Addr, bool, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil || !m.Response || m.Id != id {
		return netip.Addr{}, false, nil
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, name) {
		return netip.Addr{}, false, nil
	}
	if m.Rcode != dns.RcodeSuccess {
		return netip.Addr{}, true, fmt.Errorf("DNS answer is %s", dns.RcodeToString[m.Rcode])
	}
	for _, rr := range m.Answer {
		a, ok := rr.(*dns.A)
		if !ok || !strings.EqualFold(a.Hdr.Name, name) {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.A)
		if !ok {
			return netip.Addr{}, true, errors.New("DNS answer has a malformed A record")
		}
		addr, err := checkPublic(ip.Unmap())
		return addr, true, err
	}
	return netip.Addr{}, true, fmt.Errorf("DNS answer has no A record for %s", name)
}

// FuzzParseDNSAnswer holds parseDNSAnswer to the same reader written with miekg/dns: wherever miekg/dns reads
// the datagram, both take it as the answer or not alike, with the same address and the same error. (The
// hand-written reader also reads answers whose records of other types miekg/dns finds malformed.)
func FuzzParseDNSAnswer(f *testing.F) {
	q, err := newDNSQuery("myip.opendns.com.")
	if err != nil {
		f.Fatal(err)
	}
	reply := func(ip string, rcode int, rrs ...dns.RR) []byte {
		req := new(dns.Msg)
		if err := req.Unpack(q.msg); err != nil {
			f.Fatal(err)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.Rcode = rcode
		m.Answer = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: "myip.opendns.com.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(ip)})
		b, _ := m.Pack()
		return b
	}
	f.Add(reply("203.0.113.1", dns.RcodeSuccess))
	f.Add(reply("10.0.0.1", dns.RcodeSuccess))
	f.Add(reply("203.0.113.1", dns.RcodeRefused))
	f.Add(reply("203.0.113.1", dns.RcodeSuccess, &dns.CNAME{Hdr: dns.RR_Header{Name: "MyIP.opendns.com.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "x."}))
	f.Add(q.request())
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok, err := parseDNSAnswer(b, q.id, "myip.opendns.com.")
		if ok && err == nil {
			if _, err := checkPublic(a); err != nil {
				t.Errorf("accepted %v", a)
			}
		}
		if new(dns.Msg).Unpack(b) != nil {
			return
		}
		wa, wok, werr := miekgParseDNSAnswer(b, q.id, "myip.opendns.com.")
		if a != wa || ok != wok || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("%x: read %v %v %v; with miekg/dns %v %v %v", b, a, ok, err, wa, wok, werr)
		}
	})
}

// FuzzDNSSourceName: every name a dns: source may give (source.Parse accepts it) makes a query. (Names of 256
// and 257 octets, which source accepts as miekg/dns does, are sent although servers refuse them.)
func FuzzDNSSourceName(f *testing.F) {
	for _, s := range []string{"myip.opendns.com", `a\.b`, `\065bc`, strings.Repeat("abcdefghi.", 25) + "abcd", strings.Repeat("a.", 127)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		src, err := source.Parse("dns:192.0.2.1/" + name)
		if err != nil {
			return
		}
		if _, err := newDNSQuery(src.Name); err != nil {
			t.Fatalf("source %q: %v", src.Raw, err)
		}
	})
}

// FuzzParseSTUN holds the hand-written parser to pion/stun's, an independent implementation: whatever pion
// reads as a binding success with a mapped address for the transaction, parseSTUN reads the same address.
func FuzzParseSTUN(f *testing.F) {
	req := newSTUNQuery()
	resp := stun.MustBuild(stun.NewTransactionIDSetter(req.id), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.ParseIP("203.0.113.1"), Port: 1})
	f.Add(resp.Raw)
	f.Add(req.raw)
	f.Add([]byte{0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok, err := parseSTUN(b, req.id)
		if ok && err == nil {
			if _, err := checkPublic(a); err != nil {
				t.Errorf("accepted %v", a)
			}
		}
		if want, wantOK := pionMapped(b, req.id); wantOK && (!ok || (err == nil) != (checkErr(want) == nil) || err == nil && a != want) {
			t.Errorf("pion reads %v, parseSTUN %v, %v, %v", want, a, ok, err)
		}
	})
}

// pionMapped is the mapped address pion/stun reads from a binding success for id.
func pionMapped(b []byte, id [stunTransactionSize]byte) (netip.Addr, bool) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if !stun.IsMessage(b) || m.Decode() != nil || m.TransactionID != id || m.Type != stun.BindingSuccess {
		return netip.Addr{}, false
	}
	var xor stun.XORMappedAddress
	if xor.GetFrom(m) == nil {
		a, ok := netip.AddrFromSlice(xor.IP)
		return a.Unmap(), ok
	}
	var mapped stun.MappedAddress
	if mapped.GetFrom(m) == nil {
		a, ok := netip.AddrFromSlice(mapped.IP)
		return a.Unmap(), ok
	}
	return netip.Addr{}, false
}

func checkErr(a netip.Addr) error { _, err := checkPublic(a); return err }

// TestSTUNRequest: the request is one pion/stun reads as a Binding request with a valid FINGERPRINT.
func TestSTUNRequest(t *testing.T) {
	q := newSTUNQuery()
	m := &stun.Message{Raw: append([]byte(nil), q.raw...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingRequest || m.TransactionID != q.id {
		t.Fatalf("pion reads %v (%v), want a binding request with our transaction id", m, err)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		t.Errorf("fingerprint: %v", err)
	}
}

// TestSTUNVectors: RFC 5769's sample IPv4 response (section 2.2), byte for byte from the RFC.
func TestSTUNVectors(t *testing.T) {
	id := [stunTransactionSize]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}
	v4 := []byte{
		0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
		0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
		0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
		0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0xd0, 0xb7, 0xb4,
		0x43, 0xcd, 0xed, 0x2e, 0x3f, 0x89, 0x6b, 0x5f, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
	}
	if want, ok := pionMapped(v4, id); !ok || want.String() != "192.0.2.1" {
		t.Fatalf("the vector as pion reads it: %v %v (a typo in the bytes?)", want, ok)
	}
	// 192.0.2.1 is a documentation address: read, then refused as not public (which names it).
	a, ok, err := parseSTUN(v4, id)
	if !ok || a.String() != "192.0.2.1" && (err == nil || !strings.Contains(err.Error(), "192.0.2.1")) {
		t.Errorf("RFC 5769 IPv4 response: %v %v %v, want 192.0.2.1", a, ok, err)
	}
	other := id
	other[0]++
	if _, ok, _ := parseSTUN(v4, other); ok {
		t.Error("a response to another transaction was taken")
	}
	if _, ok, _ := parseSTUN(v4[:len(v4)-4], id); ok {
		t.Error("a truncated response was taken")
	}
}

func TestDiscoverForget(t *testing.T) {
	u, hits := httpIP(t, 200, "203.0.113.1")
	synctest.Test(t, func(t *testing.T) {
		d, err := NewDiscoverer([]string{u}, Options{HTTPClient: closingClient(), Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			forget  bool
			advance time.Duration
			hits    int32
		}{
			{false, 0, 1},
			{true, time.Second, 1},  // forgotten, but inside the 2s floor
			{false, time.Second, 2}, // floor passed: asks again
			{true, 0, 2},
			{false, 3 * time.Second, 3},
			{false, 3 * time.Second, 3}, // back to the normal interval
		}
		for i, s := range steps {
			if s.forget {
				d.Forget()
			}
			time.Sleep(s.advance)
			if _, _, err := d.Discover(context.Background()); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := hits.Load(); got != s.hits {
				t.Errorf("step %d: %d requests, want %d", i, got, s.hits)
			}
		}
		addr, from, at, err := d.Last()
		if addr.String() != "203.0.113.1" || from != u || !at.Equal(time.Now().Add(-3*time.Second)) || err != nil {
			t.Errorf("Last = %v %s %v %v", addr, from, at, err)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
