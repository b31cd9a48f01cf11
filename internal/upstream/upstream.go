// Package upstream asks the box in front of the router (behind a double NAT) to forward each forward's port
// to the router's WAN address, with PCP, NAT-PMP or UPnP IGD, and keeps those mappings alive: renewed at half
// their lease with jitter, re-made when the box restarts or the WAN address changes, deleted when a forward goes
// away. The router's own DNAT and hairpin take over from the WAN address on.
package upstream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/upstream/natpmp"
	"github.com/hairpin-nat/hairpin/internal/upstream/pcp"
	"github.com/hairpin-nat/hairpin/internal/upstream/upnp"
)

// MaxMappings caps the ports mapped upstream: a forward of a wide range would otherwise send thousands of
// requests to a small box.
const MaxMappings = 128

// Want is one port to map: the same external port to the router's WAN address.
type Want struct {
	Forward  string
	Protocol string // tcp or udp
	Port     uint16
}

// Wants lists the mappings the forwards need, at most MaxMappings; dropped counts the rest.
func Wants(cfg *config.Config) (out []Want, dropped int) {
	for _, f := range cfg.Forwards {
		for _, p := range []config.Protocol{config.TCP, config.UDP} {
			if !f.Protocol.Has(p) {
				continue
			}
			for port := int(f.Port.First); port <= int(f.Port.Last); port++ {
				if len(out) == MaxMappings {
					dropped++
					continue
				}
				out = append(out, Want{Forward: f.Name, Protocol: string(p), Port: uint16(port)})
			}
		}
	}
	return out, dropped
}

// Mapping states.
const (
	StateMapped   = "mapped"
	StatePending  = "pending"
	StateConflict = "conflict"
	StateError    = "error"
)

// MappingStatus is one port as status shows it.
type MappingStatus struct {
	Forward  string    `json:"forward"`
	Protocol string    `json:"protocol"`
	Port     uint16    `json:"port"`
	State    string    `json:"state"`
	Message  string    `json:"message,omitempty"`
	Lease    string    `json:"lease,omitempty"`
	Renew    time.Time `json:"renew,omitzero"`
	Mapped   time.Time `json:"mapped_at,omitzero"`
}

// Status is the upstream mapping as status shows it.
type Status struct {
	Mode     string          `json:"mode"`
	Protocol string          `json:"protocol,omitempty"`
	Gateway  string          `json:"gateway,omitempty"`
	Local    string          `json:"internal_address,omitempty"`
	External string          `json:"external_address,omitempty"`
	Error    string          `json:"error,omitempty"`
	CGNAT    string          `json:"cgnat,omitempty"`
	Dropped  int             `json:"ports_not_mapped,omitempty"`
	Requests uint64          `json:"requests"`
	Renewals uint64          `json:"renewals"`
	Remaps   uint64          `json:"remaps"`
	Mappings []MappingStatus `json:"mappings,omitempty"`
}

// Mapped counts the mappings in place.
func (s Status) Mapped() int {
	n := 0
	for _, m := range s.Mappings {
		if m.State == StateMapped {
			n++
		}
	}
	return n
}

// Options tune a Manager; tests shorten the times.
type Options struct {
	Logger *slog.Logger
	// StateDir holds the key PCP nonces are derived from (so a restarted daemon and `hairpin down` can renew
	// and delete the mappings it made).
	StateDir string
	// Check is how often the gateway is asked whether it restarted (default 1m, or a quarter of the lease).
	Check time.Duration
	// Retry is the first wait after a failure (default 30s or a quarter of the lease, doubling to 15m).
	Retry time.Duration
	// Timeout bounds one request (default 4s; auto gives each protocol 1.5s to answer at all).
	Timeout time.Duration
}

type entry struct {
	want   Want
	state  string
	msg    string
	lease  time.Duration
	renew  time.Time
	mapped time.Time
	fails  int
}

// Manager keeps the mappings for one config.
type Manager struct {
	cfg  config.Upstream
	opt  Options
	log  *slog.Logger
	key  []byte
	wake chan struct{}
	chg  chan struct{}

	mu      lock.Mutex
	local   netip.Addr
	gateway netip.Addr
	wants   []Want
	dropped int
	// Below: owned by Run, copied into st for Status under mu.
	p        proto
	held     map[Want]*entry
	heldAt   netip.Addr // the local address the held mappings point at
	heldGW   netip.Addr
	ext      netip.Addr
	err      string
	cgnat    string
	requests uint64
	renewals uint64
	remaps   uint64
	nextConn time.Time
	connWait time.Duration
	dirty    bool // a mapping changed during this pass (Run's goroutine only)
	// stale are the mappings made for the WAN address before the last change (staleLocal), which may hold
	// their ports until staleUntil.
	stale      []Want
	staleLocal netip.Addr
	staleUntil time.Time
	// protos builds the protocols to try with the gateway; tests give fakes.
	protos func(local, gateway netip.Addr) map[config.UpstreamMode]proto
}

// New builds a manager; Run starts it.
func New(cfg config.Upstream, opt Options) (*Manager, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	lease := cfg.Lease
	if lease <= 0 {
		lease = config.DefaultUpstreamLease
	}
	// A short lease (the lab, tests) checks for a restarted box and retries more often, in step with it.
	if opt.Check <= 0 {
		opt.Check = min(time.Minute, lease/4)
	}
	if opt.Retry <= 0 {
		opt.Retry = min(30*time.Second, lease/4)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 4 * time.Second
	}
	key, err := loadKey(opt.StateDir)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, opt: opt, log: opt.Logger, key: key, wake: make(chan struct{}, 1), chg: make(chan struct{}, 1),
		held: map[Want]*entry{}}
	m.protos = m.realProtos
	return m, nil
}

// realProtos are the protocols spoken on the wire.
func (m *Manager) realProtos(local, gateway netip.Addr) map[config.UpstreamMode]proto {
	clock := time.Now
	return map[config.UpstreamMode]proto{
		config.UpstreamPCP:    &pcpProto{c: &pcp.Client{Gateway: gateway, Local: local}, key: m.key, clock: clock},
		config.UpstreamNATPMP: &natpmpProto{c: &natpmp.Client{Gateway: gateway, Local: local}, clock: clock},
		config.UpstreamUPnP:   &upnpProto{c: &upnp.Client{Gateway: gateway, Local: local}},
	}
}

// loadKey reads (or makes) the per-router secret PCP nonces derive from: predictable nonces would let anyone
// on the box's LAN delete or steal hairpin's mappings.
func loadKey(dir string) ([]byte, error) {
	if dir == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k, nil
	}
	file := filepath.Join(dir, "upstream.key")
	if k, err := os.ReadFile(file); err == nil && len(k) == 32 {
		return k, nil
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errfmt.Errorf("upstream: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, k, 0o600); err != nil {
		return nil, errfmt.Errorf("upstream: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, errfmt.Errorf("upstream: %w", err)
	}
	return k, nil
}

// Set tells the manager what to map: wants to local (the router's WAN address) through gateway. It never blocks.
func (m *Manager) Set(local, gateway netip.Addr, wants []Want, dropped int) {
	m.mu.Lock()
	m.local, m.gateway, m.wants, m.dropped = local, gateway, slices.Clone(wants), dropped
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Changed fires after the mappings or what the gateway said changed.
func (m *Manager) Changed() <-chan struct{} { return m.chg }

func (m *Manager) changed() {
	select {
	case m.chg <- struct{}{}:
	default:
	}
}

// Run keeps the mappings until ctx ends. With upstream_on_stop: delete it removes them on the way out.
func (m *Manager) Run(ctx context.Context) {
	check := time.NewTicker(m.opt.Check)
	defer check.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.sync(ctx)
		timer.Reset(time.Until(m.nextDue()))
		select {
		case <-ctx.Done():
			if m.cfg.DeleteOnStop {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				m.releaseAll(dctx)
				cancel()
			}
			return
		case <-m.wake:
		case <-timer.C:
		case <-check.C:
			m.checkRestart(ctx)
		}
	}
}

func (m *Manager) nextDue() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := time.Now().Add(time.Hour)
	if m.p == nil && !m.nextConn.IsZero() && m.nextConn.Before(next) {
		next = m.nextConn
	}
	for _, e := range m.held {
		if !e.renew.IsZero() && e.renew.Before(next) {
			next = e.renew
		}
	}
	return next
}

func (m *Manager) snapshot() (netip.Addr, netip.Addr, []Want) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local, m.gateway, slices.Clone(m.wants)
}

// sync brings the gateway in line with what is wanted: drop what is no longer wanted or points at an old
// address, connect when needed, map what is missing or due.
func (m *Manager) sync(ctx context.Context) {
	defer func() {
		if m.dirty {
			m.dirty = false
			m.changed()
		}
	}()
	local, gateway, wants := m.snapshot()
	m.mu.Lock()
	moved := m.p != nil && (local != m.heldAt || gateway != m.heldGW)
	m.mu.Unlock()
	if moved {
		// The WAN address or gateway changed: the old mappings point nowhere, and the old source address is gone,
		// so they cannot be deleted from it. A UPnP box may let the new address delete them (below); otherwise
		// the ports stay taken until the old leases run out, and conflicts until then are retried at that time.
		m.log.Info("upstream: WAN address or gateway changed; mapping again", "address", local, "gateway", gateway)
		m.mu.Lock()
		m.stale = m.stale[:0]
		for w, e := range m.held {
			m.stale = append(m.stale, w)
			// Renewed at renew-(40..50% of the lease): the lease then ends at most 60% of it after renew.
			if end := e.renew.Add(e.lease * 6 / 10); e.state == StateMapped && e.lease > 0 && end.After(m.staleUntil) {
				m.staleUntil = end
			}
		}
		m.staleLocal = m.heldAt
		m.held = map[Want]*entry{}
		m.p, m.remaps = nil, m.remaps+1
		m.nextConn = time.Time{}
		m.mu.Unlock()
	}
	wanted := map[Want]bool{}
	for _, w := range wants {
		wanted[w] = true
	}
	m.mu.Lock()
	var gone []Want
	for w := range m.held {
		if !wanted[w] {
			gone = append(gone, w)
		}
	}
	p := m.p
	m.mu.Unlock()
	for _, w := range gone {
		if p != nil {
			if err := m.call(ctx, func(ctx context.Context) error { return p.unmapOne(ctx, w) }); err != nil {
				m.log.Warn("upstream: deleting a mapping failed; it expires with its lease", "forward", w.Forward, "port", w.Port, "error", err)
			} else {
				m.log.Info("upstream: mapping deleted", "forward", w.Forward, "protocol", w.Protocol, "port", w.Port)
			}
		}
		m.mu.Lock()
		delete(m.held, w)
		m.mu.Unlock()
		m.changed()
	}
	if !local.IsValid() || !gateway.IsValid() || len(wants) == 0 {
		return
	}
	if p == nil {
		if p = m.connect(ctx, local, gateway); p == nil {
			return
		}
		m.dropStale(ctx, p)
	}
	now := time.Now()
	for _, w := range wants {
		m.mu.Lock()
		e := m.held[w]
		if e == nil {
			e = &entry{want: w, state: StatePending}
			m.held[w] = e
		}
		due := e.renew.IsZero() || !now.Before(e.renew)
		m.mu.Unlock()
		if due {
			m.mapOne(ctx, p, e)
		}
	}
}

// connect picks the protocol: the configured one, or for auto the first of PCP, NAT-PMP, UPnP that answers.
func (m *Manager) connect(ctx context.Context, local, gateway netip.Addr) proto {
	m.mu.Lock()
	if time.Now().Before(m.nextConn) {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	all := m.protos(local, gateway)
	order := []config.UpstreamMode{m.cfg.Mode}
	timeout := m.opt.Timeout
	if m.cfg.Mode == config.UpstreamAuto {
		order = []config.UpstreamMode{config.UpstreamPCP, config.UpstreamNATPMP, config.UpstreamUPnP}
		timeout = min(timeout, 1500*time.Millisecond)
	}
	var errs []error
	for _, mode := range order {
		p := all[mode]
		t := timeout
		if mode == config.UpstreamUPnP {
			t = max(t, 4*time.Second) // SSDP waits up to 2s for answers, then the description is fetched
		}
		cctx, cancel := context.WithTimeout(ctx, t)
		err := p.connect(cctx)
		cancel()
		m.count(false)
		if err == nil || (!unsupported(err) && cgnatErr(err)) {
			m.mu.Lock()
			m.p, m.heldAt, m.heldGW, m.err, m.connWait = p, local, gateway, "", 0
			if err != nil {
				m.cgnat = err.Error()
			}
			m.mu.Unlock()
			m.log.Info("upstream: the gateway speaks "+p.name(), "gateway", gateway, "internal_address", local)
			if ext, err := p.external(ctx); err == nil && ext.IsValid() {
				m.setExternal(ext)
			}
			m.changed()
			return p
		}
		errs = append(errs, errfmt.Errorf("%s: %w", p.name(), err))
	}
	err := errors.Join(errs...)
	m.mu.Lock()
	m.connWait = min(max(2*m.connWait, m.opt.Retry), 15*time.Minute)
	m.nextConn = time.Now().Add(m.connWait)
	prev := m.err
	m.err = fmt.Sprintf("no mapping protocol answered on %s: %v", gateway, err)
	m.mu.Unlock()
	if prev != m.err {
		m.log.Warn("upstream: the gateway maps nothing", "gateway", gateway, "error", err, "retry_in", m.connWait)
		m.changed()
	}
	return nil
}

func (m *Manager) setExternal(a netip.Addr) {
	m.mu.Lock()
	m.ext = a
	m.mu.Unlock()
}

func (m *Manager) count(renewal bool) {
	m.mu.Lock()
	m.requests++
	if renewal {
		m.renewals++
	}
	m.mu.Unlock()
}

func (m *Manager) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.opt.Timeout)
	defer cancel()
	m.count(false)
	return f(ctx)
}

func (m *Manager) mapOne(ctx context.Context, p proto, e *entry) {
	lease := m.cfg.Lease
	if lease <= 0 {
		lease = config.DefaultUpstreamLease
	}
	renewal := e.state == StateMapped
	var granted time.Duration
	ctx2, cancel := context.WithTimeout(ctx, m.opt.Timeout)
	granted, err := p.mapOne(ctx2, e.want, lease)
	cancel()
	m.count(renewal)
	now := time.Now()
	m.mu.Lock()
	prevState, prevMsg := e.state, e.msg
	if err != nil {
		e.fails++
		wait := min(m.opt.Retry<<min(e.fails-1, 10), 15*time.Minute)
		e.state, e.msg, e.renew = StateError, err.Error(), now.Add(wait)
		if conflictErr(err) {
			e.state = StateConflict
			if until := m.staleUntil; now.Before(until) {
				// Most likely our own mapping for the old WAN address: try again once its lease has run out.
				e.renew, e.fails = until.Add(time.Second), 0
				e.msg += fmt.Sprintf(" (probably this router's mapping for its old address %s; retried when it expires at %s)", m.staleLocal, until.Format(time.TimeOnly))
			}
		}
		if cgnatErr(err) {
			m.cgnat = err.Error()
		}
	} else {
		e.fails = 0
		e.state, e.msg, e.lease = StateMapped, "", granted
		if !renewal {
			e.mapped = now
		}
		half := granted / 2
		if granted == 0 { // permanent (UPnP 725): refresh at half the lease asked for, which also repairs a restarted box
			half = lease / 2
		}
		// Jitter: renew between 40% and 50% of the lease, so routers behind one box do not renew in step.
		e.renew = now.Add(half - time.Duration(mrand.Int64N(int64(half/5)+1)))
		m.cgnat = ""
	}
	m.mu.Unlock()
	if err == nil && !m.External().IsValid() {
		ectx, cancel := context.WithTimeout(ctx, m.opt.Timeout)
		if ext, err := p.external(ectx); err == nil && ext.IsValid() {
			m.setExternal(ext)
		}
		cancel()
	}
	if e.state != prevState || e.msg != prevMsg {
		w := e.want
		if err != nil {
			m.log.Warn("upstream: mapping failed", "forward", w.Forward, "protocol", w.Protocol, "port", w.Port, "via", p.name(), "state", e.state, "error", err)
		} else {
			m.log.Info("upstream: mapped", "forward", w.Forward, "protocol", w.Protocol, "port", w.Port, "via", p.name(), "lease", granted)
		}
		m.dirty = true // told once the pass over all mappings ends, not once per port
	}
}

// dropStale deletes the mappings made for the old WAN address where the protocol allows it from the new one:
// UPnP deletes by port (a box in secure mode refuses; then they expire).
func (m *Manager) dropStale(ctx context.Context, p proto) {
	sd, ok := p.(staleDeleter)
	if !ok || len(m.stale) == 0 {
		return
	}
	deleted := 0
	for _, w := range m.stale {
		err := m.call(ctx, func(ctx context.Context) error { return sd.deleteStale(ctx, w, m.staleLocal) })
		if err == nil {
			deleted++
		}
	}
	m.log.Info("upstream: mappings for the old WAN address", "address", m.staleLocal, "deleted", deleted, "left_to_expire", len(m.stale)-deleted)
	m.stale = m.stale[:0]
}

// checkRestart asks the gateway whether it lost its state, and maps everything again when it did.
func (m *Manager) checkRestart(ctx context.Context) {
	m.mu.Lock()
	p := m.p
	var held []Want
	for w, e := range m.held {
		if e.state == StateMapped {
			held = append(held, w)
		}
	}
	m.mu.Unlock()
	if p == nil || len(held) == 0 {
		return
	}
	sort.Slice(held, func(i, j int) bool { return held[i].Port < held[j].Port })
	var restarted bool
	err := m.call(ctx, func(ctx context.Context) error {
		var err error
		restarted, err = p.restarted(ctx, held)
		return err
	})
	if err != nil || !restarted {
		return
	}
	m.log.Warn("upstream: the gateway restarted and forgot the mappings; mapping again", "via", p.name())
	m.mu.Lock()
	m.remaps++
	for _, e := range m.held {
		e.renew = time.Time{}
	}
	m.mu.Unlock()
	m.changed()
}

// releaseAll deletes every mapping held.
func (m *Manager) releaseAll(ctx context.Context) {
	m.mu.Lock()
	p := m.p
	var held []Want
	for w := range m.held {
		held = append(held, w)
	}
	m.held = map[Want]*entry{}
	m.mu.Unlock()
	if p == nil {
		return
	}
	for _, w := range held {
		if err := m.call(ctx, func(ctx context.Context) error { return p.unmapOne(ctx, w) }); err != nil {
			m.log.Debug("upstream: delete", "port", w.Port, "error", err)
		}
	}
	if len(held) > 0 {
		m.log.Info("upstream: mappings deleted", "count", len(held), "via", p.name())
		m.changed()
	}
}

// Status describes the mappings.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Mode: m.cfg.Mode.String(), Error: m.err, CGNAT: m.cgnat, Dropped: m.dropped, Requests: m.requests,
		Renewals: m.renewals, Remaps: m.remaps}
	if m.p != nil {
		st.Protocol = m.p.name()
	}
	if m.gateway.IsValid() {
		st.Gateway = m.gateway.String()
	}
	if m.local.IsValid() {
		st.Local = m.local.String()
	}
	if m.ext.IsValid() {
		st.External = m.ext.String()
	}
	for _, w := range m.wants {
		e := m.held[w]
		ms := MappingStatus{Forward: w.Forward, Protocol: w.Protocol, Port: w.Port, State: StatePending}
		if e != nil {
			ms.State, ms.Message, ms.Renew, ms.Mapped = e.state, e.msg, e.renew, e.mapped
			if e.state == StateMapped {
				ms.Lease = e.lease.String()
				if e.lease == 0 {
					ms.Lease = "permanent"
				}
			}
		}
		st.Mappings = append(st.Mappings, ms)
	}
	return st
}

// External is the gateway's external address as it reported it, if it did.
func (m *Manager) External() netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ext
}

// Delete removes the mappings of wants from local through gateway, without a running manager (`hairpin
// down`). In auto mode each protocol is tried: deleting a mapping a gateway does not hold is harmless, and UPnP
// mappings are deleted only when they point at local.
func Delete(ctx context.Context, cfg config.Upstream, opt Options, local, gateway netip.Addr, wants []Want) (int, error) {
	m, err := New(cfg, opt)
	if err != nil {
		return 0, err
	}
	p := m.connect(ctx, local, gateway)
	if p == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		return 0, errors.New(m.err)
	}
	n := 0
	var errs []error
	for _, w := range wants {
		if err := m.call(ctx, func(ctx context.Context) error { return p.unmapOne(ctx, w) }); err != nil {
			errs = append(errs, errfmt.Errorf("%s %s %d: %w", w.Forward, w.Protocol, w.Port, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
