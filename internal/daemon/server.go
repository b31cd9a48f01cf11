package daemon

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/secret"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// Serve answers status requests on addr (a unix socket path, or host:port) until ctx ends. A unix socket is
// created mode 0660 so only root and the socket's group can read the router's state.
func (d *Daemon) Serve(ctx context.Context, addr string) error {
	l, err := Listen(addr)
	if err != nil {
		return err
	}
	return d.ServeListener(ctx, l)
}

// Listen opens the status listener. The daemon opens it before anything else: a second daemon for the same
// socket fails here instead of fighting the first over the rules.
func Listen(addr string) (net.Listener, error) {
	l, err := listen(addr)
	if err != nil {
		return nil, errfmt.Errorf("status listener %s: %w", addr, err)
	}
	return l, nil
}

// Limits of the status listener: a flood of clients or idle connections must not cost the loop anything.
const (
	// MaxConns caps the connections held open. At the cap a new connection closes the oldest one that is doing
	// no work (idle, or still sending its request), so a crowd of idle connections cannot lock out the next
	// `hairpin status`; only when every one is inside a handler do new ones wait.
	MaxConns = 32
)

// connIdle closes keep-alive connections that send nothing more (tests shorten it).
var connIdle = 10 * time.Second

// evictAfter is how long a connection at the cap may wait doing nothing before a new one takes its slot: long
// enough that a client reusing a keep-alive connection it just got back is not cut off mid-request, short
// enough that 200 idle connections delay the next status request by about a second, not 35.
const evictAfter = 100 * time.Millisecond

// statusListener is one listener's control setting: computed when it starts and again on every reload, so a
// rotated token or `control: false` takes effect at once.
type statusListener struct {
	addr   string
	unix   bool
	ctl    atomic.Pointer[control]
	capped *cappedListener
}

type control struct {
	on    bool
	token string // for TCP; empty on a unix socket, whose mode authenticates
}

// controlFor reads the control setting and token of cfg for a listener.
func (d *Daemon) controlFor(cfg *config.Config, unix bool) *control {
	c := &control{on: cfg.Daemon.Control}
	if !c.on || unix {
		return c
	}
	var err error
	if cfg.Daemon.ControlTokenFile == "" {
		err = errors.New("daemon.control over TCP needs daemon.control_token_file")
	} else {
		c.token, err = secret.Read(cfg.Daemon.ControlTokenFile, secret.Options{ConfigDir: filepath.Dir(cfg.File), Owners: cfg.SecretOwners,
			Warn: func(msg string, args ...any) { d.log.Warn("status listener: "+msg, args...) }})
	}
	if err != nil {
		d.event(slog.LevelError, "status listener stays read-only", "error", err)
		return &control{}
	}
	return c
}

// refreshControl applies a reloaded config's control setting and token to every status listener, and says
// what changed (never the token itself).
func (d *Daemon) refreshControl(cfg *config.Config) {
	d.mu.Lock()
	ls := slices.Clone(d.listeners)
	d.mu.Unlock()
	for _, sl := range ls {
		c := d.controlFor(cfg, sl.unix)
		old := sl.ctl.Swap(c)
		switch {
		case old.on != c.on:
			d.event(slog.LevelInfo, "status listener control changed", "address", sl.addr, "control", c.on)
		case old.token != c.token:
			d.event(slog.LevelInfo, "status listener control token replaced", "address", sl.addr)
		}
	}
}

// ServeListener answers status requests on l until ctx ends. The listener is read-only (GET /status and
// GET /metrics, both from the daemon's memory) unless daemon.control is set: then POST /reload is accepted,
// over a unix socket from anyone its mode (0660) lets in, over TCP only with the bearer token of
// daemon.control_token_file. Both are read again at every reload.
func (d *Daemon) ServeListener(ctx context.Context, l net.Listener) error {
	sl := &statusListener{addr: l.Addr().String(), unix: l.Addr().Network() == "unix", capped: capConns(l, MaxConns)}
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	sl.ctl.Store(d.controlFor(cfg, sl.unix))
	d.mu.Lock()
	d.listeners = append(d.listeners, sl)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.listeners = slices.DeleteFunc(d.listeners, func(x *statusListener) bool { return x == sl })
		d.mu.Unlock()
	}()
	quiet := afterQuiet{after: releaseAfter, fn: debug.FreeOSMemory}
	defer quiet.stop()
	mux := web.NewServeMux()
	mux.HandleFunc("GET /status", func(w web.ResponseWriter, r *web.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		st := d.Status(r.Context())
		st.Control = sl.ctl.Load().on
		_ = writeStatus(w, st)
		if len(st.Forwards) >= bigStatus {
			quiet.touch()
		}
	})
	mux.Handle("GET /metrics", d.metrics.handler())
	pageRoutes(mux)
	d.controlRoutes(mux, sl)
	capped := sl.capped
	srv := &web.Server{Handler: capped.working(mux), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: connIdle, MaxHeaderBytes: 16 << 10, ConnState: capped.connState,
		ConnContext: capped.connContext, ErrorLog: d.log}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	d.log.Info("status listener", "address", sl.addr, "control", sl.ctl.Load().on)
	if err := srv.Serve(capped); err != nil && !errors.Is(err, web.ErrServerClosed) {
		return err
	}
	return nil
}

// A status of bigStatus forwards or more (250 KB of JSON) grows the heap by megabytes, which the runtime hands
// back only over minutes while the daemon idles at that peak: releaseAfter after the last such answer, the
// daemon gives it back at once. Longer than the status page's refresh (3 s), so an open page is not a
// collection per refresh. Small answers are left alone: at four forwards the collection cost more pages than
// it returned (measured: +0.2 MB).
const (
	bigStatus    = 1000
	releaseAfter = 5 * time.Second
)

// afterQuiet runs fn once, after after has passed since the last touch. Nothing waits while it is not armed.
type afterQuiet struct {
	after time.Duration
	fn    func()

	mu lock.Mutex
	t  *time.Timer
}

func (q *afterQuiet) touch() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.t == nil {
		q.t = time.AfterFunc(q.after, q.fn)
		return
	}
	q.t.Reset(q.after)
}

func (q *afterQuiet) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.t != nil {
		q.t.Stop()
	}
}

// bearer reports whether r carries token as its bearer token, in constant time. An empty token matches nothing.
func bearer(r *web.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// capConns holds at most n connections open, and never makes Accept wait (see MaxConns).
func capConns(l net.Listener, n int) *cappedListener {
	return &cappedListener{Listener: l, max: n, conns: map[*cappedConn]*connSlot{}, freed: make(chan struct{}, 1)}
}

type cappedListener struct {
	net.Listener
	max   int
	mu    lock.Mutex
	conns map[*cappedConn]*connSlot
	freed chan struct{} // a connection closed or stopped working
}

// connSlot is what eviction looks at: since when the connection waits (accepted, or idle since its last
// answer), and whether a handler is working for it.
type connSlot struct {
	since time.Time
	busy  bool
}

type connKey struct{}

// Accept takes the next connection once there is room: at the cap it first closes the oldest connection doing
// no work for evictAfter (not inside a handler, and no request bytes waiting unread: idle, or stalled halfway
// through its request), and only when there is none does it wait, leaving new clients in the kernel's accept queue. A
// connection whose request has arrived but not yet been read is never closed: a burst of real clients all get
// answers.
func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		var victim *cappedConn
		if len(l.conns) >= l.max {
			now := time.Now()
			for k, s := range l.conns {
				if !s.busy && now.Sub(s.since) >= evictAfter && (victim == nil || s.since.Before(l.conns[victim].since)) && !pending(k.Conn) {
					victim = k
				}
			}
			if victim == nil {
				l.mu.Unlock()
				// A connection can become idle without a signal (its request read, stalled): look again soon.
				select {
				case <-l.freed:
				case <-time.After(evictAfter / 2):
				}
				continue
			}
			delete(l.conns, victim)
		}
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close()
		}
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc := &cappedConn{Conn: c, l: l}
		l.mu.Lock()
		l.conns[cc] = &connSlot{since: time.Now()}
		l.mu.Unlock()
		return cc, nil
	}
}

// pending reports whether bytes wait unread in c's socket (SIOCINQ): a request that has come but that its
// goroutine has not read yet.
func pending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

// wake tells a waiting Accept that a slot may be free; l.mu is held.
func (l *cappedListener) wake() {
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// connState is the web.Server's ConnState hook: a connection waits again from the moment it goes idle.
func (l *cappedListener) connState(c net.Conn, s web.ConnState) {
	cc, ok := c.(*cappedConn)
	if !ok || s != web.StateIdle {
		return
	}
	l.mu.Lock()
	if slot := l.conns[cc]; slot != nil {
		slot.since = time.Now()
	}
	l.mu.Unlock()
}

func (l *cappedListener) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// working marks a connection busy while a handler runs for it: only those count against the cap on work.
func (l *cappedListener) working(h web.Handler) web.Handler {
	return web.HandlerFunc(func(w web.ResponseWriter, r *web.Request) {
		cc, _ := r.Context().Value(connKey{}).(*cappedConn)
		l.setBusy(cc, true)
		defer l.setBusy(cc, false)
		h.ServeHTTP(w, r)
	})
}

func (l *cappedListener) setBusy(cc *cappedConn, busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slot := l.conns[cc]; slot != nil {
		slot.busy = busy
		slot.since = time.Now()
		if !busy {
			l.wake()
		}
	}
}

type cappedConn struct {
	net.Conn
	l *cappedListener
}

func (c *cappedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.wake()
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func listen(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "/") {
		// Exactly what is configured: "tcp" on 0.0.0.0 would also take [::] (a dual-stack socket).
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, err
		}
		network := "tcp6"
		if ap.Addr().Unmap().Is4() {
			network, ap = "tcp4", netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		return net.Listen(network, ap.String())
	}
	if err := os.MkdirAll(filepath.Dir(addr), 0o755); err != nil {
		return nil, err
	}
	// A stale socket from a daemon that died is in the way; a live one answers, and then we refuse. Anything
	// that is not a socket is someone's file: never removed.
	if fi, err := os.Lstat(addr); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, errfmt.Errorf("%s exists and is not a socket; refusing to replace it (choose another path or move the file)", addr)
		}
		if c, err := net.DialTimeout("unix", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, errors.New("another hairpin daemon is already listening there")
		}
		if err := os.Remove(addr); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(addr, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
