// Package daemon is `hairpin run`: one event loop that keeps the forwards right. It applies the plan at start,
// follows interface changes (updating only the WAN address set when only addresses moved), learns the public
// address behind a second NAT, feeds dynamic DNS, reloads on SIGHUP, repairs the table at every resync, and
// serves its state to `hairpin status`.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// Observer delivers observations: the current one first, then one per change. The channel closes when ctx
// ends.
type Observer func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error)

// Discoverer learns the public address (publicip.Discoverer in production).
type Discoverer interface {
	Discover(ctx context.Context) (netip.Addr, string, error)
	// Forget drops a cached answer: the WAN address changed, so the public address probably did too.
	Forget()
}

// DDNS keeps hostnames on the public address (ddns.Engine in production).
type DDNS interface {
	Run(ctx context.Context)
	SetAddress(addr netip.Addr)
	Status() []ddns.HostStatus
}

// Deps are the daemon's connections to the world; tests replace each one.
type Deps struct {
	// Version is reported in status.
	Version string
	Backend backend.Backend
	Observe Observer
	// NewDiscoverer builds a discoverer for a config; nil disables public-address discovery.
	NewDiscoverer func(cfg *config.Config) (Discoverer, error)
	// NewDDNS builds the dynamic-DNS engine for a config; nil or a nil result means no DDNS.
	NewDDNS func(cfg *config.Config) (DDNS, error)
	// Load reads the config again on reload; prev is the running config, whose files it may compare with and
	// reuse (config.Reload).
	Load func(prev *config.Config) (*config.Config, error)
	// PauseGC, when set, stops the garbage collector until resume is called: a reload runs under it up to
	// the collection that ends it (settle), so the collector neither marks a config being built nor slows the
	// writing of its prefixes with write barriers on the way from SIGHUP to the kernel.
	PauseGC func() (resume func())
	// SameBackend reports whether a reloaded config keeps the backend the daemon was given (backends.Same):
	// another backend takes a restart. nil: every config keeps it.
	SameBackend func(old, new *config.Config) bool
	Logger      *slog.Logger
	// Ready is called once the first apply has been attempted (systemd readiness).
	Ready func()
	// Watchdog, when WatchdogEvery is set, is called that often from the event loop itself (systemd's
	// WatchdogSec=), so a loop stuck in a change stops the calls and gets the daemon restarted.
	Watchdog      func()
	WatchdogEvery time.Duration
	// IntentFile, when set, records a WAN set update in progress, so a crash between its two commits is
	// finished at the next start (see intent.go).
	IntentFile string
	// ForcedFile, when set, is where one-shot commands record that they changed the rules under the daemon
	// (state_dir/ForcedFile, see forced.go).
	ForcedFile string
	// Options for the plan (tests).
	PlanOptions plan.Options
	// NewProber builds the reachability probe client for wan.probe; nil: never probe.
	NewProber func(cfg *config.Config) (Prober, error)
	// NewUpstream builds the mapper for wan.upstream; nil: never map.
	NewUpstream func(cfg *config.Config) (Upstream, error)
	// UpstreamGateway finds the box in front when wan.upstream_gateway is unset (upstream.DefaultGateway).
	UpstreamGateway func() (netip.Addr, error)
	// DetectDSLite reports whether IPv4 leaves through a DS-Lite tunnel (reach.DetectDSLite on Linux); nil:
	// never.
	DetectDSLite func() (bool, string, error)
	// Lookup resolves the hostnames of allow lists; nil asks daemon.resolver or the servers of
	// /etc/resolv.conf.
	Lookup allowdns.LookupFunc
	// NotifyOptions tune the delivery of notifications (tests shorten the waits).
	NotifyOptions notify.Options
}

// Daemon is the running state. Its exported methods are safe to call from other goroutines.
type Daemon struct {
	deps Deps
	log  *slog.Logger

	mu          lock.Mutex
	cfg         *config.Config
	obs         plan.Observed
	public      netip.Addr
	publicFrom  string
	publicErr   string
	installed   *plan.Desired // nil when the last apply failed or none was made
	lastGood    *plan.Desired // the last plan installed; after a failed apply its rules are still in force
	lastApply   time.Time
	lastApplyIn time.Duration
	lastErr     string
	events      []Event
	started     time.Time
	verdict     reach.Verdict
	verdict6    reach.Verdict // zero without global IPv6 on the WAN and without to6 forwards
	upstream    UpstreamFacts
	up          *upstreamRun
	pr          *probeRun // the loop's own
	listeners   []*statusListener
	probeSt     *ProbeStatus

	counters  counterCache
	reload    chan reloadRequest
	probeNow  chan chan error // the page's "Re-probe now"
	reloading sync.Mutex      // one reload at a time
	metrics   *metrics
	ddns      DDNS
	ddnsStop  context.CancelFunc
	ddnsCtx   context.Context // the running engine's, ended by ddnsStop
	// hosts follows the hostnames of allow lists; nil when the backend resolves them itself (RouterOS).
	hosts    *allowdns.Resolver
	hostname string
	// notifier sends the config's notifications; nil without a notify: list.
	notifier   *notify.Notifier
	notifyStop context.CancelFunc
	// intentErr is why the last record of a WAN set update could not be written ("" when it was).
	intentErr string
}

// Event is one thing that happened, for `hairpin status`.
type Event struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

const (
	maxEvents   = 50
	maxEventLen = 16 << 10
)

// New prepares a daemon; Run starts it.
func New(cfg *config.Config, deps Deps) *Daemon {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{deps: deps, log: deps.Logger, cfg: cfg, reload: make(chan reloadRequest), probeNow: make(chan chan error), started: time.Now()}
	d.metrics = newMetrics(d)
	d.hostname, _ = os.Hostname()
	return d
}

func (d *Daemon) event(level slog.Level, msg string, attrs ...any) {
	d.log.Log(context.Background(), level, msg, attrs...)
	text := msg
	for i := 0; i+1 < len(attrs); i += 2 {
		text += fmt.Sprintf(" %v=%v", attrs[i], attrs[i+1])
	}
	d.record(text)
}

// record adds text to the recent events of status without logging it (for what was logged already).
func (d *Daemon) record(text string) {
	// Status holds the last 50 events; each stays short whatever an error carried (a rejected reload once put
	// 317 MB into every later status answer).
	if len(text) > maxEventLen {
		text = strings.ToValidUTF8(text[:maxEventLen], "") + fmt.Sprintf("... (%d bytes)", len(text))
	}
	d.mu.Lock()
	d.events = append(d.events, Event{Time: time.Now(), Message: text})
	if len(d.events) > maxEvents {
		d.events = d.events[len(d.events)-maxEvents:]
	}
	d.mu.Unlock()
}

// loop holds what only the Run goroutine touches.
type loop struct {
	obsCh      <-chan plan.Observed
	stopObs    context.CancelFunc
	discoverer Discoverer
	publicCh   chan publicResult
	discoverOn bool // a discovery is in flight
	retry      *time.Timer
	retryWait  time.Duration
	// publicRetry asks again after a failed discovery instead of waiting for the next periodic check.
	publicRetry *time.Timer
}

type publicResult struct {
	addr netip.Addr
	from string
	err  error
}

// Run applies, then follows changes until ctx ends. Rules stay in place when it returns: forwards keep
// working while the daemon restarts.
func (d *Daemon) Run(ctx context.Context) error {
	l := &loop{publicCh: make(chan publicResult, 1), retry: time.NewTimer(time.Hour), publicRetry: time.NewTimer(time.Hour)}
	l.retry.Stop()
	l.publicRetry.Stop()
	if err := d.start(ctx, l); err != nil {
		if l.stopObs != nil {
			l.stopObs()
		}
		d.stopNotify(false)
		if ctx.Err() != nil {
			return nil // told to stop while waiting for the first observation (a router still unreachable)
		}
		return err
	}
	defer func() {
		d.stopNotify(false)
		l.stopObs()
		if d.ddnsStop != nil {
			d.ddnsStop()
		}
		d.stopUpstream()
	}()
	if d.deps.Ready != nil {
		d.deps.Ready()
	}
	resync := time.NewTicker(d.cfg.Daemon.Resync)
	defer resync.Stop()
	// The periodic public-address lookup ticks only while a lookup is wanted (behind a second NAT, or sources
	// configured); followPublic starts and stops it as the observations and the config change.
	publicTick := time.NewTicker(d.cfg.WAN.PublicIPEvery)
	defer publicTick.Stop()
	publicTicking := true
	followPublic := func() {
		want := d.discoveryWanted(l)
		switch {
		case want && !publicTicking:
			publicTick.Reset(d.cfg.WAN.PublicIPEvery)
		case !want && publicTicking:
			publicTick.Stop()
		}
		publicTicking = want
	}
	followPublic()
	var hostsChanged <-chan struct{}
	if d.hosts != nil {
		hostsChanged = d.hosts.Changed()
	}
	var watchdog <-chan time.Time // nil, never ready, unless systemd asked for a watchdog
	if d.deps.Watchdog != nil && d.deps.WatchdogEvery > 0 {
		t := time.NewTicker(d.deps.WatchdogEvery)
		defer t.Stop()
		watchdog = t.C
	}

	for {
		select {
		case <-ctx.Done():
			d.event(slog.LevelInfo, "stopping; rules stay in place (hairpin down removes them)")
			d.tell(notify.Daemon, "stopped", false, "hairpin stopped; the rules stay in place", "state", "stopped")
			d.stopNotify(true)
			return nil
		case obs, ok := <-l.obsCh:
			if !ok {
				if ctx.Err() != nil {
					continue // shutting down; ctx.Done is ready too
				}
				return errors.New("the interface watcher stopped")
			}
			d.observed(ctx, l, obs)
		case res := <-l.publicCh:
			l.discoverOn = false
			d.publicLearned(ctx, l, res)
		case <-publicTick.C:
			d.maybeDiscover(ctx, l)
		case <-l.publicRetry.C:
			d.maybeDiscover(ctx, l)
		case <-hostsChanged:
			d.update(ctx, l, "allowed hostname changed")
		case <-resync.C:
			d.applyFull(ctx, l, "resync")
			d.classify() // the route may have moved to a DS-Lite tunnel without any address change
			d.heartbeat(ctx)
		case <-l.retry.C:
			d.applyFull(ctx, l, "retry")
		case <-d.upstreamChanged():
			d.upstreamUpdated(ctx, l)
		case <-d.probeTimer():
			d.startProbe(ctx)
		case st := <-d.probeResults():
			d.probed(st)
		case reply := <-d.probeNow:
			if d.pr == nil {
				reply <- errors.New("no probe configured (wan.probe)")
				continue
			}
			d.startProbe(ctx)
			reply <- nil
		case <-watchdog:
			d.deps.Watchdog()
		case req := <-d.reload:
			req.done <- d.doReload(ctx, l, req.cfg)
			resync.Reset(d.cfg.Daemon.Resync)
			publicTick.Reset(d.cfg.WAN.PublicIPEvery)
			publicTicking = true
		}
		followPublic()
	}
}

func (d *Daemon) start(ctx context.Context, l *loop) error {
	d.finishInterrupted(ctx)
	d.clearForced() // a record left for an earlier daemon: this one applies in full anyway
	if err := d.startObserver(ctx, l); err != nil {
		return err
	}
	if err := d.setupPublic(l); err != nil {
		return err
	}
	d.startNotify(ctx)
	d.startHosts(ctx)
	d.tell(notify.Daemon, "started", false, fmt.Sprintf("hairpin started with %d forwards", len(d.cfg.Forwards)), "state", "started")
	d.event(slog.LevelInfo, "started", "forwards", len(d.cfg.Forwards), "wan", d.cfg.WAN.Interface, "lan", d.cfg.LAN.Interface)
	// The watcher's first observation is already waiting; take it now so the first apply uses real
	// addresses and readiness means "rules installed".
	select {
	case obs := <-l.obsCh:
		d.setObs(obs)
	case <-ctx.Done():
		return ctx.Err()
	}
	// After the first observation: an HA pair's backup starts no engine at all.
	d.startDDNS(ctx)
	d.settle(ctx, l, "start")
	d.publishAsMaster()
	d.heartbeat(ctx)
	return nil
}

// settle is the end of both start and reload, in one place so the two cannot drift: install the rules for
// the config and addresses now, then bring what follows from them (upstream mappings, reachability, the
// prober, public-address discovery, DDNS) up to date.
func (d *Daemon) settle(ctx context.Context, l *loop, why string) {
	if why == "reload" {
		// A reload whose plan is the running one sends nothing; one whose allow lists (or WAN and host
		// addresses) changed and nothing else sends only that. Anything else is a full apply.
		d.update(ctx, l, why)
	} else {
		d.applyFull(ctx, l, why)
	}
	if bl, ok := d.deps.Backend.(backend.Blocker); ok {
		for _, f := range bl.Blocking(ctx, d.cfg) {
			d.event(slog.LevelWarn, "the rules are in place but the router stops them: "+f.What, "fix", f.Fix)
		}
	}
	d.startUpstream(ctx)
	d.feedUpstream()
	d.classify()
	d.startProber()
	d.maybeDiscover(ctx, l)
	d.feedDDNS()
	// Loading a config is the daemon's one burst of memory (a 100,000-prefix allow list is parsed, planned and
	// sent); what it freed goes back to the system now rather than over the scavenger's minutes, so the steady
	// size of a small router's daemon is its live data.
	debug.FreeOSMemory()
}

func (d *Daemon) startObserver(ctx context.Context, l *loop) error {
	obsCtx, cancel := context.WithCancel(ctx)
	ch, err := d.deps.Observe(obsCtx, d.cfg)
	if err != nil {
		cancel()
		return errfmt.Errorf("watching interfaces: %w", err)
	}
	l.obsCh, l.stopObs = ch, cancel
	return nil
}

func (d *Daemon) setupPublic(l *loop) error {
	l.discoverer = nil
	if d.deps.NewDiscoverer == nil {
		return nil
	}
	disc, err := d.deps.NewDiscoverer(d.cfg)
	if err != nil {
		return errfmt.Errorf("public address sources: %w", err)
	}
	l.discoverer = disc
	return nil
}

func (d *Daemon) startDDNS(ctx context.Context) {
	if d.ddnsStop != nil {
		d.ddnsStop()
		d.ddnsStop = nil
	}
	d.mu.Lock()
	d.ddns, d.ddnsCtx = nil, nil
	d.mu.Unlock()
	if d.deps.NewDDNS == nil || len(d.cfg.DDNS) == 0 || !d.master() {
		return
	}
	engine, err := d.deps.NewDDNS(d.cfg)
	if err != nil {
		d.event(slog.LevelError, "dynamic DNS disabled", "error", err)
		return
	}
	if engine == nil {
		return
	}
	for _, h := range engine.Status() {
		if h.Disabled != "" {
			d.event(slog.LevelError, "dynamic DNS hostname DISABLED: it cannot run until the config or its secret is fixed (then systemctl reload hairpin)",
				"hostname", h.Hostname, "error", h.Disabled)
		}
	}
	if r, ok := engine.(interface{ OnResult(func(ddns.Result)) }); ok {
		r.OnResult(d.ddnsResult)
	}
	ddnsCtx, cancel := context.WithCancel(ctx)
	go engine.Run(ddnsCtx)
	d.mu.Lock()
	d.ddns, d.ddnsStop, d.ddnsCtx = engine, cancel, ddnsCtx
	d.mu.Unlock()
}

func (d *Daemon) setObs(obs plan.Observed) {
	d.mu.Lock()
	d.obs = obs
	d.mu.Unlock()
}

// desired computes the plan for the current config, observation and public address.
func (d *Daemon) desired() *plan.Desired {
	d.mu.Lock()
	defer d.mu.Unlock()
	obs := d.obs
	if d.public.IsValid() {
		obs.Public = d.public // learned from the public_ip sources; else what the router itself reports
	}
	if d.hosts != nil {
		obs.HostAddrs = d.hosts.Addrs()
	}
	p, _ := plan.Build(d.cfg, obs, d.deps.PlanOptions)
	return p
}

// observed reacts to an interface change: only the WAN set when only addresses moved, a full apply otherwise.
func (d *Daemon) observed(ctx context.Context, l *loop, obs plan.Observed) {
	d.mu.Lock()
	prev := d.obs
	d.mu.Unlock()
	if obs.Equal(prev) {
		return
	}
	d.setObs(obs)
	switch {
	case !obs.WANExists && prev.WANExists:
		d.event(slog.LevelWarn, "WAN interface disappeared", "interface", d.cfg.WAN.Interface)
	case obs.WANExists && !prev.WANExists:
		d.event(slog.LevelInfo, "WAN interface appeared", "interface", d.cfg.WAN.Interface)
	}
	if !slices.Equal(obs.WANAddrs, prev.WANAddrs) {
		d.metrics.wanChanges.Inc()
		d.event(slog.LevelInfo, "WAN address changed", "old", fmtAddrs(prev.WANAddrs), "new", fmtAddrs(obs.WANAddrs))
	}
	if !slices.Equal(obs.WAN6, prev.WAN6) || !slices.Equal(obs.LAN6, prev.LAN6) {
		d.event(slog.LevelInfo, "IPv6 addresses changed", "wan", fmtAddrs(obs.WAN6), "lan", fmt.Sprint(obs.LAN6))
	}
	d.update(ctx, l, "interface change")
	d.roleFollows(ctx, prev, obs)
	if !slices.Equal(obs.WANAddrs, prev.WANAddrs) {
		d.feedUpstream()
		d.probeSoon()
	}
	d.classify()
	if !slices.Equal(obs.WANAddrs, prev.WANAddrs) {
		// Told after the rules are in: a notification never comes before the forwards it announces.
		d.tellFrom(notify.WANAddress, "", fmtAddrs(prev.WANAddrs), fmt.Sprintf("WAN address of %s is now %s", d.cfg.WAN.Interface, fmtAddrs(obs.WANAddrs)),
			"interface", d.cfg.WAN.Interface, "addresses", fmtAddrs(obs.WANAddrs))
		if l.discoverer != nil {
			l.discoverer.Forget() // a new WAN address usually means a new public address too
		}
		d.networkChanged()
		d.maybeDiscover(ctx, l)
		d.feedDDNS()
	}
}

// update installs the current plan the cheapest correct way: when only the WAN addresses or the addresses of
// allowed hostnames changed, only their sets are replaced.
func (d *Daemon) update(ctx context.Context, l *loop, why string) {
	d.takeForced()
	want := d.desired()
	d.mu.Lock()
	have := d.installed
	d.mu.Unlock()
	if have != nil && sameExceptWAN(have, want) && plan.SameGuardsExceptPrefixes(have, want) {
		if d.updateSets(ctx, have, want) {
			return
		}
	}
	d.applyFull(ctx, l, why)
}

// setWAN installs the WAN address set, with the record of an update in progress around the moment a crash
// would leave the old and the new addresses both forwarding (intent.go). added is when the new addresses
// were in, for the timing line of the debug log.
func (d *Daemon) setWAN(ctx context.Context, addrs []netip.Addr) (added time.Time, err error) {
	bctx, cancel := backendContext(ctx)
	defer cancel()
	two, ok := d.deps.Backend.(backend.TwoStepWAN)
	if !ok {
		d.recordIntent(addrs)
		if err := d.deps.Backend.SetWANAddrs(bctx, addrs); err != nil {
			return time.Time{}, err
		}
		d.clearIntent()
		return time.Now(), nil
	}
	if err := two.AddWANAddrs(bctx, addrs); err != nil {
		return time.Time{}, err
	}
	added = time.Now()
	d.recordIntent(addrs)
	if err := two.RetireWANAddrs(bctx, addrs); err != nil {
		return added, err
	}
	d.clearIntent()
	return added, nil
}

// updateSets installs the WAN and host set changes between have and want; false means a full apply is needed.
func (d *Daemon) updateSets(ctx context.Context, have, want *plan.Desired) bool {
	start := time.Now()
	if !slices.Equal(have.WANAddrs, want.WANAddrs) {
		added, err := d.setWAN(ctx, want.WANAddrs)
		d.metrics.change("wan_set", time.Since(start), err)
		if err != nil {
			d.event(slog.LevelWarn, "WAN set update failed; applying everything", "error", err)
			return false
		}
		// The debug line carries wall-clock times so that a benchmark can put the daemon's stages next to
		// the kernel's (BenchmarkReactionTime).
		d.log.Debug("WAN set timing", "addresses", fmtAddrs(want.WANAddrs), "sent", start, "added", added, "done", time.Now())
		d.event(slog.LevelInfo, "WAN address set updated", "addresses", fmtAddrs(want.WANAddrs), "took", time.Since(start).Round(time.Microsecond))
	}
	if !plan.Equal6(have.V6, want.V6) {
		// Both are non-nil (sameExceptWAN): the IPv6 table exists and only its content changes.
		u6, ok := d.deps.Backend.(backend.IPv6Updater)
		if !ok {
			return false
		}
		start6 := time.Now()
		bctx, cancel := backendContext(ctx)
		err := u6.SetIPv6(bctx, want.V6)
		cancel()
		d.metrics.change("ipv6_sets", time.Since(start6), err)
		if err != nil {
			d.event(slog.LevelWarn, "IPv6 set update failed; applying everything", "error", err)
			return false
		}
		d.log.Debug("IPv6 set timing", "addresses", fmtAddrs(want.V6.WANAddrs), "lan", fmt.Sprint(want.V6.LANNets), "sent", start6, "done", time.Now())
		d.event(slog.LevelInfo, "IPv6 sets updated", "addresses", fmtAddrs(want.V6.WANAddrs), "lan_prefixes", fmt.Sprint(want.V6.LANNets),
			"took", time.Since(start6).Round(time.Microsecond))
	}
	if changed := plan.ChangedHostSets(have, want); len(changed) > 0 {
		hu, ok := d.deps.Backend.(backend.HostUpdater)
		if !ok {
			return false
		}
		hstart := time.Now()
		bctx, cancel := backendContext(ctx)
		err := hu.SetAllowHosts(bctx, changed)
		cancel()
		d.metrics.change("allow_hosts", time.Since(hstart), err)
		if err != nil {
			d.event(slog.LevelWarn, "allowed host set update failed; applying everything", "error", err)
			return false
		}
		for _, s := range changed {
			var before []netip.Addr
			for _, h := range have.AllowSets {
				if h.ID == s.ID {
					before = h.HostAddrs
				}
			}
			d.event(slog.LevelInfo, "allowed host addresses updated", "set", s.ID, "addresses", len(s.HostAddrs), "change", addrChange(before, s.HostAddrs),
				"took", time.Since(hstart).Round(time.Microsecond))
		}
	}
	if changed := plan.ChangedPrefixSets(have, want); len(changed) > 0 {
		pu, ok := d.deps.Backend.(backend.PrefixUpdater)
		if !ok {
			return false
		}
		pstart := time.Now()
		bctx, cancel := backendContext(ctx)
		err := pu.SetAllowPrefixes(bctx, changed)
		cancel()
		if errors.Is(err, backend.ErrRulesChange) {
			return false // one rule per prefix length: a new or gone length is a full apply, as planned
		}
		d.metrics.change("allow_prefixes", time.Since(pstart), err)
		if err != nil {
			d.event(slog.LevelWarn, "allow list update in place failed; applying everything", "error", err)
			return false
		}
		for _, c := range changed {
			removed, added := plan.DiffPrefixes(c.From, c.To)
			d.event(slog.LevelInfo, "allow list updated in place", "set", c.ID, "prefixes", len(c.To), "added", len(added), "removed", len(removed),
				"took", time.Since(pstart).Round(time.Microsecond))
		}
	}
	d.installedNow(want, time.Since(start))
	return true
}

func (d *Daemon) applyFull(ctx context.Context, l *loop, why string) {
	d.takeForced()
	want := d.desired()
	start := time.Now()
	bctx, cancel := backendContext(ctx)
	apply := d.deps.Backend.Apply
	if r, ok := d.deps.Backend.(backend.Repairer); ok && why == "resync" {
		// The resync is what undoes hand edits, including those the backend's own records cannot see.
		apply = r.Repair
	}
	err := apply(bctx, want)
	cancel()
	took := time.Since(start)
	d.metrics.change("full", took, err)
	if err != nil {
		d.mu.Lock()
		d.installed, d.lastErr = nil, err.Error()
		d.mu.Unlock()
		l.retryWait = min(max(2*l.retryWait, time.Second), time.Minute)
		l.retry.Reset(l.retryWait)
		d.event(slog.LevelError, "applying rules failed; previous rules stay in force", "why", why, "error", err, "retry_in", l.retryWait)
		return
	}
	l.retryWait = 0
	d.clearIntent() // a full apply installs the whole WAN set
	d.installedNow(want, took)
	if why == "resync" {
		d.log.Debug("resync applied", "took", took)
		return
	}
	d.event(slog.LevelInfo, "rules applied", "why", why, "forwards", len(d.cfg.Forwards), "wan", fmtAddrs(want.WANAddrs),
		"double_nat", want.DoubleNAT, "took", took.Round(time.Microsecond))
}

func (d *Daemon) installedNow(p *plan.Desired, took time.Duration) {
	d.mu.Lock()
	prev := d.installed
	d.installed, d.lastGood, d.lastApply, d.lastApplyIn, d.lastErr = p, p, time.Now(), took, ""
	engine := d.ddns
	d.mu.Unlock()
	if engine != nil && (prev == nil || !plan.Equal6(prev.V6, p.V6)) {
		d.feedDDNS6(engine)
	}
}

func sameExceptWAN(a, b *plan.Desired) bool {
	return a.WANInterface == b.WANInterface && a.LANInterface == b.LANInterface && a.DoubleNAT == b.DoubleNAT &&
		a.Masquerade == b.Masquerade && slices.Equal(a.LANNets, b.LANNets) && slices.Equal(a.Rules, b.Rules) &&
		(a.V6 == nil) == (b.V6 == nil)
}

// fmtAddrs is a list of addresses for a log line, "none" when empty. Not inlined: a dozen log lines call it,
// and a copy of the conversion to fmt's argument at each grew the router build.
//
//go:noinline
func fmtAddrs(a []netip.Addr) string {
	if len(a) == 0 {
		return "none"
	}
	return fmt.Sprint(a)
}

// addrChange says how a sorted, unique list of addresses changed: each address when a few changed
// ("+192.0.2.7 -198.51.100.66"), counts otherwise ("+1000 -1000"), so a name that answers with new
// addresses at every lookup cannot fill the log and the status events.
func addrChange(before, after []netip.Addr) string {
	var added, removed []netip.Addr
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || i < len(before) && before[i].Less(after[j]):
			removed = append(removed, before[i])
			i++
		case i == len(before) || after[j].Less(before[i]):
			added = append(added, after[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(added)+len(removed) > 4 {
		return fmt.Sprintf("+%d -%d", len(added), len(removed))
	}
	var parts []string
	for _, a := range added {
		parts = append(parts, "+"+a.String())
	}
	for _, a := range removed {
		parts = append(parts, "-"+a.String())
	}
	return strings.Join(parts, " ")
}

// backendContext lets a change that has started finish even when the daemon is told to stop: a half-done
// apply is safe (transactions are atomic) but would log a misleading failure.
func backendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// startHosts starts following the hostnames of allow lists and waits for their first answers, so the first
// apply allows them. A backend that resolves names itself (RouterOS) gets none.
func (d *Daemon) startHosts(ctx context.Context) {
	if _, ok := d.deps.Backend.(backend.HostUpdater); !ok {
		return
	}
	lookup := d.deps.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
			d.mu.Lock()
			servers := d.cfg.Daemon.Resolver
			d.mu.Unlock()
			if len(servers) == 0 {
				servers = allowdns.SystemServers()
			}
			return allowdns.DNSLookup(servers)(ctx, host)
		}
	}
	r := allowdns.New(lookup, 0, func(msg string, attrs ...any) { d.event(slog.LevelWarn, msg, attrs...) })
	r.Start(ctx, plan.Hosts(d.cfg))
	d.mu.Lock()
	d.hosts = r
	d.mu.Unlock()
}
