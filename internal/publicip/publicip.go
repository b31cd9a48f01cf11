// Package publicip learns the router's public IPv4 address from outside services (HTTP, STUN, DNS), for a router
// behind another NAT: the address the internet sees, which no interface of the router holds.
package publicip

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/dnswire"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/publicip/source"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// DefaultSources returns well-known public services that tell a client its address, for users who do not
// want to pick their own. They are tried in this order. A new slice each time: no caller can change another's.
func DefaultSources() []string {
	return []string{
		"https://api.ipify.org",
		"https://ipv4.icanhazip.com",
		"https://checkip.amazonaws.com",
		"stun:stun.cloudflare.com:3478",
		"dns:resolver1.opendns.com",
	}
}

// DefaultDNSName is the name whose A record an OpenDNS-style resolver answers with the asker's address.
const DefaultDNSName = source.DefaultDNSName

// Options tune a Discoverer. The zero value is what a daemon wants.
type Options struct {
	// Timeout bounds each source's query. Default 3s.
	Timeout time.Duration
	// MinInterval is the shortest time between two real rounds of queries; calls in between get the last
	// answer (or error) again, so that no service is ever hammered. Default 30s.
	MinInterval time.Duration
	// Stagger is how long one source has before the next one is asked as well; a source that fails starts
	// the next one at once. Default 300ms, so that usually only the first source is asked. Negative asks
	// every source at once.
	Stagger time.Duration
	// Dial opens the UDP and TCP connections (always "udp4"/"tcp4", the public IPv4 address is wanted).
	// Default net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// HTTPClient replaces the client built around Dial (tests with their own TLS roots).
	HTTPClient *web.Client
	// UserAgent is sent to HTTP sources. Default "hairpin (+https://github.com/hairpin-nat/hairpin)".
	UserAgent string
	// Logger receives rejected answers and failed sources. Nil discards.
	Logger *slog.Logger
}

// Discoverer learns the router's public IPv4 address from outside services, for routers behind another NAT.
// It is safe for concurrent use; concurrent calls share one round of queries.
type Discoverer struct {
	sources []source.Source
	opts    Options
	http    *web.Client

	mu     lock.Mutex
	at     time.Time // when the cached answer was asked for; zero before the first round
	addr   netip.Addr
	from   string
	err    error
	forgot bool // Forget was called since the last round
}

// NewDiscoverer checks the sources (http://..., https://..., stun:host[:port], dns:server[:port][/name]; the
// STUN port defaults to 3478, the DNS port to 53, the DNS name to myip.opendns.com).
func NewDiscoverer(sources []string, opts Options) (*Discoverer, error) {
	if len(sources) == 0 {
		return nil, errors.New("no public address sources")
	}
	d := &Discoverer{opts: opts}
	for _, s := range sources {
		src, err := source.Parse(s)
		if err != nil {
			return nil, errfmt.Errorf("public address source %w", err)
		}
		d.sources = append(d.sources, src)
	}
	d.defaults()
	return d, nil
}

func (d *Discoverer) defaults() {
	o := &d.opts
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 30 * time.Second
	}
	if o.Stagger == 0 {
		o.Stagger = 300 * time.Millisecond
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{}).DialContext
	}
	if o.UserAgent == "" {
		o.UserAgent = "hairpin (+https://github.com/hairpin-nat/hairpin)"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d.http = o.HTTPClient
	if d.http == nil {
		dial := o.Dial
		// No proxy (the field unset): through one, the service would see the proxy's address. No redirect is
		// followed: a 3xx is a failed source like any other non-200 answer.
		d.http = &web.Client{
			Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return dial(ctx, "tcp4", addr)
			},
			TLSHandshakeTimeout: o.Timeout,
			UserAgent:           o.UserAgent,
		}
	}
}

// CheckSource validates one public_ip entry: config.Parse (hairpin check) and NewDiscoverer (hairpin run) both
// use package source, so they cannot disagree about what is valid.
func CheckSource(s string) error {
	_, err := source.Parse(s)
	return err
}

// Discover returns the public IPv4 address and the source that told it. Inside MinInterval of the previous
// round it returns that round's result again without asking anyone. The first valid answer wins; when no
// source gives one, the error lists why each failed.
func (d *Discoverer) Discover(ctx context.Context) (netip.Addr, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if !d.at.IsZero() && now.Sub(d.at) < d.interval() {
		return d.addr, d.from, d.err
	}
	addr, from, err := d.round(ctx)
	if err != nil && gaveUp(ctx) {
		// The caller gave up; that says nothing about the sources, so do not cache it.
		return addr, from, err
	}
	d.at, d.addr, d.from, d.err = now, addr, from, err
	d.forgot = false
	return addr, from, err
}

// gaveUp reports whether ctx has ended, or is about to: connections take its deadline as theirs, so a
// source can fail with "i/o timeout" a moment before ctx.Err says so.
func gaveUp(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// minRound is the floor between real rounds even after Forget, so that a flapping link cannot make the
// daemon hammer the services.
const minRound = 2 * time.Second

func (d *Discoverer) interval() time.Duration {
	if d.forgot {
		return min(minRound, d.opts.MinInterval)
	}
	return d.opts.MinInterval
}

// Forget drops the cached answer, so that the next Discover asks again (still at most once per 2s). A
// daemon calls it when the WAN address changed, because the public address has probably changed too.
func (d *Discoverer) Forget() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgot = true
}

// Last returns the cached result and when it was asked for (zero before the first round), for status output.
func (d *Discoverer) Last() (addr netip.Addr, source string, at time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr, d.from, d.at, d.err
}

type answer struct {
	addr netip.Addr
	src  string
	err  error
}

// round asks the sources, staggered, until one gives a valid address.
func (d *Discoverer) round(ctx context.Context) (netip.Addr, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan answer, len(d.sources))
	next, running := 0, 0
	start := func() {
		src := d.sources[next]
		next++
		running++
		go func() {
			addr, err := d.ask(ctx, src)
			answers <- answer{addr, src.Raw, err}
		}()
	}
	start()
	for d.opts.Stagger < 0 && next < len(d.sources) {
		start()
	}
	stagger := time.NewTimer(max(d.opts.Stagger, 0))
	defer stagger.Stop()
	var errs []error
	for running > 0 {
		select {
		case a := <-answers:
			running--
			if a.err == nil {
				return a.addr, a.src, nil
			}
			d.opts.Logger.Warn("public address source failed", "source", a.src, "err", a.err)
			errs = append(errs, errfmt.Errorf("%s: %w", a.src, a.err))
			if next < len(d.sources) {
				start()
				stagger.Reset(d.opts.Stagger)
			}
		case <-stagger.C:
			if next < len(d.sources) {
				start()
				stagger.Reset(d.opts.Stagger)
			}
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
			return netip.Addr{}, "", errfmt.Errorf("public address: %w", errors.Join(errs...))
		}
	}
	return netip.Addr{}, "", errfmt.Errorf("no public address from any source: %w", errors.Join(errs...))
}

// ask queries one source within the per-source timeout.
func (d *Discoverer) ask(ctx context.Context, src source.Source) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	switch src.Kind {
	case "http":
		return d.askHTTP(ctx, src)
	case "stun":
		return d.askUDP(ctx, src, newSTUNQuery())
	default:
		q, err := newDNSQuery(src.Name)
		if err != nil {
			return netip.Addr{}, err
		}
		return d.askUDP(ctx, src, q)
	}
}

// maxBody is more than any address with whitespace; a longer body is not an address.
const maxBody = 256

func (d *Discoverer) askHTTP(ctx context.Context, src source.Source) (netip.Addr, error) {
	req, err := web.NewRequest(ctx, web.MethodGet, src.URL, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	req.Header.Set("User-Agent", d.opts.UserAgent)
	req.Header.Set("Accept", "text/plain")
	resp, err := d.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the message, possibly with a secret
		}
		return netip.Addr{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != web.StatusOK {
		return netip.Addr{}, errfmt.Errorf("HTTP status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return netip.Addr{}, errfmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxBody {
		return netip.Addr{}, errfmt.Errorf("answer longer than %d bytes is not an address", maxBody)
	}
	return parseHTTPBody(body)
}

// parseHTTPBody reads an answer that is just an address, possibly with surrounding whitespace.
func parseHTTPBody(body []byte) (netip.Addr, error) {
	text := strings.TrimSpace(string(body))
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, errfmt.Errorf("answer %q is not an address", truncate(text, 40))
	}
	return checkPublic(a.Unmap())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checkPublic accepts an IPv4 address that can be the router's address on the internet.
func checkPublic(a netip.Addr) (netip.Addr, error) {
	if why := ipclass.NotPublic(a); why != "" {
		return netip.Addr{}, errfmt.Errorf("answer %s is %s, not a public address", a, why)
	}
	return a, nil
}

// udpQuery is one request/response protocol over UDP: STUN or DNS.
type udpQuery interface {
	request() []byte
	// parse returns ok false for a datagram that is not the answer (stray or stale), which is ignored.
	parse(b []byte) (addr netip.Addr, ok bool, err error)
}

// udpRetry is the first retransmission timeout; it doubles (RFC 8489 section 6.2.1 uses 500ms).
const udpRetry = 500 * time.Millisecond

func (d *Discoverer) askUDP(ctx context.Context, src source.Source, q udpQuery) (netip.Addr, error) {
	conn, err := d.opts.Dial(ctx, "udp4", src.Addr)
	if err != nil {
		return netip.Addr{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req := q.request()
	buf := make([]byte, 1500)
	for wait := udpRetry; ; wait *= 2 {
		if _, err := conn.Write(req); err != nil {
			return netip.Addr{}, ctxErr(ctx, err)
		}
		resend := time.Now().Add(wait)
		for {
			conn.SetReadDeadline(resend)
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return netip.Addr{}, ctx.Err()
				}
				if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
					break // resend
				}
				return netip.Addr{}, err
			}
			addr, ok, err := q.parse(buf[:n])
			if ok {
				return addr, err
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

type dnsQuery struct {
	id   uint16
	name string
	msg  []byte
}

// newDNSQuery asks for name's A record, recursion desired. A name source.Parse accepted always packs.
func newDNSQuery(name string) (dnsQuery, error) {
	id, msg, err := dnswire.Query(name, dnswire.TypeA, true)
	if err != nil {
		return dnsQuery{}, errfmt.Errorf("DNS name %s: %w", name, err)
	}
	return dnsQuery{id, name, msg}, nil
}

func (q dnsQuery) request() []byte { return q.msg }

func (q dnsQuery) parse(b []byte) (netip.Addr, bool, error) {
	return parseDNSAnswer(b, q.id, q.name)
}

// parseDNSAnswer reads the answer to query id for name: its first A record for that name.
func parseDNSAnswer(b []byte, id uint16, name string) (netip.Addr, bool, error) {
	m, err := dnswire.Parse(b)
	if err != nil || !m.Response || m.ID != id {
		return netip.Addr{}, false, nil
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, name) {
		return netip.Addr{}, false, nil
	}
	if m.Rcode != dnswire.RcodeSuccess {
		return netip.Addr{}, true, errfmt.Errorf("DNS answer is %s", dnswire.RcodeName(m.Rcode))
	}
	for _, rr := range m.Answer {
		if rr.Type != dnswire.TypeA || !strings.EqualFold(rr.Name, name) {
			continue
		}
		if !rr.Addr.IsValid() {
			return netip.Addr{}, true, errors.New("DNS answer has a malformed A record")
		}
		addr, err := checkPublic(rr.Addr)
		return addr, true, err
	}
	return netip.Addr{}, true, errfmt.Errorf("DNS answer has no A record for %s", name)
}
