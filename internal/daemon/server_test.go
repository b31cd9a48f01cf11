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
	client, base := clientFor(addr)
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
	if n := len(h.be.Calls()); n != 3 {
		t.Errorf("%d backend calls, want the start Apply and one per accepted reload (3)", n)
	}

	// control on a unix socket needs no token; moved to TCP by --status it stays read-only.
	h = start(t, "daemon: {control: true}\n"+baseConfig, statusObs)
	tcp = serve(t, h, "127.0.0.1:0")
	if code, _ := post(t, tcp, "/reload", ""); code != http.StatusForbidden {
		t.Errorf("control over TCP without a token file: %d, want 403", code)
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

// TestStatusConnectionLimits: idle keep-alive connections are closed (2,000 once stayed open), and at most
// MaxConns are served at once.
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

	var held []net.Conn
	for range MaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		defer c.Close()
	}
	// Every slot is taken (by connections that have not sent a request yet): a new client waits.
	client := &http.Client{Timeout: 300 * time.Millisecond}
	if _, err := client.Get("http://" + addr + "/status"); err == nil {
		t.Errorf("a request was served past %d open connections", MaxConns)
	}
	for _, c := range held {
		c.Close()
	}
	poll.Wait(t, "served once connections closed", func() bool {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
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
