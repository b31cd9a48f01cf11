package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// discoverTimeout bounds one round over all sources.
const discoverTimeout = 15 * time.Second

// publicRetryAfter is the wait after a failed discovery; the discoverer's minimum interval (30s) caps how
// often sources are really asked anyway.
var publicRetryAfter = 31 * time.Second

// doubleNAT is the current verdict.
func (d *Daemon) doubleNAT() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs)
}

// maybeDiscover starts a public-address lookup when one is useful: behind a second NAT (the address must be
// added to the WAN set), or when the user listed sources explicitly (shown in status). The discoverer's own
// minimum interval keeps this polite however often it is called.
func (d *Daemon) maybeDiscover(ctx context.Context, l *loop) {
	if l.discoverer == nil || l.discoverOn {
		return
	}
	if !d.doubleNAT() && len(d.cfg.WAN.PublicIP) == 0 {
		return
	}
	l.discoverOn = true
	disc := l.discoverer
	go func() {
		ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
		defer cancel()
		addr, from, err := disc.Discover(ctx)
		l.publicCh <- publicResult{addr, from, err}
	}()
}

func (d *Daemon) publicLearned(ctx context.Context, l *loop, res publicResult) {
	d.mu.Lock()
	prev, prevErr := d.public, d.publicErr
	if res.err != nil {
		d.publicErr = res.err.Error()
	} else {
		d.public, d.publicFrom, d.publicErr = res.addr, res.from, ""
	}
	d.mu.Unlock()
	if res.err != nil {
		l.publicRetry.Reset(publicRetryAfter)
		if res.err.Error() != prevErr {
			d.event(slog.LevelWarn, "public address unknown", "error", res.err)
		}
		return
	}
	if res.addr == prev {
		return
	}
	d.metrics.publicChanges.Inc()
	d.event(slog.LevelInfo, "public address learned", "address", res.addr, "source", res.from, "double_nat", d.doubleNAT())
	d.update(ctx, l, "public address change")
	d.feedDDNS()
}

// ddnsAddress is the address hostnames should point at: the learned public address behind a second NAT,
// else the WAN interface's address.
func (d *Daemon) ddnsAddress() netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	if plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs) {
		if d.public.IsValid() {
			return d.public
		}
		return d.obs.Public
	}
	if d.obs.Public.IsValid() {
		return d.obs.Public
	}
	if len(d.obs.WANAddrs) > 0 {
		return d.obs.WANAddrs[0]
	}
	return netip.Addr{}
}

func (d *Daemon) feedDDNS() {
	d.mu.Lock()
	engine := d.ddns
	d.mu.Unlock()
	if engine == nil {
		return
	}
	if a := d.ddnsAddress(); a.IsValid() {
		engine.SetAddress(a)
	}
}

// doReload reads the config again; on any error the running config stays.
func (d *Daemon) doReload(ctx context.Context, l *loop) error {
	cfg, err := d.deps.Load()
	if err != nil {
		d.event(slog.LevelError, "reload rejected; the running config stays in force", "error", err)
		return err
	}
	old := d.cfg
	if cfg.Backend != old.Backend || !sameRouterOS(cfg.RouterOS, old.RouterOS) || cfg.Daemon.Status != old.Daemon.Status {
		err := errors.New("the backend, the routeros connection and daemon.status change only with a restart (systemctl restart hairpin)")
		d.event(slog.LevelError, "reload rejected; the running config stays in force", "error", err)
		return err
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	if cfg.WAN.Interface != old.WAN.Interface || cfg.LAN.Interface != old.LAN.Interface {
		l.stopObs()
		if err := d.startObserver(ctx, l); err != nil {
			d.mu.Lock()
			d.cfg = old
			d.mu.Unlock()
			_ = d.startObserver(ctx, l)
			d.event(slog.LevelError, "reload rejected; the running config stays in force", "error", err)
			return err
		}
		select {
		case obs := <-l.obsCh:
			d.setObs(obs)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := d.setupPublic(l); err != nil {
		d.event(slog.LevelError, "public address sources", "error", err)
	}
	d.startDDNS(ctx)
	d.event(slog.LevelInfo, "config reloaded", "forwards", len(cfg.Forwards))
	d.applyFull(ctx, l, "reload")
	d.maybeDiscover(ctx, l)
	d.feedDDNS()
	return nil
}

func sameRouterOS(a, b *config.RouterOS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
