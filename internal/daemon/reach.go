package daemon

import (
	"log/slog"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// UpstreamFacts is what the upstream mapper learned from the box in front, for the classification.
type UpstreamFacts struct {
	Protocol string
	Mapped   int
	Wanted   int
	External netip.Addr
	Error    string
	CGNAT    string
}

// classify recomputes the reachability verdict from what the daemon knows now. A change is an event, and
// dynamic DNS withholds the address while the internet cannot reach it.
func (d *Daemon) classify() {
	var dslite bool
	var why string
	if d.deps.DetectDSLite != nil {
		var err error
		if dslite, why, err = d.deps.DetectDSLite(); err != nil {
			d.log.Debug("DS-Lite detection", "error", err)
		}
	}
	d.mu.Lock()
	f := reach.Facts{
		WANAddrs:      d.obs.WANAddrs,
		DoubleNAT:     plan.IsDoubleNAT(d.cfg.WAN.DoubleNAT, d.obs.WANAddrs),
		DSLite:        dslite,
		DSLiteWhy:     why,
		UpstreamOn:    d.cfg.WAN.Upstream.Mode.String(),
		Public:        d.public,
		Protocol:      d.upstream.Protocol,
		Mapped:        d.upstream.Mapped,
		Wanted:        d.upstream.Wanted,
		External:      d.upstream.External,
		UpstreamCGNAT: d.upstream.CGNAT,
		UpstreamError: d.upstream.Error,
	}
	forwards6 := 0
	for _, fw := range d.cfg.Forwards {
		if fw.To6.IsValid() {
			forwards6++
		}
	}
	var v6 reach.Verdict
	if reach.GlobalIPv6(d.obs.WAN6).IsValid() || forwards6 > 0 {
		v6 = reach.Classify6(d.obs.WAN6, forwards6)
	}
	v := reach.WithIPv6(reach.Classify(f), v6)
	engine := d.ddns
	d.mu.Unlock()
	// DNS first: once status shows a verdict, dynamic DNS already acts on it.
	if w, ok := engine.(interface{ Withhold(string) }); ok {
		reason := ""
		if v.Class.Unreachable() {
			reason = string(v.Class) + ": " + v.Reason
		}
		w.Withhold(reason)
	}
	d.mu.Lock()
	prev, prev6 := d.verdict, d.verdict6
	d.verdict, d.verdict6 = v, v6
	d.mu.Unlock()
	d.tellReachability(prev, v)
	d.tellReachability(prev6, v6)
	if v6.Class != prev6.Class && v6.Class != "" {
		attrs := []any{"family", v6.Family, "class", v6.String(), "reason", v6.Reason}
		if v6.Advice != "" {
			attrs = append(attrs, "next_step", v6.Advice)
		}
		d.event(slog.LevelInfo, "reachability", attrs...)
	}
	if v.Class == prev.Class && v.Upstream == prev.Upstream {
		return
	}
	level := slog.LevelInfo
	if v.Class.Unreachable() || v.Upstream == reach.UnknownMapped {
		level = slog.LevelWarn
	}
	attrs := []any{"family", v.Family, "class", v.String(), "reason", v.Reason}
	if v.Advice != "" {
		attrs = append(attrs, "next_step", v.Advice)
	}
	if v.Class.Unreachable() {
		attrs = append(attrs, "ddns", "A records withheld (publish: always overrides)")
	}
	d.event(level, "reachability", attrs...)
}

// Verdict is the current IPv4 reachability classification.
func (d *Daemon) Verdict() reach.Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verdict
}
