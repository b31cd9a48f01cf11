package daemon

import (
	"context"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// master reports whether this router acts for an HA pair towards the outside now: it holds the LAN virtual
// address (always true without ha:). Only the master publishes dynamic DNS, maps ports upstream and probes;
// both routers keep the same rules.
func (d *Daemon) master() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return plan.Master(d.cfg, d.obs)
}

// roleFollows starts or stops what only the master does when an observation moved the LAN virtual address
// to or from this router. A new master publishes at once: DDNS starts with the address of its own WAN (or
// the shared WAN address), and a backup's engine is not merely quiet but not running, so no state file
// can make it send.
func (d *Daemon) roleFollows(ctx context.Context, prev, obs plan.Observed) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	was, is := plan.Master(cfg, prev), plan.Master(cfg, obs)
	if cfg.HA == nil || was == is {
		return
	}
	if is {
		d.event(slog.LevelInfo, "HA: this router is the master; publishing DNS, mapping upstream and probing", "lan_address", cfg.HA.LANAddress)
	} else {
		d.event(slog.LevelInfo, "HA: this router is the backup; its rules stay, the master publishes", "lan_address", cfg.HA.LANAddress)
	}
	d.startDDNS(ctx)
	d.feedDDNS()
	d.publishAsMaster()
	d.startUpstream(ctx)
	d.feedUpstream()
	d.startProber()
}

// publishAsMaster sends the master's address now, whatever the state file says: the other router may have
// published its own since this router last did, so "the last address I sent" is no evidence of what the
// record holds. The update runs under the engine's context, so a router that turns backup meanwhile stops it.
func (d *Daemon) publishAsMaster() {
	d.mu.Lock()
	engine, ctx, ha := d.ddns, d.ddnsCtx, d.cfg.HA != nil
	d.mu.Unlock()
	f, ok := engine.(forcer)
	if !ha || !ok || ctx == nil || !d.master() {
		return
	}
	go func() {
		if err := f.ForceUpdate(ctx); err != nil && ctx.Err() == nil {
			d.event(slog.LevelWarn, "HA: publishing as the new master failed; the engine retries", "error", err)
		}
	}()
}
