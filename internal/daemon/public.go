package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// discoverTimeout bounds one round over all sources.
const discoverTimeout = 15 * time.Second

// publicRetryAfter is the wait after a failed discovery; the discoverer's minimum interval (30s) caps how
// often sources are really asked anyway.
const publicRetryAfter = 31 * time.Second

// doubleNAT is the current verdict.
func (d *Daemon) doubleNAT() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs)
}

// discoveryWanted: the public address is worth asking for (see maybeDiscover). Without it the periodic
// lookup's ticker stays stopped, so an idle daemon on a plain router does not wake for it.
func (d *Daemon) discoveryWanted(l *loop) bool {
	return l.discoverer != nil && (d.doubleNAT() || len(d.cfg.WAN.PublicIP) > 0)
}

// maybeDiscover starts a public-address lookup when one is useful: behind a second NAT (the address must be
// added to the WAN set), or when the user listed sources explicitly (shown in status). The discoverer's own
// minimum interval keeps this polite however often it is called.
func (d *Daemon) maybeDiscover(ctx context.Context, l *loop) {
	if l.discoverOn || !d.discoveryWanted(l) {
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
	d.tellFrom(notify.PublicAddress, "", addrOrNone(prev), fmt.Sprintf("public address is now %s (learnt from %s)", res.addr, res.from),
		"address", res.addr.String(), "source", res.from)
	d.update(ctx, l, "public address change")
	d.classify()
	d.probeSoon()
	d.feedDDNS()
}

// ddnsAddress is the address hostnames should point at: an HA pair's WAN virtual address, the learned public
// address behind a second NAT, else the WAN interface's address.
func (d *Daemon) ddnsAddress() netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.cfg.HA; h != nil && h.WANAddress.IsValid() {
		return h.WANAddress // a pair's shared WAN: the address follows the master, the record stays
	}
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

// networkChanged tells the DNS engine that the WAN address moved, so that it drops connections bound to the
// old one (behind a second NAT the public address, and so SetAddress, may not change).
func (d *Daemon) networkChanged() {
	d.mu.Lock()
	engine := d.ddns
	d.mu.Unlock()
	if n, ok := engine.(interface{ NetworkChanged() }); ok {
		n.NetworkChanged()
	}
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
	d.feedDDNS6(engine)
}

// DDNS6 is a DDNS engine that also keeps AAAA records (ddns.Engine).
type DDNS6 interface {
	SetAddress6(addr netip.Addr)
}

// feedDDNS6 hands the engine the IPv6 address AAAA records get: the first address the installed plan's IPv6
// forwards answer on, and only while some forward is on IPv6; none otherwise, which leaves the records alone.
func (d *Daemon) feedDDNS6(engine DDNS) {
	e6, ok := engine.(DDNS6)
	if !ok {
		return
	}
	d.mu.Lock()
	var a netip.Addr
	if p := d.installed; p != nil && p.V6 != nil && len(p.V6.Rules) > 0 && len(p.V6.WANAddrs) > 0 {
		a = p.V6.WANAddrs[0]
	}
	d.mu.Unlock()
	e6.SetAddress6(a)
}

func addrOrNone(a netip.Addr) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}
