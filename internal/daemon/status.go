package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Status is what `hairpin status` shows. It never holds a secret: DDNS status comes from the engine's own
// redacted view.
type Status struct {
	Version       string          `json:"version"`
	Config        string          `json:"config"`
	Backend       string          `json:"backend"`
	Started       time.Time       `json:"started"`
	WANInterface  string          `json:"wan_interface"`
	WANExists     bool            `json:"wan_exists"`
	WANAddrs      []string        `json:"wan_addresses"`
	LANInterface  string          `json:"lan_interface"`
	LANNets       []string        `json:"lan_subnets"`
	Public        string          `json:"public_address,omitempty"`
	PublicFrom    string          `json:"public_address_source,omitempty"`
	PublicError   string          `json:"public_address_error,omitempty"`
	DoubleNAT     bool            `json:"double_nat"`
	DoubleNATMode string          `json:"double_nat_mode"`
	ForwardSet    []string        `json:"forwarding_addresses"`
	Installed     bool            `json:"rules_installed"`
	LastApply     time.Time       `json:"last_apply,omitempty"`
	LastApplyTook string          `json:"last_apply_took,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	Forwards      []ForwardStatus `json:"forwards"`
	DDNS          any             `json:"ddns,omitempty"`
	Events        []Event         `json:"events"`
}

// ForwardStatus is one forward with its traffic.
type ForwardStatus struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     string `json:"port"`
	To       string `json:"to"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
}

// Version is reported in status; set by the command.
var Version = "dev"

// Status collects the current state, counters included.
func (d *Daemon) Status(ctx context.Context) Status {
	counters, cerr := d.deps.Backend.Counters(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Version: Version, Config: d.cfg.File, Backend: d.cfg.Backend, Started: d.started,
		WANInterface: d.cfg.WAN.Interface, WANExists: d.obs.WANExists, LANInterface: d.cfg.LAN.Interface,
		PublicFrom: d.publicFrom, PublicError: d.publicErr,
		DoubleNAT: plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs), DoubleNATMode: string(d.cfg.WAN.DoubleNAT),
		Installed: d.installed != nil, LastApply: d.lastApply, LastError: d.lastErr,
		Events: append([]Event(nil), d.events...),
	}
	if d.lastApplyIn > 0 {
		s.LastApplyTook = d.lastApplyIn.Round(time.Microsecond).String()
	}
	if d.public.IsValid() {
		s.Public = d.public.String()
	} else if d.obs.Public.IsValid() {
		s.Public = d.obs.Public.String()
	}
	for _, a := range d.obs.WANAddrs {
		s.WANAddrs = append(s.WANAddrs, a.String())
	}
	for _, n := range d.obs.LANNets {
		s.LANNets = append(s.LANNets, n.String())
	}
	if d.installed != nil {
		for _, a := range d.installed.WANAddrs {
			s.ForwardSet = append(s.ForwardSet, a.String())
		}
		for _, n := range d.installed.LANNets {
			s.LANNets = appendMissing(s.LANNets, n.String())
		}
	}
	if cerr != nil && s.LastError == "" {
		s.LastError = "reading counters: " + cerr.Error()
	}
	for _, f := range d.cfg.Forwards {
		c := counters[f.Name]
		s.Forwards = append(s.Forwards, ForwardStatus{Name: f.Name, Protocol: string(f.Protocol), Port: f.Port.String(),
			To: fmt.Sprintf("%s:%s", f.To, f.ToPort), Packets: c.Packets, Bytes: c.Bytes})
	}
	if d.ddns != nil {
		s.DDNS = d.ddns.Status()
	}
	return s
}

func appendMissing(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

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
	// A stale socket from a daemon that died is in the way; a live one answers, and then we refuse.
	if c, err := net.DialTimeout("unix", addr, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, errors.New("another hairpin daemon is already listening there")
	}
	_ = os.Remove(addr)
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

// Fetch asks a running daemon for its status.
func Fetch(ctx context.Context, addr string) (*Status, error) {
	client, url := clientFor(addr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no hairpin daemon answers at %s (is `hairpin run` running?): %w", addr, err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("reading status: %w", err)
	}
	return &s, nil
}

func clientFor(addr string) (*http.Client, string) {
	if !strings.HasPrefix(addr, "/") {
		return &http.Client{Timeout: 10 * time.Second}, "http://" + addr
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", addr)
	}}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}, "http://hairpin"
}

// LogHandler builds the daemon's slog handler: text by default, JSON on request.
func LogHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
