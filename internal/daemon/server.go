package daemon

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/secret"
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
		return nil, fmt.Errorf("status listener %s: %w", addr, err)
	}
	return l, nil
}

// Limits of the status listener: a flood of clients or idle connections must not cost the loop anything.
const (
	// MaxConns caps open connections; more wait in the kernel's accept queue.
	MaxConns = 32
)

// connIdle closes keep-alive connections that send nothing more (tests shorten it).
var connIdle = 10 * time.Second

// ServeListener answers status requests on l until ctx ends. The listener is read-only (GET /status and
// GET /metrics, both from the daemon's memory) unless daemon.control is set: then POST /reload is accepted,
// over a unix socket from anyone its mode (0660) lets in, over TCP only with the bearer token of
// daemon.control_token_file.
func (d *Daemon) ServeListener(ctx context.Context, l net.Listener) error {
	addr := l.Addr().String()
	unix := l.Addr().Network() == "unix"
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	control, token := cfg.Daemon.Control, ""
	if control && !unix {
		var err error
		if cfg.Daemon.ControlTokenFile == "" {
			err = errors.New("daemon.control over TCP needs daemon.control_token_file")
		} else {
			token, err = secret.Read(cfg.Daemon.ControlTokenFile, secret.Options{ConfigDir: filepath.Dir(cfg.File), Owners: cfg.SecretOwners,
				Warn: func(msg string, args ...any) { d.log.Warn("status listener: "+msg, args...) }})
		}
		if err != nil {
			d.event(slog.LevelError, "status listener stays read-only", "error", err)
			control = false
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d.Status(r.Context()))
	})
	mux.Handle("GET /metrics", d.metrics.handler())
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if !control {
			http.Error(w, "the status listener is read-only: reload with SIGHUP (systemctl reload hairpin), or set daemon.control", http.StatusForbidden)
			return
		}
		if token != "" && !bearer(r, token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "send the token of daemon.control_token_file as Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		if err := d.Reload(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = io.WriteString(w, "reloaded\n")
	})
	capped := capConns(l, MaxConns)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: connIdle, MaxHeaderBytes: 16 << 10, ConnState: capped.connState,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	d.log.Info("status listener", "address", addr, "control", control)
	if err := srv.Serve(capped); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bearer reports whether r carries token as its bearer token, in constant time.
func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// capConns lets at most n connections be open at once. At the cap, a new connection closes an idle
// keep-alive one (clients reconnect when they need to) or else waits for one to close.
func capConns(l net.Listener, n int) *cappedListener {
	return &cappedListener{Listener: l, slots: make(chan struct{}, n), idle: map[net.Conn]bool{}}
}

type cappedListener struct {
	net.Listener
	slots chan struct{}
	mu    sync.Mutex
	idle  map[net.Conn]bool
}

func (l *cappedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.closeIdle()
		l.slots <- struct{}{}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &cappedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// connState is the http.Server's ConnState hook: it tracks which connections wait idle between requests.
func (l *cappedListener) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = true
	} else {
		delete(l.idle, c)
	}
}

func (l *cappedListener) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.idle {
		delete(l.idle, c)
		c.Close()
		return
	}
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
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
			return nil, fmt.Errorf("%s exists and is not a socket; refusing to replace it (choose another path or move the file)", addr)
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
