package daemon

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Reload asks the running loop to read the config again. An invalid config is reported and the running
// config stays in force.
func (d *Daemon) Reload(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case d.reload <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
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
	if d.hosts != nil {
		d.hosts.SetHosts(plan.Hosts(cfg))
	}
	d.event(slog.LevelInfo, "config reloaded", "forwards", len(cfg.Forwards))
	d.applyFull(ctx, l, "reload")
	d.startUpstream(ctx)
	d.feedUpstream()
	d.classify()
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
