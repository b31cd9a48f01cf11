package daemon

import (
	"context"
	"errors"
	"log/slog"
	"reflect"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// reloadRequest hands a config, already read and validated, to the loop.
type reloadRequest struct {
	cfg  *config.Config
	done chan error
}

// Reload reads the config again and hands it to the running loop. The file is read and validated here, in
// the caller's goroutine, so address changes keep being applied while a large or broken file is checked. An
// invalid config is reported and the running config stays in force. Reloads run one at a time.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloading.Lock()
	defer d.reloading.Unlock()
	if d.deps.PauseGC != nil {
		defer d.deps.PauseGC()()
	}
	d.mu.Lock()
	prev := d.cfg
	d.mu.Unlock()
	cfg, err := d.deps.Load(prev)
	if err != nil {
		d.event(slog.LevelError, "reload rejected; the running config stays in force", "error", err)
		d.tell(notify.Daemon, "config rejected", true, "reload rejected; the running config stays in force: "+err.Error(), "state", "config rejected")
		return err
	}
	req := reloadRequest{cfg: cfg, done: make(chan error, 1)}
	select {
	case d.reload <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := req.done
	select {
	case err := <-done:
		if err != nil {
			d.tell(notify.Daemon, "config rejected", true, "reload rejected; the running config stays in force: "+err.Error(), "state", "config rejected")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// doReload switches to cfg; on any error the running config stays.
func (d *Daemon) doReload(ctx context.Context, l *loop, cfg *config.Config) error {
	old := d.cfg
	if (d.deps.SameBackend != nil && !d.deps.SameBackend(old, cfg)) || cfg.Daemon.Status != old.Daemon.Status {
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
	// Restarting DDNS cancels updates in flight and resends; do it only when its settings changed.
	d.mu.Lock()
	obs := d.obs
	d.mu.Unlock()
	if !sameDDNS(old, cfg) || plan.Master(old, obs) != plan.Master(cfg, obs) {
		d.startDDNS(ctx)
	}
	if d.hosts != nil {
		d.hosts.SetHosts(plan.Hosts(cfg))
	}
	if !sameNotify(old, cfg) {
		d.startNotify(ctx)
	}
	d.event(slog.LevelInfo, "config reloaded", "forwards", len(cfg.Forwards))
	d.refreshControl(cfg)
	d.settle(ctx, l, "reload")
	return nil
}

// sameDDNS reports whether two configs give the same DDNS engine: the same entries (line numbers aside) and
// state directory.
func sameDDNS(a, b *config.Config) bool {
	return a.StateDir == b.StateDir && sameEntries(a.DDNS, b.DDNS, func(e provider.Entry) provider.Entry { e.Line = 0; return e })
}

// sameEntries reports whether two lists of config entries are equal once noLine has cleared what does not
// count (their line numbers).
func sameEntries[T any](a, b []T, noLine func(T) T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(noLine(a[i]), noLine(b[i])) {
			return false
		}
	}
	return true
}
