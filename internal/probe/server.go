package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/web"
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

	mu    lock.Mutex
	nonce generations[string] // nonces of the last 2*MaxSkew or more: a replayed request is refused
	rate  generations[netip.Addr]
}

// MaxClients caps the callers the rate limit follows per minute: past it, callers it does not know yet are
// refused until the minute turns. A probe server answers a handful of routers; thousands of callers in a
// minute are a flood, and remembering them all is what made the limit itself slow and large.
const MaxClients = 16 << 10

// generations counts keys per fixed window in two maps, the current window's and the previous one's, so
// forgetting is swapping maps once a window, never a scan: every request costs O(1), and memory is at most two
// windows' keys (each capped by the caller).
type generations[K comparable] struct {
	start     time.Time
	cur, prev map[K]int
}

// turn moves to the window of now when the current one has passed.
func (g *generations[K]) turn(now time.Time, window time.Duration) {
	switch age := now.Sub(g.start); {
	case g.cur == nil || age >= 2*window || age < 0:
		g.prev, g.cur, g.start = nil, map[K]int{}, now
	case age >= window:
		g.prev, g.cur, g.start = g.cur, map[K]int{}, g.start.Add(window)
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ServeHTTP handles POST / (any path): verify, rate-limit, connect back, answer signed.
func (s *Server) ServeHTTP(w web.ResponseWriter, r *web.Request) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.Method != web.MethodPost {
		web.Error(w, "POST a signed probe request", web.StatusMethodNotAllowed)
		return
	}
	// The address the request came from is the only one ever connected to. A proxy's X-Forwarded-For is not
	// believed: it would let anyone name a target.
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		web.Error(w, "unknown caller", web.StatusBadRequest)
		return
	}
	caller := peer.Addr().Unmap()
	if ok, why := s.allow(caller); !ok {
		msg := "too many probe requests from this address; wait a minute"
		if why == "busy" {
			msg = "the probe server is answering too many callers this minute; try again in a minute"
		}
		log.Debug("probe: refused", "client", caller, "why", why) // a flood must not flood the log too
		web.Error(w, msg, web.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(web.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		web.Error(w, "request too large", web.StatusRequestEntityTooLarge)
		return
	}
	if !Verify(s.Secret, body, r.Header.Get(HeaderSig)) {
		log.Warn("probe: bad signature", "client", caller)
		web.Error(w, "bad signature: the request is not signed with this server's secret", web.StatusUnauthorized)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		web.Error(w, "bad request: "+err.Error(), web.StatusBadRequest)
		return
	}
	if err := s.check(req, caller); err != nil {
		log.Warn("probe: refused", "client", caller, "why", err)
		web.Error(w, err.Error(), web.StatusForbidden)
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
	want, err := netip.ParseAddr(req.Address)
	switch {
	case err != nil:
		return errors.New("the request must name the address to test (the caller's public address); update hairpin on the router")
	case want.Unmap() != caller:
		return errfmt.Errorf("the probe server connects only back to the address the request comes from: it came from %s, not %s", caller, want)
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
	// A request is accepted only within MaxSkew of its time, so a nonce needs remembering for 2*MaxSkew: a
	// window of that length keeps it between one and two windows.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonce.turn(s.now(), 2*MaxSkew)
	_, dup := s.nonce.cur[req.Nonce]
	_, dupPrev := s.nonce.prev[req.Nonce]
	switch {
	case len(req.Nonce) < 16 || len(req.Nonce) > 64:
		return errors.New("the request's nonce must be 16 to 64 characters")
	case dup || dupPrev:
		return errors.New("replayed request")
	}
	s.nonce.cur[req.Nonce] = 1
	return nil
}

// allow limits each client to PerMinute requests per minute: the count of this minute plus the last minute's
// weighted by how much of it still lies within 60 seconds (a sliding window, approximated in O(1)). IPv6
// callers count per /64, which one host can fill with addresses. It reports why it refused: "rate" or "busy"
// (MaxClients reached).
func (s *Server) allow(c netip.Addr) (ok bool, why string) {
	limit := s.PerMinute
	if limit <= 0 {
		limit = 6
	}
	if c.Is6() {
		c = netip.PrefixFrom(c, 64).Masked().Addr()
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.rate
	g.turn(now, time.Minute)
	n, known := g.cur[c]
	left := 1 - float64(now.Sub(g.start))/float64(time.Minute)
	if float64(n)+float64(g.prev[c])*left >= float64(limit) {
		return false, "rate"
	}
	if !known && len(g.cur) >= MaxClients {
		return false, "busy"
	}
	g.cur[c] = n + 1
	return true, ""
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
