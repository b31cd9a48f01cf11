package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
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

// ServeListener answers status requests on l until ctx ends.
func (d *Daemon) ServeListener(ctx context.Context, l net.Listener) error {
	addr := l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d.Status(r.Context()))
	})
	mux.Handle("GET /metrics", d.metrics.handler())
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Reload(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = io.WriteString(w, "reloaded\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	d.log.Info("status listener", "address", addr)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func listen(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "/") {
		return net.Listen("tcp", addr)
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
