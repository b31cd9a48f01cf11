package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

var statusObs = plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}

// serve starts the status listener of h's daemon on addr and returns the address it listens on.
func serve(t *testing.T, h *harness, addr string) string {
	t.Helper()
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.d.ServeListener(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String()
}

func post(t *testing.T, addr, path, token string) (int, string) {
	t.Helper()
	client, base := httpClientFor(addr)
	req, _ := http.NewRequest(http.MethodPost, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestStatusListenerReadOnlyByDefault: POST /reload was unauthenticated; an internet host caused 516 full
// re-applies in 25 s. Without daemon.control it is refused and nothing is applied.
func TestStatusListenerReadOnlyByDefault(t *testing.T) {
	h := start(t, baseConfig, statusObs)
	for _, addr := range []string{filepath.Join(t.TempDir(), "s.sock"), "127.0.0.1:0"} {
		a := serve(t, h, addr)
		if strings.HasPrefix(addr, "/") {
			a = addr
		}
		code, body := post(t, a, "/reload", "")
		if code != http.StatusForbidden || !strings.Contains(body, "SIGHUP") {
			t.Errorf("%s: POST /reload = %d %q, want 403 pointing at SIGHUP", addr, code, body)
		}
	}
	if n := len(h.be.Calls()); n != 1 {
		t.Errorf("the backend was called %d times, want only the start Apply", n)
	}
}

// TestStatusListenerControl: with daemon.control, a unix socket reloads (its mode authenticates); TCP needs
// the token of control_token_file, and without one stays read-only.
func TestStatusListenerControl(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "control.token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken := "daemon: {control: true, status: \"127.0.0.1:9469\", control_token_file: " + tokenFile + "}\n" + baseConfig
	h := start(t, withToken, statusObs)
	tcp := serve(t, h, "127.0.0.1:0")
	sock := filepath.Join(dir, "s.sock")
	serve(t, h, sock)
	for _, tc := range []struct {
		addr, token string
		want        int
	}{
		{tcp, "", http.StatusUnauthorized},
		{tcp, "wrong", http.StatusUnauthorized},
		{tcp, "t0ken-for-tests", http.StatusOK},
		{sock, "", http.StatusOK},
	} {
		if code, body := post(t, tc.addr, "/reload", tc.token); code != tc.want {
			t.Errorf("POST /reload on %s with token %q = %d %q, want %d", tc.addr, tc.token, code, body, tc.want)
		}
	}
	if n := reloads(h.d); n != 2 {
		t.Errorf("%d reloads, want one per accepted reload (2)", n)
	}

	// control on a unix socket needs no token; moved to TCP by --status it stays read-only.
	h = start(t, "daemon: {control: true}\n"+baseConfig, statusObs)
	tcp = serve(t, h, "127.0.0.1:0")
	if code, _ := post(t, tcp, "/reload", ""); code != http.StatusForbidden {
		t.Errorf("control over TCP without a token file: %d, want 403", code)
	}
}

// TestStatusListenerControlReloads: a reload (SIGHUP, or POST /reload itself) applies a rotated token and
// `control: false` to the running listener and says so; the listener used to keep the token and the setting
// it started with, so the old token kept reloading and the new one got 401.
func TestStatusListenerControlReloads(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "control.token")
	write := func(tok string) {
		if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("old-token")
	withControl := func(on bool) string {
		return fmt.Sprintf("daemon: {control: %v, status: \"127.0.0.1:9469\", control_token_file: %s}\n", on, tokenFile) + baseConfig
	}
	h := start(t, withControl(true), statusObs)
	tcp := serve(t, h, "127.0.0.1:0")
	if code, body := post(t, tcp, "/reload", "old-token"); code != http.StatusOK {
		t.Fatalf("control: the token in force: %d %q", code, body)
	}
	events := func() string {
		var b strings.Builder
		for _, e := range h.d.Status(context.Background()).Events {
			b.WriteString(e.Message + "\n")
		}
		return b.String()
	}

	write("new-token")
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"old-token", http.StatusUnauthorized}, {"new-token", http.StatusOK}} {
		if code, body := post(t, tcp, "/reload", tc.token); code != tc.want {
			t.Errorf("after rotating: POST /reload with %s = %d %q, want %d", tc.token, code, body, tc.want)
		}
	}
	if ev := events(); !strings.Contains(ev, "control token replaced") || strings.Contains(ev, "new-token") {
		t.Errorf("the rotation is not logged (or the token is):\n%s", ev)
	}

	cfg := mustConfig(t, withControl(false))
	h.load = func() (*config.Config, error) { return cfg, nil }
	if code, body := post(t, tcp, "/reload", "new-token"); code != http.StatusOK {
		t.Fatalf("reload to control: false: %d %q", code, body)
	}
	for _, tok := range []string{"old-token", "new-token"} {
		if code, body := post(t, tcp, "/reload", tok); code != http.StatusForbidden {
			t.Errorf("after control: false: POST /reload with %s = %d %q, want 403", tok, code, body)
		}
	}
	if ev := events(); !strings.Contains(ev, "control changed address="+tcp+" control=false") {
		t.Errorf("turning control off is not logged:\n%s", ev)
	}
}

// countingBackend counts counter reads.
type countingBackend struct {
	*backend.Fake
	reads atomic.Int32
}

func (c *countingBackend) Counters(ctx context.Context, d *plan.Desired) (map[string]backend.Counter, error) {
	c.reads.Add(1)
	time.Sleep(20 * time.Millisecond) // a read takes a while; requests arriving meanwhile share it
	return c.Fake.Counters(ctx, d)
}

// TestStatusCountersShared: 64 clients asking at once (each request used to start two nft processes) cost
// one or two counter reads.
func TestStatusCountersShared(t *testing.T) {
	be := &countingBackend{Fake: &backend.Fake{}}
	h := startWith(t, baseConfig, statusObs, netip.Addr{}, be)
	sock := filepath.Join(t.TempDir(), "s.sock")
	serve(t, h, sock)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, err := Fetch(context.Background(), sock); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Reads happen at most once a second: the 64 requests span at most a few seconds on a loaded machine.
	if n := be.reads.Load(); n > 4 {
		t.Errorf("%d counter reads for 64 status requests", n)
	}
}

// TestStatusConnectionLimits: idle keep-alive connections are closed (2,000 once stayed open).
func TestStatusConnectionLimits(t *testing.T) {
	connIdle = 200 * time.Millisecond
	defer func() { connIdle = 10 * time.Second }()
	h := start(t, baseConfig, statusObs)
	addr := serve(t, h, "127.0.0.1:0")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /status HTTP/1.1\r\nHost: hairpin\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle keep-alive connection: read %v, want the server to close it", err)
	}

}

// gatedBackend holds every counter read until the gate opens: the handlers asking for status stay busy.
type gatedBackend struct {
	*backend.Fake
	gate chan struct{}
}

func (g *gatedBackend) Counters(ctx context.Context, d *plan.Desired) (map[string]backend.Counter, error) {
	<-g.gate
	return g.Fake.Counters(ctx, d)
}

// TestStatusIdleConnsDoNotLockOut: 200 connections that send nothing, or half a request, used to take every
// slot and make Accept wait, so `GET /status` timed out for about 35 s. Now the oldest of them is closed for
// each new connection. The cap on work stays: with MaxConns requests inside handlers, a new connection is
// taken until they finish (new clients wait in the accept queue), then every waiting client is served.
func TestStatusIdleConnsDoNotLockOut(t *testing.T) {
	be := &gatedBackend{Fake: &backend.Fake{}, gate: make(chan struct{})}
	h := startWith(t, baseConfig, statusObs, netip.Addr{}, be)
	close(be.gate) // the start needs no counters, but status does: open until the work-cap part
	addr := serve(t, h, "127.0.0.1:0")
	get := func() error {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/status")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	for i := range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 1 {
			fmt.Fprint(c, "GET /status HTTP/1.1\r\n") // headers never finished
		}
	}
	start := time.Now()
	if err := get(); err != nil {
		t.Fatalf("GET /status behind 200 idle connections: %v", err)
	}
	t.Logf("served after %s", time.Since(start))

	be.gate = make(chan struct{})
	h.d.counters = counterCache{} // the next status reads counters again
	h.d.mu.Lock()
	capped := h.d.listeners[0].capped
	h.d.mu.Unlock()
	busy := func() (n, all int) {
		capped.mu.Lock()
		defer capped.mu.Unlock()
		for _, s := range capped.conns {
			if s.busy {
				n++
			}
		}
		return n, len(capped.conns)
	}
	var wg sync.WaitGroup
	var served atomic.Int32
	for range 2 * MaxConns {
		wg.Go(func() {
			if err := get(); err == nil {
				served.Add(1)
			} else {
				t.Log(err)
			}
		})
	}
	poll.Wait(t, "every slot busy inside a handler", func() bool { n, _ := busy(); return n == MaxConns })
	if n, all := busy(); n != MaxConns || all != MaxConns {
		t.Errorf("%d connections open, %d working, with %d clients asking: want the cap, %d", all, n, 2*MaxConns, MaxConns)
	}
	close(be.gate)
	wg.Wait()
	if n := served.Load(); n != 2*MaxConns {
		t.Errorf("%d of %d waiting clients served once the work finished", n, 2*MaxConns)
	}
}

// TestStatusBindsExactly: 0.0.0.0 listens on IPv4 only; it used to take [::] as well.
func TestStatusBindsExactly(t *testing.T) {
	l, err := Listen("0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err != nil {
		t.Fatalf("IPv4: %v", err)
	} else {
		c.Close()
	}
	if c, err := net.DialTimeout("tcp6", "[::1]:"+port, time.Second); err == nil {
		c.Close()
		t.Errorf("a listener on 0.0.0.0 accepted a connection on [::1]")
	}
}
