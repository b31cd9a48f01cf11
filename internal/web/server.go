package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lock"
)

// A Handler answers one request. It must not use w or r after it returns.
type Handler interface {
	ServeHTTP(ResponseWriter, *Request)
}

// HandlerFunc makes a function a Handler.
type HandlerFunc func(ResponseWriter, *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w ResponseWriter, r *Request) { f(w, r) }

// ErrAbortHandler, as a handler's panic value, ends its connection without the panic being logged.
var ErrAbortHandler = errors.New("web: abort Handler")

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = errors.New("web: Server closed")

// ConnState is a server connection's state, as Server.ConnState reports it.
type ConnState int

const (
	// StateNew: just accepted; a request is expected.
	StateNew ConnState = iota
	// StateActive: a request's first byte has come; the connection is busy until its answer is written.
	StateActive
	// StateIdle: between requests on a kept-alive connection.
	StateIdle
	// StateClosed: closed; the last state.
	StateClosed
)

func (s ConnState) String() string {
	return [...]string{"new", "active", "idle", "closed"}[s]
}

// Server serves HTTP/1.1 (and 1.0) on listeners. Every zero timeout means none.
//
// A request's body has a Content-Length or is chunked; a client that sent Expect: 100-continue gets its
// 100 Continue when the handler first reads the body (never, if it answers without reading). An answer that
// fits in 4 KiB when the handler returns gets a Content-Length; a longer or flushed one is sent chunked.
// HTTP/1.0 connections close after one exchange. A request's context ends when the server shuts down, and
// when the client goes away once the handler has read the whole body.
type Server struct {
	Handler Handler
	// ReadHeaderTimeout bounds reading a request's head, and a TLS handshake; ReadTimeout bounds reading the
	// head and the body; WriteTimeout bounds from the end of the head to the end of the answer; IdleTimeout
	// bounds the wait for the next request on a kept-alive connection (ReadTimeout when zero).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's head with its request line (default 16 KiB); a larger one gets 431.
	MaxHeaderBytes int
	// ConnState, when set, is called as each connection changes state, on the connection's goroutine.
	ConnState func(net.Conn, ConnState)
	// ConnContext, when set, derives the context of a connection's requests from the server's.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// ErrorLog receives handler panics (Error) and connection errors (Debug); nil discards them.
	ErrorLog *slog.Logger

	mu        lock.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup
	closing   bool
	ctx       context.Context
	cancel    context.CancelFunc
}

func (s *Server) init() {
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	}
}

// Serve accepts connections on l and serves each on its own goroutine until Shutdown or Close, then
// returns ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		rwc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors, or a transient accept error: wait a little and go on, as a server
				// that returned here would stop serving for good.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logDebug("accept", "error", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := &conn{srv: s, rwc: rwc}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			rwc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// ServeTLS serves HTTPS on l with the certificate and key of certFile and keyFile (PEM). Only HTTP/1.1 is
// offered in ALPN.
func (s *Server) ServeTLS(l net.Listener, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	return s.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12}))
}

// Shutdown stops the server gracefully: it closes the listeners and the connections waiting for a request,
// cancels the contexts of the requests in progress, and waits until their answers are written (or ctx ends,
// returning its error).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop(false)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stop(true)
	return nil
}

func (s *Server) stop(all bool) {
	s.mu.Lock()
	s.init()
	s.closing = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		if all || c.waiting {
			c.rwc.Close()
		}
	}
	s.mu.Unlock()
}

func (s *Server) logDebug(msg string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Debug("web server: "+msg, args...)
	}
}

// conn is one server connection.
type conn struct {
	srv *Server
	rwc net.Conn
	cr  *connReader
	br  *bufio.Reader
	bw  *bufio.Writer
	tls *tls.ConnectionState
	// remote is the peer's address, as RemoteAddr gives it to every request.
	remote string
	// waiting (under srv.mu): between requests, where Shutdown may close the connection.
	waiting bool
	// Reused by each answer: the body held before the head goes out, the header's sorted keys, numbers.
	body    []byte
	keys    []string
	scratch []byte
}

func (c *conn) setState(st ConnState) {
	if f := c.srv.ConnState; f != nil {
		f(c.rwc, st)
	}
}

// wait marks the connection as waiting for a request or not; it reports false when the server is shutting
// down and the connection must close instead.
func (c *conn) wait(w bool) bool {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.waiting = w
	return !c.srv.closing
}

func (c *conn) serve() {
	s := c.srv
	c.setState(StateNew)
	defer func() {
		if v := recover(); v != nil && v != ErrAbortHandler {
			if s.ErrorLog != nil {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.ErrorLog.Error("web server: handler panic", "remote", c.rwc.RemoteAddr().String(), "panic", v, "stack", string(buf))
			}
		}
		c.rwc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.setState(StateClosed)
		s.wg.Done()
	}()

	if tc, ok := c.rwc.(*tls.Conn); ok {
		if !c.wait(true) {
			return
		}
		if d := firstNonZero(s.ReadHeaderTimeout, s.ReadTimeout); d > 0 {
			_ = tc.SetDeadline(time.Now().Add(d))
		}
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.logDebug("TLS handshake", "remote", c.rwc.RemoteAddr().String(), "error", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
	}

	ctx := s.ctx
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, c.rwc)
	}
	c.cr = &connReader{conn: c.rwc}
	c.cr.cond = sync.NewCond(&c.cr.mu)
	c.br = bufio.NewReaderSize(c.cr, 4<<10)
	c.bw = bufio.NewWriterSize(c.rwc, 4<<10)
	maxHead := s.MaxHeaderBytes
	if maxHead <= 0 {
		maxHead = maxHeaderBytes
	}
	for first := true; ; first = false {
		// Wait for the request's first byte: a new connection as long as a head may take, a kept-alive one
		// as long as it may idle.
		wait := firstNonZero(s.ReadHeaderTimeout, s.ReadTimeout)
		if !first {
			c.setState(StateIdle)
			wait = firstNonZero(s.IdleTimeout, s.ReadTimeout)
		}
		if !c.wait(true) {
			return
		}
		setReadDeadline(c.rwc, wait)
		_, err := c.br.Peek(1)
		if !c.wait(false) || err != nil {
			return
		}
		c.setState(StateActive)
		start := time.Now()
		setReadDeadlineFrom(c.rwc, start, firstNonZero(s.ReadHeaderTimeout, s.ReadTimeout))
		sr, err := readRequest(c.br, maxHead)
		if err != nil {
			var re *requestError
			if errors.As(err, &re) {
				c.refuse(re)
			}
			return
		}
		setReadDeadlineFrom(c.rwc, start, s.ReadTimeout)
		if s.WriteTimeout > 0 {
			_ = c.rwc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
		} else {
			_ = c.rwc.SetWriteDeadline(time.Time{})
		}
		if !c.exchange(ctx, sr) {
			return
		}
	}
}

// exchange runs the handler for one request and writes its answer; it reports whether the connection may
// carry another request.
func (c *conn) exchange(parent context.Context, sr *serverRequest) bool {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	r := sr.req
	if c.remote == "" {
		c.remote = c.rwc.RemoteAddr().String()
	}
	r.RemoteAddr = c.remote
	r.TLS = c.tls
	r.ctx = ctx
	w := &response{conn: c, req: r, proto: sr.proto, header: Header{}, length: -1, closeAfter: sr.close, buf: c.body[:0]}
	body := &serverBody{r: r.Body, w: w}
	if sr.expectContinue && r.ContentLength != 0 {
		body.sendContinue = true
	}
	if r.ContentLength == 0 {
		body.done = true
	}
	r.Body = body
	c.cr.cancel = cancel
	if body.done {
		c.cr.startBackgroundRead()
	} else {
		body.onEOF = c.cr.startBackgroundRead
	}

	c.srv.Handler.ServeHTTP(w, r)

	c.cr.abortPendingRead()
	body.onEOF = nil
	if body.err != nil {
		w.closeAfter = true
	}
	if !body.done && !w.closeAfter {
		// Read what the handler left of the body, a little, so the connection can carry the next request;
		// past that it closes (the client would be sending for nothing).
		const maxDiscard = 256 << 10
		if body.sendContinue {
			w.closeAfter = true // the client waits for 100 Continue that never came: it sends nothing more
		} else if n, err := io.CopyN(io.Discard, body, maxDiscard+1); n > maxDiscard || (err != nil && err != io.EOF) {
			w.closeAfter = true
		}
	}
	if err := w.finish(); err != nil {
		return false
	}
	if cap(w.buf) <= bufferLimit {
		c.body = w.buf[:0]
	}
	return !w.closeAfter
}

// refuse answers a request the server will not hand to a handler, and closes.
func (c *conn) refuse(re *requestError) {
	if d := c.srv.WriteTimeout; d > 0 {
		_ = c.rwc.SetWriteDeadline(time.Now().Add(d))
	}
	msg := re.msg + "\n"
	io.WriteString(c.bw, "HTTP/1.1 "+statusLine(re.code)+"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"+
		"Content-Length: "+itoa(int64(len(msg)))+"\r\n\r\n"+msg)
	_ = c.bw.Flush()
	// Let the client read the answer before the close resets the connection over the unread request.
	if tc, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		setReadDeadline(c.rwc, 500*time.Millisecond)
		_, _ = io.CopyN(io.Discard, c.rwc, 256<<10)
	}
}

func firstNonZero(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

func setReadDeadline(c net.Conn, d time.Duration) { setReadDeadlineFrom(c, time.Now(), d) }

func setReadDeadlineFrom(c net.Conn, from time.Time, d time.Duration) {
	if d > 0 {
		_ = c.SetReadDeadline(from.Add(d))
	} else {
		_ = c.SetReadDeadline(time.Time{})
	}
}

// serverBody is a request's body as a handler reads it: it sends 100 Continue before the first read when the
// client waits for one, remembers a malformed body (the connection cannot carry another request), and tells
// the connection when the body is all read (from then on a read from the client means it went away).
type serverBody struct {
	r            io.Reader
	w            *response
	sendContinue bool
	done         bool
	err          error
	onEOF        func()
}

func (b *serverBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.sendContinue {
		b.sendContinue = false
		if !b.w.wroteHead {
			_, _ = b.w.conn.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			_ = b.w.conn.bw.Flush()
		}
	}
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		if b.onEOF != nil {
			b.onEOF()
		}
	case err != nil:
		b.err = err
	}
	return n, err
}

// connReader reads the connection for its bufio.Reader and, once a handler has the whole request, reads on
// in the background: an end of stream there means the client went away, and cancels the request's context.
type connReader struct {
	conn    net.Conn
	cancel  context.CancelFunc
	mu      sync.Mutex
	cond    *sync.Cond
	inRead  bool
	aborted bool
	hasByte bool
	b       [1]byte
}

func (cr *connReader) Read(p []byte) (int, error) {
	cr.mu.Lock()
	if cr.inRead {
		cr.mu.Unlock()
		return 0, errors.New("web: concurrent read on a server connection")
	}
	if cr.hasByte && len(p) > 0 {
		p[0] = cr.b[0]
		cr.hasByte = false
		cr.mu.Unlock()
		return 1, nil
	}
	cr.mu.Unlock()
	return cr.conn.Read(p)
}

func (cr *connReader) startBackgroundRead() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.inRead || cr.hasByte {
		return
	}
	cr.inRead = true
	_ = cr.conn.SetReadDeadline(time.Time{})
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	n, err := cr.conn.Read(cr.b[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true // the next request, pipelined: kept for the connection's next read
	}
	var ne net.Error
	if err != nil && !(cr.aborted && errors.As(err, &ne) && ne.Timeout()) && cr.cancel != nil {
		cr.cancel()
	}
	cr.aborted = false
	cr.inRead = false
	cr.mu.Unlock()
	cr.cond.Broadcast()
}

// abortPendingRead stops the background read and waits for it to end.
func (cr *connReader) abortPendingRead() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.inRead {
		return
	}
	cr.aborted = true
	_ = cr.conn.SetReadDeadline(time.Unix(1, 0))
	for cr.inRead {
		cr.cond.Wait()
	}
	_ = cr.conn.SetReadDeadline(time.Time{})
}
