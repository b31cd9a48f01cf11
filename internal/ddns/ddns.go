// Package ddns keeps dynamic-DNS hostnames pointed at the router's public address without getting the user
// banned. It sends an update only when the address differs from the last one the provider accepted for that
// hostname, remembered across restarts in the state directory, or when an update that failed or was abandoned
// may have changed the record all the same; it stops for good on answers that say repeating
// will not help (until the entry's config changes), waits as long as a provider asks, and backs off
// exponentially with jitter on network errors.
//
// Providers live in internal/ddns/providers/<name>, one package each, and are listed in
// internal/ddns/providers.
package ddns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

// Clock is time as the engine sees it; tests replace it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Option changes how New builds the engine.
type Option func(*Engine)

// KeepDisabled makes New keep going when an entry cannot run (a secret it cannot read): the other entries
// work, and the failed one stays in Status as disabled with the reason, instead of New failing as a whole.
// The daemon uses it, so that one missing password never turns every hostname off without a trace.
func KeepDisabled() Option { return func(e *Engine) { e.keepDisabled = true } }

// disabledHost is an entry (one family of it) that could not be built.
type disabledHost struct {
	entry  provider.Entry
	v6     bool
	reason string
}

// WithHTTPClient sets the client of HTTP providers (tests pass httptest's, which trusts the test CA).
func WithHTTPClient(c *web.Client) Option { return func(e *Engine) { e.http = c } }

// WithDialer sets how DNS providers (rfc2136) reach their server; tests use it to reach a server inside a
// network namespace of their own.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(e *Engine) { e.dial = dial }
}

// WithClock replaces the wall clock.
func WithClock(c Clock) Option { return func(e *Engine) { e.clock = c } }

// UpdateTimeout bounds one update, whatever the provider does.
const UpdateTimeout = 60 * time.Second

// Engine keeps every configured hostname on the latest public address.
type Engine struct {
	// keepDisabled and disabled: see KeepDisabled.
	keepDisabled bool
	disabled     []disabledHost
	log          *slog.Logger
	clock        Clock
	http         *web.Client
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	userAgent    string
	hosts        []*host
	secrets      []string

	mu   lock.Mutex
	addr netip.Addr
	// addr6 is the IPv6 address AAAA records get (SetAddress6).
	addr6 netip.Addr
	// onResult, when set, hears each update's outcome (OnResult).
	onResult func(Result)
	// withheld, when set, is why the address is not sent (the internet cannot reach it: CGNAT, DS-Lite);
	// hostnames with publish: always send it anyway.
	withheld string
}

type host struct {
	entry provider.Entry
	// v6 marks the host of an entry's AAAA record; an entry of family both has two hosts, each with its own
	// state, backoff and hold.
	v6   bool
	p    provider.Provider
	hash string // of the entry's config and secrets: a change lifts a hold
	file string
	wake chan struct{}

	// send serialises updates of this host (the worker and ForceUpdate), and of its pair, which shares it.
	send *lock.Mutex
	// pair is the other family's host of the same entry when the provider carries both addresses in one
	// request (provider.Paired); nil otherwise.
	pair *host
	mu   lock.Mutex // guards st, abort and sending
	st   state
	// abort cancels the update in flight, which carries the address sending; nil when none is.
	abort   context.CancelCauseFunc
	sending netip.Addr
	// newNetwork says the network changed since h's last update went out (NetworkChanged): a backoff after a
	// network error no longer applies, since the network that failed is gone.
	newNetwork bool
}

// errAddressMoved ends an update whose address is no longer the public one.
var errAddressMoved = errors.New("the public address changed while this update was in flight; the new one goes next")

// abandon cancels h's update in flight unless it carries addr, the new address. Sending the old one is
// pointless now, and it may never end by itself: its connection can be bound to a WAN address the router just
// lost, which waits for the exchange's timeout and then a backoff, tens of seconds before addr goes out.
func (h *host) abandon(addr netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.abort != nil && h.sending != addr {
		h.abort(errAddressMoved)
	}
}

// HostStatus is one hostname as `hairpin status` shows it.
type HostStatus struct {
	Hostname    string    `json:"hostname"`
	Provider    string    `json:"provider"`
	LastAddress string    `json:"last_address,omitempty"`
	LastSent    time.Time `json:"last_sent,omitzero"`
	Answer      string    `json:"answer,omitempty"`
	Held        bool      `json:"held"`
	Reason      string    `json:"reason,omitempty"`
	NextRetry   time.Time `json:"next_retry,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Warning is what the provider's last accepted answer says that the user should know.
	Warning string `json:"warning,omitempty"`
	// Family is "ipv6" for the AAAA record of a hostname, empty for its A record.
	Family string `json:"family,omitempty"`
	// Withheld says why the address is not sent now (see Engine.Withhold).
	Withheld string `json:"withheld,omitempty"`
	// Disabled says why this hostname cannot run at all (a secret the daemon could not read at start, see
	// KeepDisabled); nothing is sent for it until the config or the secret is fixed and the daemon reloaded.
	Disabled string `json:"disabled,omitempty"`
	// History is the addresses the record moved through, newest last (persisted with the state).
	History   []Move `json:"history,omitempty"`
	StateFile string `json:"state_file"`
}

// New builds an engine for entries, reading their secrets now (from files or the environment; a secret file
// readable by group or others draws a warning) and their last-sent state from stateDir/ddns. userAgent is sent
// to HTTP providers, e.g. "hairpin/1.0 github.com/hairpin-nat/hairpin". Every bad entry is reported at once.
func New(entries []provider.Entry, stateDir, userAgent string, logger *slog.Logger, opts ...Option) (*Engine, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: logger, clock: realClock{}, userAgent: userAgent}
	for _, o := range opts {
		o(e)
	}
	if e.http == nil {
		e.http = newHTTPClient()
	}
	dir := filepath.Join(stateDir, "ddns")
	var errs []error
	for i, ent := range entries {
		var first *host
		for _, fam := range ent.Families() {
			h, err := e.newHost(ent, dir, fam == "ipv6")
			if err != nil {
				err = errfmt.Errorf("ddns[%d] %s (%s): %w", i, ent.Hostname, ent.Provider, err)
				if e.keepDisabled { // the caller reports it, from Status
					for _, f := range ent.Families() {
						e.disabled = append(e.disabled, disabledHost{entry: ent, v6: f == "ipv6", reason: err.Error()})
					}
					break
				}
				errs = append(errs, err)
				break
			}
			if _, paired := h.p.(provider.Paired); paired && first != nil {
				first.pair, h.pair, h.send = h, first, first.send
			}
			first = h
			e.hosts = append(e.hosts, h)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// DialTimeout bounds connecting to an HTTP provider: a route that went away with the WAN address fails in
// seconds rather than at UpdateTimeout.
const DialTimeout = 5 * time.Second

// newHTTPClient verifies certificates against the system roots, honours HTTPS_PROXY/NO_PROXY and follows no
// redirect (a provider's API answers where it is asked; a 3xx is reported as the answer it is, and a redirect
// to plain http would send the credentials in clear). It is the engine's own, so that closing its idle
// connections on a WAN change touches no one else's.
func newHTTPClient() *web.Client {
	return &web.Client{
		Timeout: UpdateTimeout,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout: 10 * time.Second,
		Proxy:               web.ProxyFromEnvironment,
	}
}

func (e *Engine) newHost(ent provider.Entry, dir string, v6 bool) (*host, error) {
	p, secrets, err := e.build(ent)
	if err != nil {
		return nil, err
	}
	e.secrets = append(e.secrets, secrets...)
	file := stateName(ent)
	if v6 {
		file = strings.TrimSuffix(file, ".json") + "_aaaa.json"
	}
	h := &host{entry: ent, v6: v6, p: p, hash: configHash(ent, secrets), file: filepath.Join(dir, file),
		wake: make(chan struct{}, 1), send: new(lock.Mutex)}
	h.st = e.load(h)
	return h, nil
}

// build reads ent's secrets and builds its provider; it returns the secrets read, for scrubbing.
func (e *Engine) build(ent provider.Entry) (provider.Provider, []string, error) {
	reg, ok := providers.Lookup(ent.Provider)
	if !ok {
		return nil, nil, errfmt.Errorf("unknown provider %q", ent.Provider)
	}
	var secrets []string
	read := func(lines bool) func(file, envName string) (string, error) {
		return func(file, envName string) (string, error) {
			o := secret.Options{ConfigDir: ent.ConfigDir, Owners: ent.SecretOwners, Lines: lines && file != ""}
			s, err := readSecret(file, envName, o, e.log)
			if err == nil {
				secrets = append(secrets, s)
			}
			return s, err
		}
	}
	env := provider.Env{HTTP: e.http, Dial: e.dial, UserAgent: e.userAgent, Logger: e.log,
		Secret:      read(false),
		SecretBlock: read(true),
		Sensitive:   func(v string) { secrets = append(secrets, v) },
	}
	p, err := reg.Build(ent, env)
	if err != nil {
		return nil, nil, err
	}
	return p, secrets, nil
}

// Check reads ent's secrets and builds its provider exactly as New does, without state and without a word
// on the network: `hairpin check` and `hairpin doctor` run it so that a secret the daemon could not read (a
// missing file, an unset variable, a key file of the wrong format) is found before the daemon starts.
// Warnings (a secret file others can read) go to logger.
func Check(ent provider.Entry, logger *slog.Logger) error {
	e := &Engine{log: logger, clock: realClock{}, http: newHTTPClient()}
	_, _, err := e.build(ent)
	return err
}

// SetAddress records the latest public IPv4 address for A records and wakes the hostnames that publish one;
// it never blocks.
func (e *Engine) SetAddress(addr netip.Addr) {
	addr = addr.Unmap()
	if !addr.Is4() {
		e.log.Warn("ddns: ignoring an address that is not IPv4", "address", addr.String())
		return
	}
	e.mu.Lock()
	changed := addr != e.addr
	e.addr = addr
	e.mu.Unlock()
	if !changed {
		return
	}
	e.NetworkChanged()
	e.wake(false, addr)
}

// SetAddress6 records the IPv6 address for AAAA records and wakes the hostnames that publish one; an
// invalid address (the router has none that hairpin forwards) sends nothing and keeps the record as it is.
func (e *Engine) SetAddress6(addr netip.Addr) {
	if addr.IsValid() && (!addr.Is6() || addr.Is4In6()) {
		e.log.Warn("ddns: ignoring an address that is not IPv6 for AAAA records", "address", addr.String())
		return
	}
	e.mu.Lock()
	changed := addr != e.addr6
	e.addr6 = addr
	e.mu.Unlock()
	if !changed {
		return
	}
	e.wake(true, addr)
}

// wake tells the hostnames of one family that its address is now addr: an update in flight for another
// address is abandoned, and each worker reads the latest address when it wakes.
func (e *Engine) wake(v6 bool, addr netip.Addr) {
	for _, h := range e.hosts {
		if h.v6 != v6 {
			continue
		}
		if addr.IsValid() {
			h.abandon(addr)
		}
		select {
		case h.wake <- struct{}{}:
		default: // a wake is already pending; it will read the latest address
		}
	}
}

// Withhold stops sending the address while reason is not empty, for every hostname without publish: always;
// an empty reason lets updates go again. The daemon withholds while the classification says the address cannot
// be reached from the internet: a DNS name pointing at a carrier's shared address helps nobody.
func (e *Engine) Withhold(reason string) {
	e.mu.Lock()
	changed := reason != e.withheld
	e.withheld = reason
	e.mu.Unlock()
	if !changed {
		return
	}
	if reason != "" {
		e.log.Warn("ddns: not publishing the address", "why", reason)
	} else {
		e.log.Info("ddns: publishing the address again")
	}
	for _, h := range e.hosts {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// withholding applies to A records only: CGNAT and DS-Lite take the IPv4 address away from the router, and
// under DS-Lite IPv6 is exactly the way in.
func (e *Engine) withholding(h *host) string {
	if h.entry.PublishAlways || h.v6 {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.withheld
}

// NetworkChanged drops the HTTP client's idle keep-alive connections: after a WAN address change they are
// bound to an address the router no longer has, and a request sent on one waits for a timeout instead of
// reaching the provider. SetAddress calls it when the public address changes; the daemon calls it on every
// WAN change, since behind a second NAT the public address may stay the same.
// It also ends every backoff after a network error: an update that failed because the WAN address was going
// away must not keep the record on the old address for minutes once the new one is up. The failure count
// stays, so a network that keeps failing still backs off further; a wait the provider asked for stays too.
func (e *Engine) NetworkChanged() {
	e.http.CloseIdleConnections()
	for _, h := range e.hosts {
		h.mu.Lock()
		h.newNetwork = true
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// addressFor is the address h publishes: the IPv4 one, or for an AAAA record the IPv6 one.
func (e *Engine) addressFor(h *host) netip.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h.v6 {
		return e.addr6
	}
	return e.addr
}

// Run keeps every hostname up to date until ctx ends: one worker per hostname, so a slow provider delays no
// other. It owns the retry and backoff timers.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range e.hosts {
		wg.Go(func() { e.work(ctx, h) })
	}
	wg.Wait()
}

func (e *Engine) work(ctx context.Context, h *host) {
	for {
		wait, _ := e.attempt(ctx, h, false)
		var timer <-chan time.Time
		if wait > 0 {
			timer = e.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-timer:
		}
	}
}

// ForceUpdate sends the current address (from SetAddress) for every hostname now, even when it equals the
// last one sent, and even during a network backoff. It does not override a hold, nor a pause the provider asked
// for (dyndns2 dnserr/911, HTTP 429/5xx): ignoring those is exactly what gets clients banned. Those hostnames
// come back as errors, as do failed updates.
func (e *Engine) ForceUpdate(ctx context.Context) error { return e.updateAll(ctx, true) }

// Update does once, in the caller's goroutine, what Run does on a change: it sends the current address for
// every hostname whose last-sent address differs and that is not held or waiting.
func (e *Engine) Update(ctx context.Context) error { return e.updateAll(ctx, false) }

func (e *Engine) updateAll(ctx context.Context, force bool) error {
	e.mu.Lock()
	none := !e.addr.IsValid() && !e.addr6.IsValid()
	e.mu.Unlock()
	if none {
		return errors.New("no public address to send")
	}
	var errs []error
	for _, h := range e.hosts {
		if _, err := e.attempt(ctx, h, force); err != nil {
			errs = append(errs, errfmt.Errorf("%s (%s): %w", h.entry.Hostname, h.entry.Provider, err))
		}
	}
	return errors.Join(errs...)
}

// Status describes every hostname, in config order.
func (e *Engine) Status() []HostStatus {
	out := make([]HostStatus, 0, len(e.hosts))
	for _, h := range e.hosts {
		h.mu.Lock()
		st := h.st
		h.mu.Unlock()
		hs := HostStatus{Hostname: h.entry.Hostname, Provider: h.entry.Provider, LastSent: st.LastSent,
			Answer: st.Answer, Held: st.Held, Reason: st.Reason, NextRetry: st.NextRetry, LastError: st.LastError,
			Warning: st.Warning, Withheld: e.withholding(h), StateFile: h.file, History: slices.Clone(st.History)}
		if h.v6 {
			hs.Family = "ipv6"
		}
		if st.LastAddress.IsValid() {
			hs.LastAddress = st.LastAddress.String()
		}
		out = append(out, hs)
	}
	for _, d := range e.disabled {
		hs := HostStatus{Hostname: d.entry.Hostname, Provider: d.entry.Provider, Disabled: d.reason}
		if d.v6 {
			hs.Family = "ipv6"
		}
		out = append(out, hs)
	}
	return out
}

// Result is the outcome of one update, for notifications. Error is scrubbed of secrets like status.
type Result struct {
	Hostname string
	Provider string
	Family   string // "ipv6" for an AAAA record
	Address  netip.Addr
	OK       bool
	Held     bool
	Error    string
	// NextRetry is when the engine tries again after a failure (zero while held).
	NextRetry time.Time
}

// OnResult makes f hear the outcome of every update from now on. f runs in the engine's goroutines and must not
// block.
func (e *Engine) OnResult(f func(Result)) {
	e.mu.Lock()
	e.onResult = f
	e.mu.Unlock()
}

func (e *Engine) report(h *host, addr netip.Addr, st state) {
	e.mu.Lock()
	f := e.onResult
	e.mu.Unlock()
	if f == nil {
		return
	}
	r := Result{Hostname: h.entry.Hostname, Provider: h.entry.Provider, Address: addr, OK: st.LastError == "", Held: st.Held,
		Error: st.LastError, NextRetry: st.NextRetry}
	if h.v6 {
		r.Family = "ipv6"
	}
	f(r)
}
