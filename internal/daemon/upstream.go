package daemon

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

// Upstream maps the forwards on the box in front (upstream.Manager in production).
type Upstream interface {
	Run(ctx context.Context)
	Set(local, gateway netip.Addr, wants []upstream.Want, dropped int)
	Changed() <-chan struct{}
	Status() upstream.Status
	External() netip.Addr
}

// upstreamRun is the running mapper and how to stop it.
type upstreamRun struct {
	m       Upstream
	cfg     config.Upstream
	stop    context.CancelFunc
	done    chan struct{}
	gateway func() (netip.Addr, error)
}

// startUpstream (re)starts the mapper when wan.upstream asks for one and its settings changed.
func (d *Daemon) startUpstream(ctx context.Context) {
	want := d.cfg.WAN.Upstream
	master := d.master()
	if d.up != nil && d.up.cfg == want && master {
		return
	}
	d.stopUpstream()
	if !want.Mode.Maps() || d.deps.NewUpstream == nil || !master {
		return
	}
	m, err := d.deps.NewUpstream(d.cfg)
	if err != nil {
		d.event(slog.LevelError, "upstream mapping disabled", "error", err)
		return
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run := &upstreamRun{m: m, cfg: want, stop: cancel, done: make(chan struct{}), gateway: d.deps.UpstreamGateway}
	go func() {
		defer close(run.done)
		m.Run(uctx)
	}()
	// The daemon's ctx ending stops the mapper too (which may delete its mappings on the way out).
	context.AfterFunc(ctx, cancel)
	d.mu.Lock()
	d.up = run
	d.mu.Unlock()
}

// stopUpstream stops the mapper and waits for it (its deletions at stop, if configured).
func (d *Daemon) stopUpstream() {
	d.mu.Lock()
	run := d.up
	d.up = nil
	d.upstream = UpstreamFacts{}
	d.mu.Unlock()
	if run == nil {
		return
	}
	run.stop()
	<-run.done
}

func (d *Daemon) upstreamChanged() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up == nil {
		return nil
	}
	return d.up.m.Changed()
}

// feedUpstream tells the mapper the WAN address, the gateway and the ports to map. Only behind a double NAT:
// with a public WAN address there is nothing in front to ask.
func (d *Daemon) feedUpstream() {
	d.mu.Lock()
	run := d.up
	var local netip.Addr
	for _, a := range d.obs.WANAddrs {
		if a = a.Unmap(); a.Is4() {
			local = a
			break
		}
	}
	doubleNAT := plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs)
	wants, dropped := upstream.Wants(d.cfg)
	gw := d.cfg.WAN.Upstream.Gateway
	d.mu.Unlock()
	if run == nil {
		return
	}
	if !doubleNAT {
		run.m.Set(netip.Addr{}, netip.Addr{}, nil, 0)
		return
	}
	if !gw.IsValid() && run.gateway != nil {
		var err error
		if gw, err = run.gateway(); err != nil {
			d.log.Warn("upstream: no gateway to ask", "error", err)
		}
	}
	run.m.Set(local, gw, wants, dropped)
}

// upstreamUpdated takes the mapper's news into the classification. The box's external address is the public
// address too, unless the user named public_ip sources: the box knows it without asking the internet.
func (d *Daemon) upstreamUpdated(ctx context.Context, l *loop) {
	d.mu.Lock()
	run := d.up
	d.mu.Unlock()
	if run == nil {
		return
	}
	st := run.m.Status()
	f := UpstreamFacts{Protocol: st.Protocol, Mapped: st.Mapped(), Wanted: len(st.Mappings), External: run.m.External(), CGNAT: st.CGNAT}
	if f.Mapped == 0 {
		f.Error = st.Error
		for _, m := range st.Mappings {
			if f.Error == "" && m.Message != "" {
				f.Error = m.Message
			}
		}
	}
	d.mu.Lock()
	changed, prevFacts := f != d.upstream, d.upstream
	d.upstream = f
	learn := f.External.IsValid() && ipclass.IsPublic(f.External) && f.External != d.public && len(d.cfg.WAN.PublicIP) == 0
	d.mu.Unlock()
	if learn {
		d.publicLearned(ctx, l, publicResult{addr: f.External, from: "the box in front (" + f.Protocol + ")"})
	}
	if changed {
		d.tellUpstream(prevFacts, f)
		d.classify()
		d.probeSoon()
	}
}
