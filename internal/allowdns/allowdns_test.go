package allowdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/dnswire"
)

// fakeDNS answers from a table that tests change, and counts lookups.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	ttl     time.Duration
	fail    error
	lookups map[string]int
}

func (f *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[host]++
	if f.fail != nil {
		return nil, 0, f.fail
	}
	a, ok := f.answers[host]
	if !ok {
		return nil, 0, errors.New("NXDOMAIN")
	}
	return a, f.ttl, nil
}

func (f *fakeDNS) set(host string, ttl time.Duration, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl = ttl
	f.answers[host] = nil
	for _, a := range addrs {
		f.answers[host] = append(f.answers[host], netip.MustParseAddr(a))
	}
}

func (f *fakeDNS) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[host]
}

func newFake() *fakeDNS {
	return &fakeDNS{answers: map[string][]netip.Addr{}, lookups: map[string]int{}}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestFollowsTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("cam.example.net", 30*time.Second, "192.0.2.2", "192.0.2.1", "2001:db8::1")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 0, nil)
		r.Start(ctx, []string{"cam.example.net"})
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1", "192.0.2.2")) {
			t.Fatalf("after Start: %v, want the IPv4 addresses sorted", got)
		}
		f.set("cam.example.net", 30*time.Second, "198.51.100.9")
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1", "192.0.2.2")) {
			t.Fatalf("before the TTL ran out the old answer stays: %v", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case <-r.Changed():
		default:
			t.Fatal("no change signalled")
		}
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("198.51.100.9")) {
			t.Fatalf("after the TTL: %v", got)
		}
	})
}

func TestTTLBounds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ttl     time.Duration
		over    time.Duration
		lookups int
	}{
		{"a TTL of 0 is raised to the minimum", 0, 10 * time.Second, 1 + int(10*time.Second/MinTTL)},
		{"a TTL of a week is cut to the maximum", 7 * 24 * time.Hour, 3*time.Hour + time.Second, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				f.set("a.example.net", tt.ttl, "192.0.2.1")
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				New(f.lookup, 0, nil).Start(ctx, []string{"a.example.net"})
				time.Sleep(tt.over)
				synctest.Wait()
				if got := f.count("a.example.net"); got != tt.lookups {
					t.Errorf("%d lookups in %s, want %d", got, tt.over, tt.lookups)
				}
			})
		})
	}
}

func TestGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("home.example.net", time.Minute, "192.0.2.1")
		var mu sync.Mutex
		var events []string
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 10*time.Minute, func(msg string, _ ...any) {
			mu.Lock()
			events = append(events, msg)
			mu.Unlock()
		})
		r.Start(ctx, []string{"home.example.net"})
		f.mu.Lock()
		f.fail = errors.New("SERVFAIL")
		f.mu.Unlock()
		time.Sleep(9 * time.Minute)
		synctest.Wait()
		if got := r.Addrs()["home.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1")) {
			t.Fatalf("within the grace period the last addresses stay: %v", got)
		}
		st := r.Status()
		if len(st) != 1 || st[0].Error != "SERVFAIL" || st[0].KeepUntil.IsZero() {
			t.Errorf("status must say the name fails and until when its addresses are kept: %+v", st)
		}
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if got := r.Addrs()["home.example.net"]; len(got) != 0 {
			t.Fatalf("after the grace period the addresses go: %v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if last := events[len(events)-1]; !strings.Contains(last, "grace period is over") {
			t.Errorf("events: %q", events)
		}
		if !strings.Contains(events[0], "keeping its last addresses") {
			t.Errorf("the first failure must say the addresses are kept: %q", events)
		}
	})
}

func TestSetHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a.example.net", time.Minute, "192.0.2.1")
		f.set("b.example.net", time.Minute, "192.0.2.2")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 0, nil)
		r.Start(ctx, []string{"a.example.net"})
		r.SetHosts([]string{"b.example.net"})
		if got := r.Addrs(); len(got) != 1 || got["b.example.net"] == nil {
			t.Fatalf("after SetHosts: %v", got)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := f.count("a.example.net"); n != 1 {
			t.Errorf("a removed name is not looked up again: %d lookups", n)
		}
	})
}

// TestAnswerOwner: only the asked name's records count, directly or through its CNAME chain in the answer;
// an answer that carries A records for other names (a forger's or a careless resolver's) allows nothing of them.
func TestAnswerOwner(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		answer []dns.RR
		want   []netip.Addr
		ttl    time.Duration
		err    string
	}{
		{"own record", []dns.RR{rr("cam.example.net. 60 IN A 192.0.2.1")}, addrs("192.0.2.1"), time.Minute, ""},
		{"owner in another case", []dns.RR{rr("CAM.Example.NET. 60 IN A 192.0.2.1")}, addrs("192.0.2.1"), time.Minute, ""},
		{"another name's record", []dns.RR{rr("cam.example.net. 60 IN A 192.0.2.1"), rr("evil.example.org. 60 IN A 198.51.100.66")},
			addrs("192.0.2.1"), time.Minute, ""},
		{"only another name's record", []dns.RR{rr("evil.example.org. 60 IN A 198.51.100.66")}, nil, 0, "cam.example.net has no A record"},
		{"CNAME chain", []dns.RR{rr("cam.example.net. 300 IN CNAME a.example.com."), rr("a.example.com. 30 IN CNAME b.example.org."),
			rr("b.example.org. 60 IN A 192.0.2.7"), rr("a.example.com. 60 IN A 198.51.100.66")}, addrs("192.0.2.7"), 30 * time.Second, ""},
		{"CNAME to a name without records", []dns.RR{rr("cam.example.net. 300 IN CNAME a.example.com."), rr("cam.example.net. 60 IN A 198.51.100.66")},
			nil, 0, "has no A record"},
		{"CNAME loop", []dns.RR{rr("cam.example.net. 300 IN CNAME a.example.com."), rr("a.example.com. 300 IN CNAME cam.example.net.")},
			nil, 0, "a chain of more than 8 CNAMEs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ttl, err := answerFor(readAnswer(t, tc.answer), "cam.example.net.")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v %v, want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) || ttl != tc.ttl {
				t.Errorf("got %v ttl %v err %v, want %v ttl %v", got, ttl, err, tc.want, tc.ttl)
			}
		})
	}
}

// readAnswer is the answer section rrs make, as dnswire reads it off the wire miekg/dns writes.
func readAnswer(t testing.TB, rrs []dns.RR) []dnswire.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("cam.example.net.", dns.TypeA)
	m.Response, m.Answer = true, rrs
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	r, err := dnswire.Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	return r.Answer
}

// miekgAnswerFor is answerFor as it was written with miekg/dns, the oracle FuzzAnswerFor holds it to.
func miekgAnswerFor(answer []dns.RR, name string) ([]netip.Addr, time.Duration, error) {
	owner := strings.ToLower(name)
	ttl := MaxTTL
	for hops := 0; ; hops++ {
		var next string
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.ToLower(c.Hdr.Name) == owner {
				next = strings.ToLower(dns.Fqdn(c.Target))
				ttl = min(ttl, time.Duration(c.Hdr.Ttl)*time.Second)
				break
			}
		}
		if next == "" {
			break
		}
		if hops == maxCNAMEs {
			return nil, 0, fmt.Errorf("%s: a chain of more than %d CNAMEs", strings.TrimSuffix(name, "."), maxCNAMEs)
		}
		owner = next
	}
	var addrs []netip.Addr
	for _, rr := range answer {
		if a, ok := rr.(*dns.A); ok && strings.ToLower(a.Hdr.Name) == owner {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				addrs = append(addrs, ip)
				ttl = min(ttl, time.Duration(a.Hdr.Ttl)*time.Second)
			}
		}
	}
	if len(addrs) == 0 {
		return nil, 0, fmt.Errorf("%s has no A record", strings.TrimSuffix(name, "."))
	}
	return addrs, ttl, nil
}

// FuzzAnswerFor: whatever answer a server sends, answerFor over dnswire's reading picks the same addresses,
// TTL and error as it did over miekg/dns's.
func FuzzAnswerFor(f *testing.F) {
	for _, rrs := range [][]string{
		{"cam.example.net. 300 IN CNAME A.example.com.", "a.example.com. 30 IN CNAME b.example.org.", "b.example.org. 60 IN A 192.0.2.7", "a.example.com. 60 IN A 198.51.100.66"},
		{"CAM.example.net. 60 IN A 192.0.2.1", "evil.example.org. 60 IN A 198.51.100.66", "cam.example.net. 60 IN AAAA 2001:db8::1"},
		{"cam.example.net. 300 IN CNAME a.example.com.", "a.example.com. 300 IN CNAME cam.example.net."},
	} {
		var answer []dns.RR
		for _, s := range rrs {
			r, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			answer = append(answer, r)
		}
		m := new(dns.Msg)
		m.SetQuestion("cam.example.net.", dns.TypeA)
		m.Response, m.Answer, m.Compress = true, answer, true
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		want := new(dns.Msg)
		if want.Unpack(wire) != nil {
			return
		}
		m, err := dnswire.Parse(wire)
		if err != nil {
			t.Fatalf("%x: %v; miekg/dns reads it", wire, err)
		}
		got, ttl, err := answerFor(m.Answer, "cam.example.net.")
		wgot, wttl, werr := miekgAnswerFor(want.Answer, "cam.example.net.")
		if !reflect.DeepEqual(got, wgot) || ttl != wttl || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("%x: %v %v %v; with miekg/dns %v %v %v", wire, got, ttl, err, wgot, wttl, werr)
		}
	})
}

// FuzzResolvConf: the name servers read from a resolv.conf are those miekg/dns reads.
func FuzzResolvConf(f *testing.F) {
	f.Add("# generated\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch lan\noptions ndots:2\n")
	f.Add("nameserver\n  nameserver   198.51.100.1  # x\n;nameserver 192.0.2.9\n")
	f.Fuzz(func(t *testing.T, conf string) {
		got := resolvConfServers(strings.NewReader(conf))
		cc, err := dns.ClientConfigFromReader(strings.NewReader(conf))
		if err != nil {
			t.Skip()
		}
		var want []string
		for _, s := range cc.Servers {
			want = append(want, net.JoinHostPort(s, cc.Port))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %q, miekg/dns reads %q", conf, got, want)
		}
	})
}

// TestDNSLookupTruncated: an answer truncated over UDP is asked again over TCP, where it comes whole; a
// datagram that is not the answer (another ID) is ignored on the way.
func TestDNSLookupTruncated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var tcpAsked atomic.Bool
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			stale := m.Copy()
			stale.Id++
			stale.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, 66)}}
			w.WriteMsg(stale)
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		tcpAsked.Store(true)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{Listener: ln, Handler: h}, {PacketConn: pc, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	got, ttl, err := DNSLookup([]string{ln.Addr().String()})(t.Context(), "cam.example.net")
	if err != nil || !reflect.DeepEqual(got, addrs("192.0.2.1")) || ttl != time.Minute {
		t.Errorf("got %v %v %v, want 192.0.2.1 from the TCP answer", got, ttl, err)
	}
	if !tcpAsked.Load() {
		t.Error("not asked over TCP")
	}
}

// TestDNSLookupIgnoresOtherNames: DNSLookup against a server on loopback whose answer adds an A record for
// another name: the other name's address is not allowed (it was, before owner names were checked).
func TestDNSLookupIgnoresOtherNames(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, s := range []string{q.Question[0].Name + " 60 IN A 192.0.2.1", "evil.example.org. 60 IN A 198.51.100.66"} {
			r, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, r)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	got, _, err := DNSLookup([]string{pc.LocalAddr().String()})(t.Context(), "cam.example.net")
	if err != nil || !reflect.DeepEqual(got, addrs("192.0.2.1")) {
		t.Errorf("got %v %v, want only cam.example.net's own 192.0.2.1", got, err)
	}
}

// TestAddressesPerName: a name answering with a thousand addresses, different at every lookup, keeps
// MaxAddrs of them (the lowest), counts the rest in its status and says so once, not at every lookup.
func TestAddressesPerName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		round := 0
		lookup := func(context.Context, string) ([]netip.Addr, time.Duration, error) {
			mu.Lock()
			defer mu.Unlock()
			round++
			var out []netip.Addr
			for i := range 1000 {
				out = append(out, netip.AddrFrom4([4]byte{10 + byte(round%100), byte(i >> 8), byte(i), 1}))
			}
			return out, 0, nil
		}
		var events []string
		var emu sync.Mutex
		r := New(lookup, 0, func(msg string, _ ...any) { emu.Lock(); events = append(events, msg); emu.Unlock() })
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r.Start(ctx, []string{"flip.example.net"})
		time.Sleep(time.Minute)
		synctest.Wait()
		got := r.Addrs()["flip.example.net"]
		if len(got) != MaxAddrs || got[0] != netip.AddrFrom4([4]byte{10 + byte(round%100), 0, 0, 1}) {
			t.Errorf("%d addresses from %v, want the lowest %d", len(got), got[:1], MaxAddrs)
		}
		if st := r.Status()[0]; st.Dropped != 1000-MaxAddrs || len(st.Addrs) != MaxAddrs {
			t.Errorf("status: %d addresses, %d dropped", len(st.Addrs), st.Dropped)
		}
		emu.Lock()
		defer emu.Unlock()
		if len(events) != 1 {
			t.Errorf("%d events over %d lookups, want one: %q", len(events), round, events)
		}
	})
}

// TestLookupRate: names with a TTL of 0 are looked up at most LookupRate times a second together after the
// first round (they were looked up every MinTTL each). The burst is lowered to 200 names, due 100 times a
// second, to keep the test small: the race detector's runtime fails a CHECK when one bubble runs tens of
// thousands of synchronising events (golang/go#78156), which 1,000 names over 20 s did about once in twenty runs.
func TestLookupRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		var names []string
		const burst = 200
		for i := range burst {
			name := fmt.Sprintf("h%d.example.net", i)
			names = append(names, name)
			f.set(name, 0, "192.0.2.1")
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 0, nil)
		r.limit.burst = burst
		r.Start(ctx, names)
		const d = 5 * time.Second
		time.Sleep(d)
		synctest.Wait()
		total := 0
		for _, n := range names {
			total += f.count(n)
		}
		if limit := len(names) + int(d/time.Second)*LookupRate + 1; total > limit {
			t.Errorf("%d lookups in %v, want at most %d", total, d, limit)
		}
		if total < len(names)+int(d/time.Second)*LookupRate*9/10 {
			t.Errorf("%d lookups in %v: the names due are not looked up at the rate allowed", total, d)
		}
	})
}
