package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

var secret = []byte("a shared secret of the probe")

var loopback = netip.MustParseAddr("127.0.0.1")

type testServer struct {
	*Server
	url   string
	dials atomic.Int32
}

func newServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{Server: &Server{Secret: secret, Timeout: 300 * time.Millisecond, PerMinute: 100}}
	var d net.Dialer
	ts.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ts.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	srv := webtest.NewServer(ts.Server)
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

func listen(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func closedPort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return p
}

// TestProbeOpenRefusedTimeout: an open port, a closed one (refused), and one whose SYN goes nowhere (timeout:
// the dialer of the test server waits out the deadline, as a dropped SYN does).
func TestProbeOpenRefusedTimeout(t *testing.T) {
	ts := newServer(t)
	open, closed := listen(t), closedPort(t)
	var d net.Dialer
	ts.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasSuffix(addr, ":1") {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return d.DialContext(ctx, network, addr)
	}
	c := &Client{URL: ts.url, Secret: secret}
	a, err := c.Probe(context.Background(), loopback, []Port{{"tcp", open}, {"tcp", closed}, {"tcp", 1}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != "127.0.0.1" || len(a.Results) != 3 {
		t.Fatalf("answer %+v", a)
	}
	for i, want := range []string{ResultOpen, ResultRefused, ResultTimeout} {
		if a.Results[i].Result != want {
			t.Errorf("port %d: %s, want %s", a.Results[i].Port.Port, a.Results[i].Result, want)
		}
	}
}

func post(t *testing.T, url string, req Request, key []byte) (int, string) {
	t.Helper()
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	hr.Header.Set(HeaderSig, Sign(key, body))
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerRefuses: the server connects to nobody for a request with a bad signature, one naming another
// address, a replay, a stale one, too many ports, or beyond the rate limit. The control is the same request
// signed right, which is answered.
func TestServerRefuses(t *testing.T) {
	ts := newServer(t)
	port := listen(t)
	good := func() Request {
		return Request{Address: "127.0.0.1", Ports: []Port{{"tcp", port}}, Time: time.Now().Unix(), Nonce: "0123456789abcdef" + time.Now().Format("150405.000000000")}
	}
	tests := []struct {
		name string
		req  func() Request
		key  []byte
		code int
		msg  string
	}{
		{"bad signature", good, []byte("wrong secret"), 401, "bad signature"},
		{"another address", func() Request { r := good(); r.Address = "192.0.2.1"; return r }, secret, 403, "only back to the address"},
		{"no address", func() Request { r := good(); r.Address = ""; return r }, secret, 403, "must name the address"},
		{"stale", func() Request { r := good(); r.Time -= 600; return r }, secret, 403, "minutes off"},
		{"too many ports", func() Request { r := good(); r.Ports = make([]Port, MaxPorts+1); return r }, secret, 403, "too many ports"},
		{"udp", func() Request { r := good(); r.Ports = []Port{{"udp", 53}}; return r }, secret, 403, "only TCP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.dials.Load()
			code, msg := post(t, ts.url, tt.req(), tt.key)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("%d %q, want %d %q", code, msg, tt.code, tt.msg)
			}
			if ts.dials.Load() != before {
				t.Fatal("the server connected out for a refused request")
			}
		})
	}
	t.Run("replay", func(t *testing.T) {
		r := good()
		if code, msg := post(t, ts.url, r, secret); code != 200 {
			t.Fatalf("control: %d %s", code, msg)
		}
		if code, msg := post(t, ts.url, r, secret); code != 403 || !strings.Contains(msg, "replayed") {
			t.Fatalf("replay: %d %s", code, msg)
		}
	})
	t.Run("rate", func(t *testing.T) {
		ts.PerMinute = 2
		post(t, ts.url, good(), secret)
		post(t, ts.url, good(), secret)
		if code, _ := post(t, ts.url, good(), secret); code != http.StatusTooManyRequests {
			t.Fatalf("third request in a minute: %d", code)
		}
	})
}

// TestClientChecksAnswer: an answer not signed with the secret (a forged "all green") is refused.
func TestClientChecksAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		out, _ := json.Marshal(Answer{Address: "127.0.0.1", Nonce: req.Nonce, Results: []PortResult{{Port: Port{"tcp", 80}, Result: ResultOpen}}})
		w.Header().Set(HeaderSig, Sign([]byte("not the secret"), out))
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, Secret: secret}
	if _, err := c.Probe(context.Background(), loopback, []Port{{"tcp", 80}}); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("err = %v", err)
	}
}

// TestRateLimitBounded: 40,000 callers from distinct addresses within a minute. The limiter used to remember
// every one and, past 10,000, scan them all on every request under the server's lock (1,010 requests/s and
// 37 MB in the flood of the issue); now it follows at most MaxClients a minute and refuses the rest as busy, in
// constant time each. A caller it follows is still limited per address, a /64 counts as one IPv6 caller, and
// the minute turning lets callers in again.
func TestRateLimitBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := &Server{PerMinute: 2, Now: func() time.Time { return now }}
	allowed, busy := 0, 0
	for i := range 40_000 {
		ok, why := s.allow(netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}))
		switch {
		case ok:
			allowed++
		case why == "busy":
			busy++
		}
		now = now.Add(time.Millisecond) // 40 s in all: one minute
	}
	if allowed != MaxClients || busy != 40_000-MaxClients {
		t.Fatalf("%d callers allowed, %d refused as busy; want %d and the rest", allowed, busy, MaxClients)
	}
	first := netip.AddrFrom4([4]byte{127, 0, 0, 0})
	if ok, _ := s.allow(first); !ok {
		t.Fatal("a caller the limiter follows is refused after one request of two")
	}
	if ok, why := s.allow(first); ok || why != "rate" {
		t.Fatalf("third request of a caller: %v %q, want the per-address rate", ok, why)
	}
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	now = now.Add(3 * time.Minute)
	for _, c := range []netip.Addr{a, b} {
		if ok, why := s.allow(c); !ok {
			t.Fatalf("a new minute: %s refused (%s)", c, why)
		}
	}
	if ok, why := s.allow(a); ok || why != "rate" {
		t.Fatalf("the third request from one /64: %v %q", ok, why)
	}
}

// TestRelayCannotTurnRedGreen: a relay takes the router's signed request and sends it on from a host whose ports
// are open. The server refuses it (the request names the router's address, not the relay's), and if the relay
// had the server's answer about itself to offer instead, the client refuses that (it tested another address).
// The control is the router asking itself: the answer about its own address is taken.
func TestRelayCannotTurnRedGreen(t *testing.T) {
	ts := newServer(t)
	port := listen(t)
	router := netip.MustParseAddr("203.0.113.7") // the router's public address; the relay is 127.0.0.1
	relayed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fwd, _ := http.NewRequest(http.MethodPost, ts.url, bytes.NewReader(body))
		fwd.Header.Set(HeaderSig, r.Header.Get(HeaderSig))
		resp, err := http.DefaultClient.Do(fwd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		w.Header().Set(HeaderSig, resp.Header.Get(HeaderSig))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}))
	defer relayed.Close()
	c := &Client{URL: relayed.URL, Secret: secret}
	before := ts.dials.Load()
	_, err := c.Probe(context.Background(), router, []Port{{"tcp", port}})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "came from 127.0.0.1, not 203.0.113.7") {
		t.Fatalf("relayed request: %v", err)
	}
	if ts.dials.Load() != before {
		t.Fatal("the server tested the relay's address for the router's request")
	}

	// A relay that answers with a genuine signed answer about itself, for the router's nonce.
	forged := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		out, _ := json.Marshal(Answer{Address: "198.51.100.9", Nonce: req.Nonce, Results: []PortResult{{Port: Port{"tcp", port}, Result: ResultOpen}}})
		w.Header().Set(HeaderSig, Sign(secret, out))
		_, _ = w.Write(out)
	}))
	defer forged.Close()
	c.URL = forged.URL
	if _, err := c.Probe(context.Background(), router, []Port{{"tcp", port}}); err == nil || !strings.Contains(err.Error(), "tested 198.51.100.9, not this router's public address 203.0.113.7") {
		t.Fatalf("an answer about another address: %v", err)
	}

	c.URL = ts.url
	if a, err := c.Probe(context.Background(), loopback, []Port{{"tcp", port}}); err != nil || a.Results[0].Result != ResultOpen {
		t.Fatalf("control: %+v %v", a, err)
	}
}
