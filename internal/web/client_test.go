package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
	"golang.org/x/net/http/httpproxy"
)

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func mustDo(t *testing.T, c *Client, method, u string, body io.Reader) (*Response, []byte) {
	t.Helper()
	req, err := NewRequest(context.Background(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestClientRequests(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, host, ua, ctype string
		length                       int64
		te                           []string
		body                         string
	}
	got := make(chan seen, 1)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.UserAgent(), r.Header.Get("Content-Type"), r.ContentLength, r.TransferEncoding, string(b)}
		w.Header().Set("X-Answer", "yes")
		io.WriteString(w, "answer to "+r.Method)
	})
	c := &Client{}
	t.Cleanup(c.CloseIdleConnections)
	for _, tc := range []struct {
		name   string
		method string
		body   func() io.Reader
		want   seen
	}{
		{"get", "GET", func() io.Reader { return nil }, seen{method: "GET", uri: "/p?q=1", ua: "hairpin"}},
		{"post with length", "POST", func() io.Reader { return strings.NewReader(`{"a":1}`) }, seen{method: "POST", uri: "/p?q=1", ua: "hairpin", length: 7, body: `{"a":1}`}},
		{"post empty", "POST", func() io.Reader { return nil }, seen{method: "POST", uri: "/p?q=1", ua: "hairpin"}},
		{"put chunked", "PUT", func() io.Reader { return iotest.OneByteReader(strings.NewReader("chunk me")) }, seen{method: "PUT", uri: "/p?q=1", ua: "hairpin", length: -1, te: []string{"chunked"}, body: "chunk me"}},
		{"delete", "DELETE", func() io.Reader { return nil }, seen{method: "DELETE", uri: "/p?q=1", ua: "hairpin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := mustDo(t, c, tc.method, srv.URL+"/p?q=1", tc.body())
			s := <-got
			tc.want.host = strings.TrimPrefix(srv.URL, "http://")
			if s.method != tc.want.method || s.uri != tc.want.uri || s.host != tc.want.host || s.ua != tc.want.ua ||
				s.length != tc.want.length || strings.Join(s.te, ",") != strings.Join(tc.want.te, ",") || s.body != tc.want.body {
				t.Errorf("server saw %+v, want %+v", s, tc.want)
			}
			if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Header.Get("X-Answer") != "yes" || string(body) != "answer to "+tc.method {
				t.Errorf("answer %d %q %v %q", resp.StatusCode, resp.Status, resp.Header, body)
			}
		})
	}
}

func TestClientRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := &Client{}
	for _, tc := range []struct{ name, key, value string }{
		{"LF in value", "X-A", "a\nX-Injected: 1"},
		{"CRLF in value", "X-A", "a\r\nX-Injected: 1"},
		{"NUL in value", "X-A", "a\x00b"},
		{"CR in name", "X-A\r", "v"},
		{"colon in name", "X-A:", "v"},
		{"space in name", "X A", "v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := NewRequest(context.Background(), "GET", srv.URL, nil)
			req.Header[tc.key] = []string{tc.value}
			if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "invalid") {
				t.Errorf("Do = %v, want a refusal", err)
			}
		})
	}
	t.Run("host", func(t *testing.T) {
		req, _ := NewRequest(context.Background(), "GET", srv.URL, nil)
		req.Host = "a\r\nX-Injected: 1"
		if _, err := c.Do(req); err == nil {
			t.Error("a Host with CRLF was sent")
		}
	})
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections for refused requests, want none", n)
	}
	// The positive control: the same request with a clean value goes through.
	req, _ := NewRequest(context.Background(), "GET", srv.URL, nil)
	req.Header.Set("X-A", "clean value\twith tab")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestClientKeepAlive(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		default:
			io.WriteString(w, "hello")
		}
	})
	c := &Client{}
	t.Cleanup(c.CloseIdleConnections)
	for i := 0; i < 3; i++ {
		mustDo(t, c, "GET", srv.URL+"/", nil)
		mustDo(t, c, "GET", srv.URL+"/chunked", nil)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("6 exchanges read to the end took %d connections, want 1", n)
	}
	// A body closed before its end: the connection cannot be reused.
	req, _ := NewRequest(context.Background(), "GET", srv.URL+"/big", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	mustDo(t, c, "GET", srv.URL+"/", nil)
	if n := conns.Load(); n != 2 {
		t.Errorf("after a body closed early: %d connections, want 2", n)
	}

	t.Run("disabled", func(t *testing.T) {
		srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
		c := &Client{DisableKeepAlives: true}
		mustDo(t, c, "GET", srv.URL, nil)
		mustDo(t, c, "GET", srv.URL, nil)
		if n := conns.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
}

// TestClientIdleClosedByServer: a server that closes an idle connection (its idle timeout, a restart) costs
// the next request nothing.
func TestClientIdleClosedByServer(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	c := &Client{}
	t.Cleanup(c.CloseIdleConnections)
	mustDo(t, c, "GET", srv.URL, nil)
	srv.CloseClientConnections()
	_, body := mustDo(t, c, "POST", srv.URL, strings.NewReader("again"))
	if string(body) != "again" {
		t.Errorf("body %q", body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestClientRetriesOnStaleConn: the server closes the connection as the request arrives (no alive check can see
// it coming); a GET is sent again on a new connection, a POST is not (the server may have acted on it).
func TestClientRetriesOnStaleConn(t *testing.T) {
	t.Parallel()
	// Every connection answers its first request and closes on the second.
	addr, accepted := rawServer(t, func(n int, conn net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(int64(len(req.URL.Path)))+"\r\n\r\n"+req.URL.Path)
		http.ReadRequest(br)
	})
	c := &Client{}
	t.Cleanup(c.CloseIdleConnections)
	mustDo(t, c, "GET", "http://"+addr+"/first", nil)
	_, body := mustDo(t, c, "GET", "http://"+addr+"/again", nil)
	if string(body) != "/again" || accepted.Load() != 2 {
		t.Errorf("body %q over %d connections, want /again over 2", body, accepted.Load())
	}
	// The negative control: a POST, even with a body NewRequest could rebuild, is not sent again.
	req, _ := NewRequest(context.Background(), "POST", "http://"+addr+"/once", strings.NewReader("once"))
	if _, err := c.Do(req); err == nil || !errors.Is(err, errNoAnswer) {
		t.Errorf("Do = %v, want the closed connection's error", err)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the POST not resent)", n)
	}
}

// rawServer accepts connections on loopback and runs serve on each; n counts from 0.
func rawServer(t *testing.T, serve func(n int, conn net.Conn, br *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1)) - 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				serve(n, conn, bufio.NewReader(conn))
			}()
		}
	}()
	return l.Addr().String(), &accepted
}

// answer serves one canned response to every request.
func answer(raw string) func(int, net.Conn, *bufio.Reader) {
	return func(_ int, conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, raw)
	}
}

func TestClientAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, raw string
		status            int
		body              string
		err               string
	}{
		{"1xx skipped", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, "", ""},
		{"204 has no body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, "", ""},
		{"304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", 304, "", ""},
		{"redirect is an answer", "GET", "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/\r\nContent-Length: 0\r\n\r\n", 302, "", ""},
		{"until close", "GET", "HTTP/1.0 200 OK\r\n\r\nto the end", 200, "to the end", ""},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, "abc", ""},
		{"bare LF", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", ""},
		{"length and chunked", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, "", "both Transfer-Encoding and Content-Length"},
		{"two lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 0, "", "conflicting Content-Length"},
		{"gzip coding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, "", "only chunked"},
		{"HTTP/2", "GET", "HTTP/2.0 200 OK\r\n\r\n", 0, "", "version"},
		{"folding", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", 0, "", "folding"},
		{"bare CR", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n", 0, "", "bare CR"},
		{"huge head", "GET", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", 0, "", "larger than"},
		{"too many 1xx", "GET", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 7) + "HTTP/1.1 200 OK\r\n\r\n", 0, "", "too many 1xx"},
		{"short body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, "", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, _ := rawServer(t, answer(tc.raw))
			c := &Client{}
			req, _ := NewRequest(context.Background(), tc.method, "http://"+addr+"/", nil)
			resp, err := c.Do(req)
			if err != nil {
				if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Do = %v, want %q", err, tc.err)
				}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("body %q, %v; want the error %q", b, err, tc.err)
				}
				return
			}
			if err != nil || resp.StatusCode != tc.status || string(b) != tc.body {
				t.Errorf("answer %d %q %v, want %d %q", resp.StatusCode, b, err, tc.status, tc.body)
			}
		})
	}
}

func TestClientTimeouts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Write([]byte("start"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	for _, path := range []string{"/head", "/body"} {
		t.Run("Client.Timeout"+path, func(t *testing.T) {
			c := &Client{Timeout: 200 * time.Millisecond}
			req, _ := NewRequest(context.Background(), "GET", srv.URL+path, nil)
			start := time.Now()
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		c := &Client{}
		req, _ := NewRequest(ctx, "GET", srv.URL+"/head", nil)
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want Canceled", err)
		}
	})
	t.Run("ResponseHeaderTimeout", func(t *testing.T) {
		c := &Client{ResponseHeaderTimeout: 100 * time.Millisecond}
		req, _ := NewRequest(context.Background(), "GET", srv.URL+"/head", nil)
		var ne net.Error
		if _, err := c.Do(req); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
}

func TestClientTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over "+r.TLS.ServerName)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	// httptest's certificate names example.com, not 127.0.0.1: ask for that name.
	u := strings.Replace(srv.URL, "127.0.0.1", "example.com", 1)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	c := &Client{Dial: dial, TLSConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(c.CloseIdleConnections)
	_, body := mustDo(t, c, "GET", u, nil)
	if string(body) != "over example.com" {
		t.Errorf("body %q", body)
	}
	// The negative control: without the test CA, the certificate is refused.
	c2 := &Client{Dial: dial}
	req, _ := NewRequest(context.Background(), "GET", u, nil)
	var ue x509.UnknownAuthorityError
	if _, err := c2.Do(req); !errors.As(err, &ue) {
		t.Errorf("without the CA: %v, want x509.UnknownAuthorityError", err)
	}
	// Nor does a right CA help when the name is wrong.
	c3 := &Client{Dial: dial, TLSConfig: &tls.Config{RootCAs: roots}}
	req, _ = NewRequest(context.Background(), "GET", strings.Replace(srv.URL, "127.0.0.1", "hairpin.test", 1), nil)
	var he x509.HostnameError
	if _, err := c3.Do(req); !errors.As(err, &he) {
		t.Errorf("wrong name: %v, want x509.HostnameError", err)
	}
}

// connectProxy is a small forward proxy: CONNECT tunnels, and absolute-form requests for plain http. It records
// the request lines it saw.
func connectProxy(t *testing.T, auth string, alias map[string]string) (*url.URL, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	addr, _ := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		mu.Lock()
		lines = append(lines, req.Method+" "+req.RequestURI)
		mu.Unlock()
		if auth != "" && req.Header.Get("Proxy-Authorization") != auth {
			io.WriteString(conn, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
			return
		}
		target := req.Host
		if req.Method != "CONNECT" {
			target = req.URL.Host
		}
		if a, ok := alias[target]; ok {
			target = a
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer up.Close()
		if req.Method == "CONNECT" {
			io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		} else {
			req.Header.Del("Proxy-Authorization")
			req.Write(up)
		}
		up.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { io.Copy(up, br); up.Close() }()
		io.Copy(conn, up)
	})
	return &url.URL{Scheme: "http", Host: addr}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

func TestClientProxy(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }))
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain "+r.Header.Get("Proxy-Authorization"))
	}))
	t.Cleanup(plainSrv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "example.com"}

	t.Run("https through CONNECT", func(t *testing.T) {
		proxy, seen := connectProxy(t, "", nil)
		c := &Client{TLSConfig: tlsCfg, Proxy: func(*Request) (*url.URL, error) { return proxy, nil }}
		t.Cleanup(c.CloseIdleConnections)
		_, body := mustDo(t, c, "GET", tlsSrv.URL+"/x", nil)
		if string(body) != "tls" {
			t.Errorf("body %q", body)
		}
		if got := seen(); len(got) != 1 || got[0] != "CONNECT "+strings.TrimPrefix(tlsSrv.URL, "https://") {
			t.Errorf("proxy saw %q", got)
		}
	})
	t.Run("http in absolute form, with credentials", func(t *testing.T) {
		proxy, seen := connectProxy(t, "Basic dTpw", nil)
		proxy.User = url.UserPassword("u", "p")
		c := &Client{Proxy: func(*Request) (*url.URL, error) { return proxy, nil }}
		t.Cleanup(c.CloseIdleConnections)
		_, body := mustDo(t, c, "GET", plainSrv.URL+"/y?z=1", nil)
		if string(body) != "plain " {
			t.Errorf("body %q (the proxy's credentials must not reach the server)", body)
		}
		if got := seen(); len(got) != 1 || got[0] != "GET "+plainSrv.URL+"/y?z=1" {
			t.Errorf("proxy saw %q", got)
		}
	})
	t.Run("refused tunnel", func(t *testing.T) {
		proxy, _ := connectProxy(t, "Basic secret", nil)
		c := &Client{TLSConfig: tlsCfg, Proxy: func(*Request) (*url.URL, error) { return proxy, nil }}
		req, _ := NewRequest(context.Background(), "GET", tlsSrv.URL, nil)
		if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "407") {
			t.Errorf("Do = %v, want the proxy's 407", err)
		}
	})
}

// TestProxyFromEnvironment: HTTPS_PROXY sends a request through the proxy; NO_PROXY naming the host does not.
func TestProxyFromEnvironment(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }))
	t.Cleanup(tlsSrv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	proxy, seen := connectProxy(t, "", map[string]string{"hairpin.test:443": tlsSrv.Listener.Addr().String()})
	t.Setenv("HTTPS_PROXY", proxy.Host) // no scheme: http
	t.Setenv("NO_PROXY", "other.test")
	var dialled []string
	c := &Client{TLSConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}, Proxy: ProxyFromEnvironment,
		Dial: func(ctx context.Context, n, a string) (net.Conn, error) {
			dialled = append(dialled, a)
			if a == "hairpin.test:443" {
				return nil, errors.New("dialled directly")
			}
			var d net.Dialer
			return d.DialContext(ctx, n, a)
		}}
	t.Cleanup(c.CloseIdleConnections)
	_, body := mustDo(t, c, "GET", "https://hairpin.test/", nil)
	if string(body) != "tls" || len(dialled) != 1 || dialled[0] != proxy.Host {
		t.Errorf("body %q, dialled %q", body, dialled)
	}
	if got := seen(); len(got) != 1 || got[0] != "CONNECT hairpin.test:443" {
		t.Errorf("proxy saw %q", got)
	}
	t.Setenv("NO_PROXY", ".other.test,hairpin.test")
	req, _ := NewRequest(context.Background(), "GET", "https://hairpin.test/", nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "dialled directly") {
		t.Errorf("with NO_PROXY: %v, want a direct dial", err)
	}
	t.Setenv("HTTPS_PROXY", "socks5://192.0.2.1:1080")
	if _, err := c.Do(req.WithContext(context.Background())); err == nil || !strings.Contains(err.Error(), "dialled directly") {
		t.Errorf("NO_PROXY still applies: %v", err)
	}
	t.Setenv("NO_PROXY", "")
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "only http and https proxies") {
		t.Errorf("socks5: %v", err)
	}
}

// TestUseProxy checks NO_PROXY matching against golang.org/x/net/http/httpproxy, which net/http uses.
func TestUseProxy(t *testing.T) {
	t.Parallel()
	hosts := []string{"example.com:443", "www.example.com:443", "example.com:8443", "badexample.com:443",
		"192.0.2.7:443", "192.0.2.7:80", "198.51.100.1:443", "[2001:db8::1]:443", "[2001:db8:1::1]:443",
		"localhost:443", "127.0.0.1:443", "[::1]:443", "sub.a.example.org:443", "EXAMPLE.com:443"}
	for _, noProxy := range []string{"", "*", "example.com", ".example.com", "*.example.com", "example.com:8443",
		"192.0.2.7", "192.0.2.0/24", "192.0.2.7:80", "2001:db8::/48", "[2001:db8::1]:443", "a.example.org, example.com",
		"EXAMPLE.COM", "example.com."} {
		cfg := &httpproxy.Config{HTTPSProxy: "http://proxy.test:3128", NoProxy: noProxy}
		pf := cfg.ProxyFunc()
		for _, h := range hosts {
			t.Run(noProxy+"/"+h, func(t *testing.T) {
				p, err := pf(&url.URL{Scheme: "https", Host: h})
				want := err == nil && p != nil
				if got := useProxy(h, noProxy); got != want {
					t.Errorf("useProxy(%q, %q) = %v, httpproxy says %v", h, noProxy, got, want)
				}
			})
		}
	}
}

func TestReadResponseSSDP(t *testing.T) {
	t.Parallel()
	raw := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:x\r\nEXT:\r\nLOCATION: http://192.0.2.1:5000/rootDesc.xml\r\n\r\n"
	resp, err := ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Location") != "http://192.0.2.1:5000/rootDesc.xml" || resp.Header.Get("Ext") != "" || len(resp.Header["Ext"]) != 1 {
		t.Errorf("header %v", resp.Header)
	}
}

// TestClientCloseUnblocksRead: closing a body ends a Read blocked on a silent server, as net/http's does.
func TestClientCloseUnblocksRead(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("start"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := &Client{}
	req, _ := NewRequest(context.Background(), "GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	body := resp.Body.(*clientBody)
	poll.Wait(t, "the reader blocked in the body", func() bool {
		if body.mu.TryLock() {
			body.mu.Unlock()
			return false
		}
		return true
	})
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ReadAll ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocked Read")
	}
}

// TestSocketAlive: the stale-connection check peeks at the socket without waiting: an open, silent
// connection is alive; one with unread bytes, or whose peer closed it, is not; a net.Conn that is not a
// socket falls back to the read with a deadline.
func TestSocketAlive(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pair := func() (client, server net.Conn) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	c, _ := pair()
	if alive, ok := socketAlive(c); !alive || !ok {
		t.Errorf("open silent connection: alive %v ok %v", alive, ok)
	}
	c, s := pair()
	s.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n"))
	poll.Wait(t, "the bytes arrive", func() bool { alive, _ := socketAlive(c); return !alive })
	c, s = pair()
	s.Close()
	poll.Wait(t, "the close arrives", func() bool { alive, _ := socketAlive(c); return !alive })
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, ok := socketAlive(p1); ok {
		t.Error("a pipe was peeked at as a socket")
	}
}

// BenchmarkClientKeepAlive: GETs over one kept TLS connection, this client beside net/http's (a figure for the
// notes: the stale-connection check on each reuse must not wait).
func BenchmarkClientKeepAlive(b *testing.B) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") }))
	defer srv.Close()
	b.Run("web", func(b *testing.B) {
		c := &Client{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
		defer c.CloseIdleConnections()
		for b.Loop() {
			req, _ := NewRequest(context.Background(), MethodGet, srv.URL+"/rest/ip/address", nil)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("net/http", func(b *testing.B) {
		c := srv.Client()
		defer c.CloseIdleConnections()
		for b.Loop() {
			resp, err := c.Get(srv.URL + "/rest/ip/address")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestClientIPv6Zone: a link-local URL's zone picks the interface but is not sent in Host, as net/http does.
func TestClientIPv6Zone(t *testing.T) {
	t.Parallel()
	var host atomic.Value
	addr, _ := rawServer(t, func(_ int, conn net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		host.Store(req.Host)
		io.WriteString(conn, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	c := &Client{Dial: func(ctx context.Context, n, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, n, addr)
	}}
	mustDo(t, c, "GET", "http://[fe80::1%25eth0]:8080/x", nil)
	if got := host.Load(); got != "[fe80::1]:8080" {
		t.Errorf("Host %q, want [fe80::1]:8080", got)
	}
}
