package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Server is `hairpin probe-server`.
type Server struct {
	Secret []byte
	// Timeout bounds one connection attempt (default 3s).
	Timeout time.Duration
	// PerMinute caps requests per client address (default 6); MaxPorts caps ports per request.
	PerMinute int
	MaxPorts  int
	Logger    *slog.Logger
	// Dial opens the connection back (tests); nil uses net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time

	mu     sync.Mutex
	seen   map[string]time.Time       // nonces inside the skew window: a replayed request is refused
	counts map[netip.Addr][]time.Time // request times per client in the last minute
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ServeHTTP handles POST / (any path): verify, rate-limit, connect back, answer signed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a signed probe request", http.StatusMethodNotAllowed)
		return
	}
	// The address the request came from is the only one ever connected to. A proxy's X-Forwarded-For is not
	// believed: it would let anyone name a target.
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		http.Error(w, "unknown caller", http.StatusBadRequest)
		return
	}
	caller := peer.Addr().Unmap()
	if !s.allow(caller) {
		log.Warn("probe: rate limit", "client", caller)
		http.Error(w, "too many probe requests from this address; wait a minute", http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !Verify(s.Secret, body, r.Header.Get(HeaderSig)) {
		log.Warn("probe: bad signature", "client", caller)
		http.Error(w, "bad signature: the request is not signed with this server's secret", http.StatusUnauthorized)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.check(req, caller); err != nil {
		log.Warn("probe: refused", "client", caller, "why", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	ans := Answer{Address: caller.String(), Nonce: req.Nonce, Results: s.connectBack(r.Context(), caller, req.Ports)}
	out, _ := json.Marshal(ans)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderSig, Sign(s.Secret, out))
	_, _ = w.Write(out)
	log.Info("probe: answered", "client", caller, "ports", len(req.Ports))
}

func (s *Server) check(req Request, caller netip.Addr) error {
	maxPorts := s.MaxPorts
	if maxPorts <= 0 || maxPorts > MaxPorts {
		maxPorts = MaxPorts
	}
	switch {
	case req.Address != "" && req.Address != caller.String():
		return errors.New("the probe server connects only back to the address the request comes from")
	case len(req.Ports) == 0:
		return errors.New("no ports to probe")
	case len(req.Ports) > maxPorts:
		return errors.New("too many ports in one request")
	}
	for _, p := range req.Ports {
		if p.Protocol != "tcp" || p.Port == 0 {
			return errors.New("only TCP ports 1-65535 are probed")
		}
	}
	t := time.Unix(req.Time, 0)
	if d := s.now().Sub(t); d > MaxSkew || d < -MaxSkew {
		return errors.New("the request's time is more than 2 minutes off (check both clocks)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	for n, at := range s.seen {
		if s.now().Sub(at) > 2*MaxSkew {
			delete(s.seen, n)
		}
	}
	if _, dup := s.seen[req.Nonce]; dup || len(req.Nonce) < 16 {
		return errors.New("replayed request")
	}
	s.seen[req.Nonce] = s.now()
	return nil
}

// allow is a sliding-window limit of PerMinute requests per client per minute.
func (s *Server) allow(c netip.Addr) bool {
	limit := s.PerMinute
	if limit <= 0 {
		limit = 6
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[netip.Addr][]time.Time{}
	}
	now := s.now()
	var keep []time.Time
	for _, t := range s.counts[c] {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	if len(keep) >= limit {
		s.counts[c] = keep
		return false
	}
	s.counts[c] = append(keep, now)
	if len(s.counts) > 10000 { // bounded memory whatever the callers
		for a, ts := range s.counts {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= time.Minute {
				delete(s.counts, a)
			}
		}
	}
	return true
}

func (s *Server) connectBack(ctx context.Context, caller netip.Addr, ports []Port) []PortResult {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	dial := s.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	out := make([]PortResult, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Go(func() {
			start := time.Now()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			conn, err := dial(cctx, "tcp", netip.AddrPortFrom(caller, p.Port).String())
			res := PortResult{Port: p, TookMS: time.Since(start).Milliseconds()}
			switch {
			case err == nil:
				conn.Close()
				res.Result = ResultOpen
			case errors.Is(err, syscall.ECONNREFUSED):
				res.Result = ResultRefused
			case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
				res.Result = ResultTimeout
			default:
				res.Result, res.Error = ResultError, err.Error()
			}
			out[i] = res
		})
	}
	wg.Wait()
	return out
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
