package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
)

// Client sends requests over HTTP/1.1, with or without TLS, and keeps a few idle connections for reuse. Its
// zero value is ready to use; set fields before the first Do and do not change them after. It follows no
// redirect: a 3xx is returned as the answer, for the caller to judge.
type Client struct {
	// Timeout bounds the whole exchange, from dialling to the end of the body; 0 means none. The request's
	// context bounds it too.
	Timeout time.Duration
	// Dial opens connections (to the proxy when there is one); nil is a net.Dialer with a 30 s timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is the TLS configuration of https connections; nil means the system roots and TLS 1.2 or
	// later. Its ServerName, when unset, is the URL's host.
	TLSConfig *tls.Config
	// TLSHandshakeTimeout bounds a TLS handshake; 0 means 10 s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response's head once the request is written; 0: none
	// beyond Timeout.
	ResponseHeaderTimeout time.Duration
	// Proxy chooses the proxy of a request: nil (the field, or its answer) means none. ProxyFromEnvironment
	// follows HTTPS_PROXY, HTTP_PROXY and NO_PROXY as net/http does.
	Proxy func(*Request) (*url.URL, error)
	// DisableKeepAlives closes every connection after one exchange.
	DisableKeepAlives bool
	// MaxIdleConnsPerHost bounds the idle connections kept per scheme and host; 0 means 2.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes an idle connection after this long; 0 means 90 s.
	IdleConnTimeout time.Duration
	// UserAgent is the User-Agent sent when the request sets none; "" sends "hairpin".
	UserAgent string

	mu   lock.Mutex
	idle map[string][]*clientConn
}

const (
	defaultDialTimeout      = 30 * time.Second
	defaultHandshakeTimeout = 10 * time.Second
	defaultIdleTimeout      = 90 * time.Second
	defaultIdlePerHost      = 2
	// maxIdleTotal bounds the idle connections of one Client whatever the number of hosts.
	maxIdleTotal = 16
	// max1xx bounds the interim responses skipped before the final one.
	max1xx = 5
)

// clientConn is one connection to a server (or to a proxy, for plain http through it).
type clientConn struct {
	key  string
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// idleTimer closes the connection when it stays idle too long; nil while in use.
	idleTimer *time.Timer
	reused    bool
}

// Do sends req and returns the answer, whatever its status; the caller must close its Body. An error means no
// answer: the request may or may not have reached the server.
func (c *Client) Do(req *Request) (*Response, error) {
	if req == nil || req.URL == nil {
		return nil, errors.New("web: nil request or URL")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, &url.Error{Op: opName(req.Method), URL: redactURL(req.URL), Err: err}
	}
	return resp, nil
}

// opName is the Op of the error, as net/http writes it ("Get", "Post").
func opName(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + strings.ToLower(method[1:])
}

// redactURL is the URL for error messages, without a password.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}

func (c *Client) do(req *Request) (*Response, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	ctx := req.Context()
	cancel := context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	}
	var proxy *url.URL
	if c.Proxy != nil {
		p, err := c.Proxy(req)
		if err != nil {
			cancel()
			return nil, err
		}
		proxy = p
	}
	key := connKey(req.URL, proxy)
	replay := replayable(req)
	for attempt := 0; ; attempt++ {
		cc, err := c.getConn(ctx, key, req.URL, proxy)
		if err != nil {
			err = c.ctxErr(ctx, err)
			cancel()
			return nil, err
		}
		resp, err := c.exchange(ctx, cancel, cc, req, proxy)
		if err == nil {
			return resp, nil
		}
		// A reused connection the server closed while it sat idle fails before any answer: send again on a
		// new one when the request can be sent again.
		if cc.reused && attempt == 0 && errors.Is(err, errNoAnswer) && replay && ctx.Err() == nil {
			if req.getBody != nil {
				req.Body = req.getBody()
			}
			continue
		}
		err = c.ctxErr(ctx, err)
		cancel()
		return nil, err
	}
}

// errNoAnswer marks an exchange on which the connection ended before the first byte of an answer.
var errNoAnswer = errors.New("web: connection closed before an answer")

// ctxErr is err, or the context's error when the context ending is what made the exchange fail.
func (c *Client) ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && cerr == nil && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		// The connection's deadline is the context's: it can fire a moment before the context's timer.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) && c.Timeout > 0 {
			return errfmt.Errorf("%w (Client.Timeout %s or the context's deadline)", cerr, c.Timeout)
		}
		return cerr
	}
	return err
}

// replayable reports whether req can be sent a second time after the server may have acted on it: only an
// idempotent method by RFC 9110's safe list, whose body (if any) NewRequest can rebuild. PUT, PATCH, POST and
// DELETE are never sent twice: RouterOS's REST PUT creates an entry, so a resend after a server closed the
// connection having acted would create it twice (net/http does not resend them either).
func replayable(req *Request) bool {
	switch req.Method {
	case "", MethodGet, MethodHead, "OPTIONS", "TRACE":
	default:
		return false
	}
	return req.Body == nil || req.getBody != nil
}

// checkRequest refuses what would be sent wrong or let a value inject header lines.
func checkRequest(req *Request) error {
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("web: unsupported URL scheme " + quote(u.Scheme))
	}
	if u.Host == "" {
		return errors.New("web: URL has no host")
	}
	if req.Method != "" && !validMethod(req.Method) {
		return errors.New("web: invalid method " + quote(req.Method))
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !validHost(host) {
		return errors.New("web: invalid host " + quote(host))
	}
	for k, vs := range req.Header {
		if !validFieldName(k) {
			return errors.New("web: invalid header name " + quote(k))
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return errors.New("web: invalid character in the value of header " + quote(k))
			}
		}
	}
	if req.Body == nil && req.ContentLength > 0 {
		return errors.New("web: ContentLength without a Body")
	}
	return nil
}

// connKey names the connections a request can use: the same scheme, host and port, through the same proxy.
func connKey(u *url.URL, proxy *url.URL) string {
	k := u.Scheme + "://" + hostPort(u)
	if proxy != nil {
		k = proxy.String() + "|" + k
	}
	return k
}

// hostPort is the URL's host with its port, the scheme's default when it has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial(ctx, network, addr)
	}
	d := net.Dialer{Timeout: defaultDialTimeout, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// getConn returns an idle connection for key that is still open, or a new one.
func (c *Client) getConn(ctx context.Context, key string, u *url.URL, proxy *url.URL) (*clientConn, error) {
	for {
		cc := c.takeIdle(key)
		if cc == nil {
			break
		}
		if cc.alive() {
			cc.reused = true
			return cc, nil
		}
		cc.conn.Close()
	}
	return c.newConn(ctx, key, u, proxy)
}

func (c *Client) takeIdle(key string) *clientConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.idle[key]
	if len(l) == 0 {
		return nil
	}
	cc := l[len(l)-1]
	c.idle[key] = l[:len(l)-1]
	if len(c.idle[key]) == 0 {
		delete(c.idle, key)
	}
	if cc.idleTimer != nil {
		cc.idleTimer.Stop()
		cc.idleTimer = nil
	}
	return cc
}

// alive reports whether an idle connection is still open and silent: a server that closed it, or sent
// something unasked (a 408, a TLS alert), makes it unusable. On a socket it peeks without waiting; on another
// net.Conn (a Dial hook's own) it waits a millisecond at most.
func (cc *clientConn) alive() bool {
	if cc.br.Buffered() > 0 {
		return false
	}
	if alive, ok := socketAlive(cc.conn); ok {
		return alive
	}
	cc.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := cc.br.Peek(1)
	cc.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) newConn(ctx context.Context, key string, u *url.URL, proxy *url.URL) (*clientConn, error) {
	addr := hostPort(u)
	dialAddr := addr
	if proxy != nil {
		dialAddr = proxyHostPort(proxy)
	}
	conn, err := c.dial(ctx, "tcp", dialAddr)
	if err != nil {
		return nil, err
	}
	if proxy != nil && proxy.Scheme == "https" {
		tc, err := c.handshake(ctx, conn, proxy.Hostname(), nil)
		if err != nil {
			return nil, errfmt.Errorf("proxy %s: %w", proxy.Host, err)
		}
		conn = tc
	}
	if proxy != nil && u.Scheme == "https" {
		if err := c.connect(ctx, conn, addr, proxy); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if u.Scheme == "https" {
		tc, err := c.handshake(ctx, conn, u.Hostname(), c.TLSConfig)
		if err != nil {
			return nil, err
		}
		conn = tc
	}
	return &clientConn{key: key, conn: conn, br: bufio.NewReaderSize(conn, 4096), bw: bufio.NewWriterSize(conn, 4096)}, nil
}

// handshake runs a TLS handshake on conn, closing conn when it fails.
func (c *Client) handshake(ctx context.Context, conn net.Conn, host string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	timeout := c.TLSHandshakeTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// exchange writes req on cc and reads the answer's head. The answer's body hands cc back to the pool (or
// closes it) and calls cancel once read or closed.
func (c *Client) exchange(ctx context.Context, cancel context.CancelFunc, cc *clientConn, req *Request, proxy *url.URL) (*Response, error) {
	deadline, hasDeadline := ctx.Deadline()
	cc.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { cc.conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*Response, error) {
		stop()
		cc.conn.Close()
		return nil, err
	}
	if err := c.writeRequest(cc.bw, req, proxy); err != nil {
		if cc.reused && isConnGone(err) {
			err = errfmt.Errorf("%w: %w", errNoAnswer, err)
		}
		return fail(err)
	}
	if c.ResponseHeaderTimeout > 0 {
		hd := time.Now().Add(c.ResponseHeaderTimeout)
		if !hasDeadline || hd.Before(deadline) {
			cc.conn.SetReadDeadline(hd)
		}
	}
	var resp *Response
	var meta responseMeta
	for n := 0; ; n++ {
		r, m, err := readResponse(cc.br, req, maxHeaderBytes)
		if err != nil {
			if n == 0 && cc.reused && (err == io.EOF || isConnGone(err)) {
				err = errfmt.Errorf("%w: %w", errNoAnswer, err)
			}
			return fail(err)
		}
		if r.StatusCode >= 200 || r.StatusCode == StatusSwitchingProtocols {
			resp, meta = r, m
			break
		}
		if n == max1xx {
			return fail(errors.New("web: too many 1xx responses"))
		}
	}
	if c.ResponseHeaderTimeout > 0 {
		cc.conn.SetReadDeadline(deadline)
		if ctx.Err() != nil { // the AfterFunc may have run before the reset
			return fail(ctx.Err())
		}
	}
	keep := meta.keepAlive && !c.DisableKeepAlives && resp.StatusCode != StatusSwitchingProtocols
	body, ok := resp.Body.(*bodyReader)
	if !ok {
		// No body: the connection is free now.
		stopped := stop()
		cancel()
		if keep && stopped {
			c.putIdle(cc)
		} else {
			cc.conn.Close()
		}
		return resp, nil
	}
	resp.Body = &clientBody{body: body, cc: cc, client: c, keep: keep, stop: stop, cancel: cancel, ctx: ctx}
	return resp, nil
}

// aLongTimeAgo is a deadline in the past: setting it makes every blocked read or write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// isConnGone reports whether err says the peer closed or reset the connection.
func isConnGone(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// writeRequest writes the request line, the header and the body.
func (c *Client) writeRequest(bw *bufio.Writer, req *Request, proxy *url.URL) error {
	u := req.URL
	method := req.Method
	if method == "" {
		method = MethodGet
	}
	target := u.RequestURI()
	if proxy != nil && u.Scheme == "http" {
		// Absolute form, for the proxy to know where to go; never with credentials.
		a := *u
		a.User, a.Fragment, a.RawFragment = nil, "", ""
		target = a.String()
	}
	if strings.ContainsAny(target, " \r\n\x00") {
		return errors.New("web: invalid request target " + quote(target))
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	host = strings.TrimSuffix(host, ":") // "example.com:" means the default port
	if i, j := strings.Index(host, "%"), strings.LastIndex(host, "]"); strings.HasPrefix(host, "[") && i > 0 && j > i {
		host = host[:i] + host[j:] // an IPv6 zone is the client's business, not the server's (RFC 6874)
	}

	bw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	if req.Header.Get("User-Agent") == "" {
		ua := c.UserAgent
		if ua == "" {
			ua = "hairpin"
		}
		bw.WriteString("User-Agent: " + ua + "\r\n")
	}
	if u.User != nil && req.Header.Get("Authorization") == "" {
		p, _ := u.User.Password()
		r := Request{Header: Header{}}
		r.SetBasicAuth(u.User.Username(), p)
		bw.WriteString("Authorization: " + r.Header.Get("Authorization") + "\r\n")
	}
	if proxy != nil && u.Scheme == "http" {
		if auth := proxyAuth(proxy); auth != "" {
			bw.WriteString("Proxy-Authorization: " + auth + "\r\n")
		}
	}
	if c.DisableKeepAlives {
		bw.WriteString("Connection: close\r\n")
	}

	body, length := req.Body, req.ContentLength
	if body != nil && length == 0 {
		// A body of unknown size that says 0: see whether it is empty.
		var one [1]byte
		n, err := io.ReadFull(body, one[:])
		switch {
		case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
			body = nil
		case err != nil && n == 0:
			return err
		default:
			body, length = io.MultiReader(strings.NewReader(string(one[:n])), body), -1
		}
	}
	switch {
	case body != nil && length > 0:
		bw.WriteString("Content-Length: " + strconv.FormatInt(length, 10) + "\r\n")
	case body != nil:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case method == MethodPost || method == MethodPut || method == MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	for _, k := range slices.Sorted(maps.Keys(req.Header)) {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue // the client's to write
		}
		for _, v := range req.Header[k] {
			bw.WriteString(k + ": " + v + "\r\n")
		}
	}
	bw.WriteString("\r\n")

	switch {
	case body != nil && length > 0:
		n, err := io.Copy(bw, io.LimitReader(body, length))
		if err != nil {
			return err
		}
		if n != length {
			return errfmt.Errorf("web: request body is %d bytes, ContentLength says %d", n, length)
		}
	case body != nil:
		cw := &chunkedWriter{w: bw}
		if _, err := io.Copy(cw, body); err != nil {
			return err
		}
		bw.WriteString(lastChunk)
	}
	return bw.Flush()
}

// chunkedWriter writes each Write as one chunk.
type chunkedWriter struct{ w *bufio.Writer }

func (cw *chunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := writeChunk(cw.w, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// putIdle keeps cc for the next request to its host, or closes it when the pool is full.
func (c *Client) putIdle(cc *clientConn) {
	cc.conn.SetDeadline(time.Time{})
	per := c.MaxIdleConnsPerHost
	if per <= 0 {
		per = defaultIdlePerHost
	}
	timeout := c.IdleConnTimeout
	if timeout <= 0 {
		timeout = defaultIdleTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, l := range c.idle {
		total += len(l)
	}
	if len(c.idle[cc.key]) >= per || total >= maxIdleTotal {
		cc.conn.Close()
		return
	}
	if c.idle == nil {
		c.idle = map[string][]*clientConn{}
	}
	cc.reused = false
	c.idle[cc.key] = append(c.idle[cc.key], cc)
	cc.idleTimer = time.AfterFunc(timeout, func() { c.dropIdle(cc) })
}

// dropIdle closes cc if it is still idle.
func (c *Client) dropIdle(cc *clientConn) {
	c.mu.Lock()
	l := c.idle[cc.key]
	i := slices.Index(l, cc)
	if i >= 0 {
		c.idle[cc.key] = slices.Delete(l, i, i+1)
		if len(c.idle[cc.key]) == 0 {
			delete(c.idle, cc.key)
		}
	}
	c.mu.Unlock()
	if i >= 0 {
		cc.conn.Close()
	}
}

// CloseIdleConnections closes every idle connection; connections in use are not touched.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, l := range idle {
		for _, cc := range l {
			if cc.idleTimer != nil {
				cc.idleTimer.Stop()
			}
			cc.conn.Close()
		}
	}
}

// clientBody is a response body as Do returns it: when it is read to its end, or closed, the connection goes
// back to the pool (only if the body was read to its end) or is closed.
type clientBody struct {
	body   *bodyReader
	cc     *clientConn
	client *Client
	ctx    context.Context
	keep   bool
	stop   func() bool
	cancel context.CancelFunc

	mu       sync.Mutex
	released bool
	closed   bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("web: read on a closed response body")
	}
	if b.released {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		if cerr := b.client.ctxErr(b.ctx, err); cerr != err {
			err = errfmt.Errorf("web: reading the response body: %w", cerr)
		}
		b.release(false)
	}
	return n, err
}

func (b *clientBody) Close() error {
	if !b.mu.TryLock() {
		// A Read is blocked in another goroutine: end it, as net/http's Close does; the connection is not
		// reused then.
		b.cc.conn.SetReadDeadline(aLongTimeAgo)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.closed = true
	if !b.released {
		b.release(b.body.done())
	}
	return nil
}

// release ends the exchange: the connection is reused only if the whole body was read and the context did
// not end meanwhile (its AfterFunc may have poisoned the deadline).
func (b *clientBody) release(complete bool) {
	b.released = true
	stopped := b.stop()
	b.cancel()
	if complete && b.keep && stopped {
		b.client.putIdle(b.cc)
		return
	}
	b.cc.conn.Close()
}
