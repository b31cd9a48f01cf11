package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
)

// serveTest runs s on a loopback listener and returns its address; the server is closed when the test ends.
func serveTest(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// echo answers with the request's method, path, a header and its body.
var echo = HandlerFunc(func(w ResponseWriter, r *Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		Error(w, "body: "+err.Error(), StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s x=%q host=%s body=%q", r.Method, r.URL.RequestURI(), r.Header.Get("X-Test"), r.Host, body)
})

// TestServerWithNetHTTPClient: net/http's client, the most common peer, gets what it asks for: small answers
// with a Content-Length, long or flushed ones chunked, bodies of both kinds read, keep-alive reused.
func TestServerWithNetHTTPClient(t *testing.T) {
	t.Parallel()
	var states sync.Map
	var newConns atomic.Int32
	mux := NewServeMux()
	mux.Handle("/echo", echo)
	mux.HandleFunc("GET /big", func(w ResponseWriter, r *Request) {
		for i := range 1000 {
			fmt.Fprintf(w, "line %d\n", i)
		}
	})
	mux.HandleFunc("GET /stream", func(w ResponseWriter, r *Request) {
		io.WriteString(w, "first\n")
		w.(Flusher).Flush()
		io.WriteString(w, "second\n")
	})
	s := &Server{Handler: mux, ConnState: func(c net.Conn, st ConnState) {
		if st == StateNew {
			newConns.Add(1)
		}
		states.Store(c, st)
	}}
	base := "http://" + serveTest(t, s)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := get("/echo?a=b")
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) || body != `GET /echo?a=b x="" host=`+strings.TrimPrefix(base, "http://")+` body=""` {
		t.Errorf("GET /echo: %d length %d %q", resp.StatusCode, resp.ContentLength, body)
	}
	if resp.Header.Get("Date") == "" {
		t.Errorf("no Date header")
	}
	resp, body = get("/big")
	if resp.ContentLength != -1 || resp.TransferEncoding[0] != "chunked" || !strings.HasSuffix(body, "line 999\n") || strings.Count(body, "\n") != 1000 {
		t.Errorf("GET /big: length %d %v, %d lines", resp.ContentLength, resp.TransferEncoding, strings.Count(body, "\n"))
	}
	resp, body = get("/stream")
	if resp.ContentLength != -1 || body != "first\nsecond\n" {
		t.Errorf("GET /stream: length %d %q", resp.ContentLength, body)
	}
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"content-length", strings.NewReader("hello")},
		{"chunked", io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/echo", tc.body)
			req.Header.Set("X-Test", "yes")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.HasSuffix(string(b), `x="yes" host=`+req.Host+` body="hello"`) {
				t.Errorf("POST: %d %q", resp.StatusCode, b)
			}
		})
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1 kept alive", n)
	}
	poll.Wait(t, "the connection idle", func() bool {
		idle := false
		states.Range(func(_, v any) bool { idle = v == StateIdle; return true })
		return idle
	})
}

// TestServerHEAD: HEAD gets GET's header and Content-Length, and no body.
func TestServerHEAD(t *testing.T) {
	t.Parallel()
	mux := NewServeMux()
	mux.HandleFunc("GET /x", func(w ResponseWriter, r *Request) { io.WriteString(w, "twelve bytes") })
	addr := serveTest(t, &Server{Handler: mux})
	c := dialRaw(t, addr)
	fmt.Fprint(c, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || head.ContentLength != 12 {
		t.Fatalf("HEAD: %v, length %d", err, head.ContentLength)
	}
	get, err := http.ReadResponse(br, nil) // the GET's answer follows at once: HEAD's had no body
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(get.Body)
	if string(b) != "twelve bytes" {
		t.Errorf("GET after HEAD: %q", b)
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// rawExchange sends req on a new connection and returns the status of the first answer, and whether the
// server then closed the connection.
func rawExchange(t *testing.T, addr, req string) (code int, body string, closed bool) {
	t.Helper()
	c := dialRaw(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode < 200 {
		resp, err = http.ReadResponse(br, nil) // 100 Continue, then the answer
	}
	if err != nil {
		t.Fatalf("no answer to %q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = br.ReadByte()
	return resp.StatusCode, string(b), err == io.EOF || resp.Close
}

// TestServerRefusesHostileRequests: each hostile request gets its refusal and a closed connection; the
// control beside it, the same request made well, gets 200.
func TestServerRefusesHostileRequests(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, &Server{Handler: echo, MaxHeaderBytes: 1 << 10})
	for _, tc := range []struct {
		name, req, control string
		want               int
	}{
		{"both lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 501},
		{"conflicting lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"line folding", "GET / HTTP/1.1\r\nHost: a\r\nX-Test: one\r\n two\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: one two\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\r\nHost: a\nX-Test: b\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: b\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX-Test: b\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Test : b\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: b\r\n\r\n", 400},
		{"control in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Test: b\x01c\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: b\tc\r\n\r\n", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "GET / HTTP/1.1\r\nHost: a.b\r\n\r\n", 400},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx",
			"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", 417},
		{"header block too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Test: " + strings.Repeat("b", 1100) + "\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a\r\nX-Test: " + strings.Repeat("b", 900) + "\r\n\r\n", 431},
		{"request line too long", "GET /" + strings.Repeat("p", 1100) + " HTTP/1.1\r\nHost: a\r\n\r\n",
			"GET /" + strings.Repeat("p", 900) + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 505},
		{"malformed chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", 400},
		{"no version", "GET /\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if code, body, closed := rawExchange(t, addr, tc.req); code != tc.want || !closed {
				t.Errorf("hostile: %d %q (closed %v), want %d and a close", code, body, closed, tc.want)
			}
			if code, body, _ := rawExchange(t, addr, tc.control); code != 200 {
				t.Errorf("control: %d %q, want 200", code, body)
			}
		})
	}
}

// TestServerExpectContinue: a client that waits for 100 Continue gets it when the handler reads the body,
// and not when the handler answers without reading.
func TestServerExpectContinue(t *testing.T) {
	t.Parallel()
	mux := NewServeMux()
	mux.Handle("POST /read", echo)
	mux.HandleFunc("POST /refuse", func(w ResponseWriter, r *Request) { Error(w, "no", StatusForbidden) })
	addr := serveTest(t, &Server{Handler: mux})
	for _, tc := range []struct {
		path string
		cont bool
	}{{"/read", true}, {"/refuse", false}} {
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", tc.path)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(line, "HTTP/1.1 100 "); got != tc.cont {
			t.Errorf("%s: first line %q", tc.path, line)
		}
		if tc.cont {
			br.ReadString('\n')
			io.WriteString(c, "hello")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.HasSuffix(string(b), `body="hello"`) {
				t.Errorf("%s: %q", tc.path, b)
			}
		}
	}
}

// TestServerPanic: a handler's panic closes its connection and is logged; the server serves on.
func TestServerPanic(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	var mu sync.Mutex
	mux := NewServeMux()
	mux.HandleFunc("GET /panic", func(w ResponseWriter, r *Request) { panic("boom") })
	mux.HandleFunc("GET /abort", func(w ResponseWriter, r *Request) { panic(ErrAbortHandler) })
	mux.Handle("GET /ok", echo)
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	addr := serveTest(t, &Server{Handler: mux, ErrorLog: log})
	for _, path := range []string{"/panic", "/abort"} {
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: read %d, %v; want the connection closed", path, n, err)
		}
	}
	if code, _, _ := rawExchange(t, addr, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"); code != 200 {
		t.Errorf("after the panics: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := logged.String(); strings.Count(s, "handler panic") != 1 || !strings.Contains(s, "boom") {
		t.Errorf("log: %s", s)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestServerContextEndsWhenClientLeaves: a handler waiting on its request's context is released when the
// client closes; the control, a client that stays, leaves the context alone.
func TestServerContextEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 2)
	addr := serveTest(t, &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(300 * time.Millisecond):
			ended <- nil
		}
	})})
	for _, leave := range []bool{true, false} {
		c := dialRaw(t, addr)
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if leave {
			c.Close()
		}
		err := <-ended
		if leave != (err != nil) {
			t.Errorf("client left %v: context %v", leave, err)
		}
	}
}

// TestServerShutdown: Shutdown closes idle connections at once, lets the request in progress finish, then
// returns; Serve returns ErrServerClosed.
func TestServerShutdown(t *testing.T) {
	t.Parallel()
	inside := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		close(inside)
		<-release
		io.WriteString(w, "done")
	})}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()
	idle := dialRaw(t, addr)
	busy := dialRaw(t, addr)
	fmt.Fprint(busy, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-inside
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: %v, want closed", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" {
		t.Errorf("the request in progress: %q", b)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the listener still accepts after Shutdown")
	}
}

// TestServerTimeouts: a client that sends half a head is cut off after ReadHeaderTimeout, an idle kept-alive
// one after IdleTimeout.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, &Server{Handler: echo, ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	slow := dialRaw(t, addr)
	fmt.Fprint(slow, "GET / HTTP/1.1\r\n")
	idle := dialRaw(t, addr)
	fmt.Fprint(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	for name, r := range map[string]io.Reader{"half a head": slow, "idle": br} {
		start := time.Now()
		if _, err := io.ReadAll(r); err != nil {
			t.Errorf("%s: %v, want a close", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: closed after %s", name, d)
		}
	}
}

// TestServerMaxBytesReader: a body past the limit fails the read and closes the connection; one within it is
// read whole.
func TestServerMaxBytesReader(t *testing.T) {
	t.Parallel()
	addr := serveTest(t, &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		b, err := io.ReadAll(MaxBytesReader(w, r.Body, 4))
		var mbe *MaxBytesError
		if errors.As(err, &mbe) {
			Error(w, "too large", StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%q", b)
	})})
	for _, tc := range []struct {
		body  string
		want  int
		close bool
	}{{"abcd", 200, false}, {"abcde", 413, true}} {
		req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(tc.body), tc.body)
		if code, body, closed := rawExchange(t, addr, req); code != tc.want || closed != tc.close {
			t.Errorf("%q: %d %q closed %v", tc.body, code, body, closed)
		}
	}
}

// TestServerTLS: over TLS the handler sees the session; a client that never finishes its handshake is cut
// off after ReadHeaderTimeout.
func TestServerTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := selfSigned(t)
	s := &Server{ReadHeaderTimeout: 200 * time.Millisecond, Handler: HandlerFunc(func(w ResponseWriter, r *Request) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			Error(w, "no TLS", 500)
			return
		}
		fmt.Fprintf(w, "TLS %x %s", r.TLS.Version, r.TLS.NegotiatedProtocol)
	})}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.ServeTLS(l, certFile, keyFile)
	t.Cleanup(func() { s.Close() })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 1 || !strings.HasPrefix(string(b), "TLS 30") || !strings.HasSuffix(string(b), "http/1.1") {
		t.Errorf("over TLS: %s %q", resp.Proto, b)
	}
	stalled := dialRaw(t, l.Addr().String())
	start := time.Now()
	if _, err := stalled.Read(make([]byte, 1)); err != io.EOF || time.Since(start) > 5*time.Second {
		t.Errorf("a stalled handshake: %v after %s", err, time.Since(start))
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestServeMux: exact paths, "/{$}", subtrees, 404, and 405 with Allow; GET patterns serve HEAD.
func TestServeMux(t *testing.T) {
	t.Parallel()
	mux := NewServeMux()
	named := func(name string) HandlerFunc {
		return func(w ResponseWriter, r *Request) { io.WriteString(w, name) }
	}
	mux.Handle("GET /{$}", named("root"))
	mux.Handle("GET /status", named("status"))
	mux.Handle("POST /reload", named("reload"))
	mux.Handle("/files/", named("files"))
	mux.Handle("GET /files/special", named("special"))
	addr := serveTest(t, &Server{Handler: mux})
	for _, tc := range []struct {
		method, path string
		code         int
		body, allow  string
	}{
		{"GET", "/", 200, "root", ""},
		{"HEAD", "/status", 200, "", ""},
		{"GET", "/status", 200, "status", ""},
		{"POST", "/status", 405, "method not allowed\n", "GET, HEAD"},
		{"GET", "/reload", 405, "method not allowed\n", "POST"},
		{"POST", "/reload", 200, "reload", ""},
		{"GET", "/status/", 404, "404 page not found\n", ""},
		{"GET", "/nothing", 404, "404 page not found\n", ""},
		{"DELETE", "/files/a/b", 200, "files", ""},
		{"GET", "/files/special", 200, "special", ""},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || string(b) != tc.body || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("%d %q Allow %q", resp.StatusCode, b, resp.Header.Get("Allow"))
			}
		})
	}
}

// TestServerHTTP10: an HTTP/1.0 client gets an HTTP/1.0 answer and a close; a long answer is not chunked
// (1.0 has no chunks) but ends with the connection.
func TestServerHTTP10(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 3*bufferLimit)
	addr := serveTest(t, &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) { io.WriteString(w, long) })})
	c := dialRaw(t, addr)
	fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.0 200 OK\r\n") || strings.Contains(head, "chunked") || body != long {
		t.Errorf("HTTP/1.0: head %q, %d body bytes", head, len(body))
	}
}

// TestServerConnStates: a kept-alive connection goes new, active, idle, active, idle, closed, the sequence
// the daemon's connection cap reads.
func TestServerConnStates(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var states []string
	s := &Server{Handler: echo, ConnState: func(_ net.Conn, st ConnState) {
		mu.Lock()
		states = append(states, st.String())
		mu.Unlock()
	}}
	addr := serveTest(t, s)
	c := dialRaw(t, addr)
	br := bufio.NewReader(c)
	for range 2 {
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	c.Close()
	want := "new active idle active idle closed"
	poll.Wait(t, "the connection closed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) == 6
	})
	if got := strings.Join(states, " "); got != want {
		t.Errorf("states %q, want %q", got, want)
	}
}

// FuzzServe sends arbitrary bytes to a real server: whatever they are, the server answers with well-formed
// responses (or none) and ends the connection once the client has stopped sending, never hangs or panics.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
		"HEAD / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	mux := NewServeMux()
	mux.Handle("/", echo)
	mux.HandleFunc("GET /flush", func(w ResponseWriter, r *Request) {
		io.WriteString(w, "a")
		w.(Flusher).Flush()
		io.WriteString(w, "b")
	})
	addr := serveTest(f, &Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%q: %v after %q", in, err, out)
		}
		br := bufio.NewReader(bytes.NewReader(out))
		for {
			if _, err := br.Peek(1); err == io.EOF {
				return
			}
			// An answer to HEAD has no body whatever its Content-Length: past one, the stream cannot be split
			// without knowing which requests were HEAD, so only the first answer is read then.
			var req *http.Request
			head := bytes.Contains(in, []byte("HEAD"))
			if head {
				req = &http.Request{Method: "HEAD"}
			}
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("%q: malformed answer %q: %v", in, out, err)
			}
			if head {
				return
			}
			if _, err := io.ReadAll(resp.Body); err != nil && resp.StatusCode >= 200 {
				t.Fatalf("%q: malformed answer body %q: %v", in, out, err)
			}
		}
	})
}

// BenchmarkServerKeepAlive: requests on one kept-alive connection, this server beside net/http's serving the
// same answer (a figure for the notes, not a goal in a timed test).
func BenchmarkServerKeepAlive(b *testing.B) {
	body := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name  string
		serve func(l net.Listener) func()
	}{
		{"web", func(l net.Listener) func() {
			s := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) { io.WriteString(w, body) })}
			go s.Serve(l)
			return func() { s.Close() }
		}},
		{"net/http", func(l net.Listener) func() {
			s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
			go s.Serve(l)
			return func() { s.Close() }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer tc.serve(l)()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			b.ReportAllocs()
			for b.Loop() {
				io.WriteString(c, "GET /status HTTP/1.1\r\nHost: a\r\nUser-Agent: bench\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
}
