// Package allowdns keeps the addresses of the hostnames in allow lists: each name is resolved at start and again
// when its TTL runs out (bounded, so a TTL of 0 cannot hammer the resolver and a TTL of a week cannot leave a
// moved address allowed for days). A name that stops resolving keeps its last addresses for a grace period,
// and says so, so that a DNS outage does not lock the owner out of their camera.
package allowdns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/dnswire"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
)

// Bounds and defaults.
const (
	MinTTL       = 2 * time.Second
	MaxTTL       = time.Hour
	DefaultGrace = time.Hour
	// retry is the first wait after a failed lookup; it doubles up to maxRetry.
	retry    = 5 * time.Second
	maxRetry = 5 * time.Minute
	// lookupTimeout bounds one lookup, all servers included.
	lookupTimeout = 5 * time.Second
	// MaxAddrs bounds the addresses kept for one name: a name answering with a thousand addresses that change
	// at every lookup would otherwise fill the kernel set, the status and the log.
	MaxAddrs = 32
	// LookupRate bounds the lookups of all names together, per second, after a first burst of LookupBurst
	// (the first lookups of every name at start: config allows at most 1,000 names). Names due more often
	// than that wait their turn, so a config of many names with short TTLs cannot flood its resolver.
	LookupRate  = 50
	LookupBurst = 1000
	// maxCNAMEs bounds the chain of aliases followed within one answer.
	maxCNAMEs = 8
)

// LookupFunc returns a name's IPv4 addresses and how long they may be cached.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error)

// HostStatus is one name as `hairpin status` shows it.
type HostStatus struct {
	Host     string    `json:"host"`
	Addrs    []string  `json:"addresses"`
	TTL      string    `json:"ttl,omitempty"`
	Resolved time.Time `json:"resolved,omitempty"`
	Next     time.Time `json:"next_lookup"`
	Error    string    `json:"error,omitempty"`
	// Dropped counts the addresses of the last answer beyond MaxAddrs, which are not allowed.
	Dropped   int       `json:"addresses_dropped,omitempty"`
	KeepUntil time.Time `json:"keeping_last_addresses_until,omitempty"`
}

type host struct {
	addrs   []netip.Addr
	ttl     time.Duration
	lastOK  time.Time
	next    time.Time
	err     string
	failing time.Duration // current retry wait
	dropped int           // addresses of the last answer beyond MaxAddrs
	stop    context.CancelFunc
}

// Resolver follows a set of names. Changed signals (without blocking) when any name's addresses changed.
type Resolver struct {
	lookup  LookupFunc
	grace   time.Duration
	onEvent func(msg string, attrs ...any)

	limit limiter

	mu      lock.Mutex
	hosts   map[string]*host
	changed chan struct{}
	ctx     context.Context
}

// limiter spaces lookups at most LookupRate a second, with a burst of LookupBurst: each lookup takes the next
// slot, and slots further back than the burst are forgotten.
type limiter struct {
	mu    lock.Mutex
	next  time.Time
	burst int // LookupBurst when 0; tests lower it to exhaust the burst with fewer names
}

func (l *limiter) wait(ctx context.Context) error {
	const every = time.Second / LookupRate
	burst := l.burst
	if burst == 0 {
		burst = LookupBurst
	}
	l.mu.Lock()
	now := time.Now()
	if floor := now.Add(-time.Duration(burst) * every); l.next.Before(floor) {
		l.next = floor
	}
	slot := l.next
	l.next = l.next.Add(every)
	l.mu.Unlock()
	wait := slot.Sub(now)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// New returns a resolver; Start begins the lookups. onEvent, when not nil, hears of failures and expiries.
func New(lookup LookupFunc, grace time.Duration, onEvent func(msg string, attrs ...any)) *Resolver {
	if grace <= 0 {
		grace = DefaultGrace
	}
	if onEvent == nil {
		onEvent = func(string, ...any) {}
	}
	return &Resolver{lookup: lookup, grace: grace, onEvent: onEvent, hosts: map[string]*host{}, changed: make(chan struct{}, 1)}
}

// Changed receives a value after one or more names changed their addresses.
func (r *Resolver) Changed() <-chan struct{} { return r.changed }

// Start resolves every name once, all in parallel, waiting at most for one lookup's timeout, then keeps them
// fresh until ctx ends.
func (r *Resolver) Start(ctx context.Context, hosts []string) {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	r.SetHosts(hosts)
}

// SetHosts changes the names followed (on a config reload); names kept keep their addresses.
func (r *Resolver) SetHosts(hosts []string) {
	r.mu.Lock()
	ctx := r.ctx
	want := map[string]bool{}
	for _, h := range hosts {
		want[h] = true
	}
	for name, h := range r.hosts {
		if !want[name] {
			h.stop()
			delete(r.hosts, name)
		}
	}
	added := map[string]context.Context{}
	for _, name := range hosts {
		if _, ok := r.hosts[name]; !ok {
			hctx, cancel := context.WithCancel(ctx)
			r.hosts[name] = &host{stop: cancel}
			added[name] = hctx
		}
	}
	r.mu.Unlock()
	// The first lookups run here, in parallel, so that the first apply has the addresses.
	var wg sync.WaitGroup
	for name, hctx := range added {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.resolve(hctx, name)
		}()
	}
	wg.Wait()
	for name, hctx := range added {
		go r.follow(hctx, name)
	}
}

// follow re-resolves one name whenever its time comes, until ctx ends.
func (r *Resolver) follow(ctx context.Context, name string) {
	for {
		r.mu.Lock()
		h, ok := r.hosts[name]
		var wait time.Duration
		if ok {
			wait = time.Until(h.next)
		}
		r.mu.Unlock()
		if !ok {
			return
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.resolve(ctx, name)
	}
}

func (r *Resolver) resolve(ctx context.Context, name string) {
	if r.limit.wait(ctx) != nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	addrs, ttl, err := r.lookup(lctx, name)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	h, ok := r.hosts[name]
	if !ok {
		r.mu.Unlock()
		return
	}
	var v4 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		}
	}
	sort.Slice(v4, func(i, j int) bool { return v4[i].Less(v4[j]) })
	v4 = slices.Compact(v4)
	if err == nil && len(v4) == 0 {
		err = errors.New("no IPv4 address")
	}
	old := h.addrs
	var event func()
	if err == nil {
		// The lowest addresses, so that an answer of the same set in another order keeps the same ones.
		dropped := max(len(v4)-MaxAddrs, 0)
		v4 = slices.Clip(v4[:len(v4)-dropped])
		if dropped > 0 && h.dropped == 0 {
			event = func() {
				r.onEvent("allowed hostname has more addresses than hairpin allows for one name; the lowest are allowed", "host", name,
					"addresses", len(v4)+dropped, "allowed", MaxAddrs)
			}
		}
		h.ttl = min(max(ttl, MinTTL), MaxTTL)
		h.addrs, h.lastOK, h.err, h.failing, h.dropped = v4, now, "", 0, dropped
		h.next = now.Add(h.ttl)
	} else {
		h.err = err.Error()
		h.failing = min(max(2*h.failing, retry), maxRetry)
		h.next = now.Add(h.failing)
		switch {
		case len(h.addrs) == 0:
			event = func() { r.onEvent("allowed hostname does not resolve", "host", name, "error", err) }
		case now.Sub(h.lastOK) >= r.grace:
			h.addrs = nil
			event = func() {
				r.onEvent("allowed hostname stopped resolving; its grace period is over and its addresses are no longer allowed", "host", name, "error", err)
			}
		default:
			until := h.lastOK.Add(r.grace)
			h.next = minTime(h.next, until)
			event = func() {
				r.onEvent("allowed hostname does not resolve; keeping its last addresses", "host", name, "addresses", fmt.Sprint(old), "until", until.Format(time.RFC3339), "error", err)
			}
		}
	}
	changed := !slices.Equal(old, h.addrs)
	r.mu.Unlock()
	if event != nil {
		event()
	}
	if changed {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Addrs returns the current addresses of every name.
func (r *Resolver) Addrs() map[string][]netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]netip.Addr, len(r.hosts))
	for name, h := range r.hosts {
		if len(h.addrs) > 0 {
			out[name] = slices.Clone(h.addrs)
		}
	}
	return out
}

// Status lists every name, sorted.
func (r *Resolver) Status() []HostStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]HostStatus, 0, len(r.hosts))
	for name, h := range r.hosts {
		s := HostStatus{Host: name, Resolved: h.lastOK, Next: h.next, Error: h.err, Dropped: h.dropped, Addrs: []string{}}
		for _, a := range h.addrs {
			s.Addrs = append(s.Addrs, a.String())
		}
		if h.ttl > 0 {
			s.TTL = h.ttl.String()
		}
		if h.err != "" && len(h.addrs) > 0 {
			s.KeepUntil = h.lastOK.Add(r.grace)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// DNSLookup asks the given servers (host:port) for a name's A records, recursively, and returns them with the
// smallest TTL on the way (CNAMEs included). Servers are tried in order until one answers. Only records that
// belong to the name count: its own A records, or those of the name its CNAME chain in the answer leads to;
// records for other names in the answer (a resolver's or a forger's additions) are ignored.
func DNSLookup(servers []string) LookupFunc {
	return func(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
		if len(servers) == 0 {
			return nil, 0, errors.New("no DNS server configured (daemon.resolver or /etc/resolv.conf)")
		}
		fqdn := dnswire.Fqdn(name)
		id, query, err := dnswire.Query(fqdn, dnswire.TypeA, true)
		if err != nil {
			return nil, 0, err
		}
		var lastErr error
		for _, s := range servers {
			in, err := exchange(ctx, "udp", s, id, fqdn, query)
			if err == nil && in.Truncated {
				in, err = exchange(ctx, "tcp", s, id, fqdn, query)
			}
			if err != nil {
				lastErr = errfmt.Errorf("%s: %w", s, err)
				continue
			}
			switch in.Rcode {
			case dnswire.RcodeSuccess:
			case dnswire.RcodeNameError:
				return nil, 0, errfmt.Errorf("%s does not exist (NXDOMAIN from %s)", name, s)
			default:
				lastErr = errfmt.Errorf("%s answered %s", s, dnswire.RcodeName(in.Rcode))
				continue
			}
			addrs, ttl, err := answerFor(in.Answer, fqdn)
			if err != nil {
				return nil, 0, errfmt.Errorf("%s (asked %s)", err, s)
			}
			return addrs, ttl, nil
		}
		return nil, 0, lastErr
	}
}

// exchangeTimeout bounds one question to one server, connecting included.
const exchangeTimeout = 2 * time.Second

// maxUDPAnswer is more than an answer without EDNS may be (512 bytes); a longer one comes truncated, over TCP.
const maxUDPAnswer = 1500

// exchange sends query (id, for name) to server over network (udp or tcp) and reads the answer. Over UDP a
// datagram that is not the answer (unreadable, another ID, another question: stale, or forged by someone who
// cannot see the query) is ignored and the wait goes on.
func exchange(ctx context.Context, network, server string, id uint16, name string, query []byte) (*dnswire.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if network == "tcp" {
		if err := dnswire.WriteStream(conn, query); err != nil {
			return nil, err
		}
		b, err := dnswire.ReadStream(conn)
		if err != nil {
			return nil, err
		}
		m, err := dnswire.Parse(b)
		if err != nil {
			return nil, errfmt.Errorf("unreadable answer: %w", err)
		}
		if m.ID != id {
			return nil, errors.New("answer to another query")
		}
		return m, nil
	}
	if _, err := conn.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, maxUDPAnswer)
	var ignored error
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ignored != nil {
				err = errfmt.Errorf("%w (after ignoring a datagram: %v)", err, ignored)
			}
			return nil, err
		}
		m, err := dnswire.Parse(buf[:n])
		switch {
		case err != nil:
			ignored = errfmt.Errorf("unreadable answer: %w", err)
		case !m.Response || m.ID != id || len(m.Question) > 1 || len(m.Question) == 1 && !dnswire.EqualNames(m.Question[0].Name, name):
			ignored = errors.New("an answer to another query")
		default:
			return m, nil
		}
	}
}

// answerFor picks out of an answer section the A records of name, following its CNAME chain within the
// answer, with the smallest TTL of the records used.
func answerFor(answer []dnswire.RR, name string) ([]netip.Addr, time.Duration, error) {
	owner := name
	ttl := MaxTTL
	for hops := 0; ; hops++ {
		var next string
		for _, rr := range answer {
			if rr.Type == dnswire.TypeCNAME && dnswire.EqualNames(rr.Name, owner) {
				next = dnswire.Fqdn(rr.Target) // a CNAME without data leads to the root
				ttl = min(ttl, time.Duration(rr.TTL)*time.Second)
				break
			}
		}
		if next == "" {
			break
		}
		if hops == maxCNAMEs {
			return nil, 0, errfmt.Errorf("%s: a chain of more than %d CNAMEs", strings.TrimSuffix(name, "."), maxCNAMEs)
		}
		owner = next
	}
	var addrs []netip.Addr
	for _, rr := range answer {
		if rr.Type == dnswire.TypeA && rr.Addr.IsValid() && dnswire.EqualNames(rr.Name, owner) {
			addrs = append(addrs, rr.Addr)
			ttl = min(ttl, time.Duration(rr.TTL)*time.Second)
		}
	}
	if len(addrs) == 0 {
		return nil, 0, errfmt.Errorf("%s has no A record", strings.TrimSuffix(name, "."))
	}
	return addrs, ttl, nil
}

// SystemServers reads the name servers of /etc/resolv.conf as host:port.
func SystemServers() []string {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	defer f.Close()
	return resolvConfServers(f)
}

// resolvConfServers reads the nameserver lines of a resolv.conf, port 53 each. Reading stops at a line longer
// than 64 KiB.
func resolvConfServers(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "nameserver" {
			out = append(out, net.JoinHostPort(f[1], "53"))
		}
	}
	return out
}

// LookupOnce resolves hosts once, each within 5 s, for a one-shot apply (the daemon follows their TTLs with a
// Resolver). servers empty means the system's. A name that does not resolve is left out, so it allows nobody,
// and its error is returned under its name.
func LookupOnce(ctx context.Context, servers, hosts []string) (map[string][]netip.Addr, map[string]error) {
	if len(servers) == 0 {
		servers = SystemServers()
	}
	lookup := DNSLookup(servers)
	out, failed := map[string][]netip.Addr{}, map[string]error{}
	for _, h := range hosts {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, _, err := lookup(c, h)
		cancel()
		if err != nil {
			failed[h] = err
			continue
		}
		out[h] = addrs
	}
	return out, failed
}
