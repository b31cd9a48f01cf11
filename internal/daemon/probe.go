package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/probe"
)

// Prober asks a probe server to connect back to expect, the router's public address (probe.Client in
// production); an answer about any other address is an error.
type Prober interface {
	Probe(ctx context.Context, expect netip.Addr, ports []probe.Port) (*probe.Answer, error)
}

// probeDebounce lets a burst of changes (a WAN change, then the upstream mapping, then the public address)
// end in one probe.
var probeDebounce = 2 * time.Second

// ProbeStatus is the last probe as status shows it.
type ProbeStatus struct {
	Time    time.Time       `json:"time"`
	Address string          `json:"address,omitempty"` // the address the probe server connected to: the one expected
	Error   string          `json:"error,omitempty"`
	Results []ForwardProbed `json:"results,omitempty"`
}

// ForwardProbed is one TCP forward's outcome.
type ForwardProbed struct {
	Forward string `json:"forward"`
	Port    uint16 `json:"port"`
	Result  string `json:"result"`
	TookMS  int64  `json:"took_ms"`
}

// Unreachable counts the forwards the probe could not reach.
func (p *ProbeStatus) Unreachable() int {
	n := 0
	for _, r := range p.Results {
		if r.Result != probe.ResultOpen {
			n++
		}
	}
	return n
}

// probeRun is the probe's timer and result channel; only the loop goroutine touches it.
type probeRun struct {
	p       Prober
	cfg     config.Probe
	timer   *time.Timer
	results chan ProbeStatus
	busy    bool
	again   bool // a change came while a probe was running
}

func (d *Daemon) startProber() {
	if d.pr != nil {
		d.pr.timer.Stop()
	}
	d.pr = nil
	if d.cfg.WAN.Probe == nil || d.deps.NewProber == nil || !d.master() {
		return
	}
	p, err := d.deps.NewProber(d.cfg)
	if err != nil {
		d.event(slog.LevelError, "reachability probe disabled", "error", err)
		return
	}
	d.pr = &probeRun{p: p, cfg: *d.cfg.WAN.Probe, timer: time.NewTimer(time.Hour), results: make(chan ProbeStatus, 1)}
	d.probeSoon()
}

func (d *Daemon) probeTimer() <-chan time.Time {
	if d.pr == nil {
		return nil
	}
	return d.pr.timer.C
}

func (d *Daemon) probeResults() <-chan ProbeStatus {
	if d.pr == nil {
		return nil
	}
	return d.pr.results
}

// probeSoon probes after the debounce: something changed.
func (d *Daemon) probeSoon() {
	if d.pr == nil {
		return
	}
	if d.pr.busy {
		d.pr.again = true
		return
	}
	d.pr.timer.Reset(probeDebounce)
}

// startProbe asks the probe server about every TCP forward's first port.
func (d *Daemon) startProbe(ctx context.Context) {
	pr := d.pr
	if pr == nil || pr.busy {
		return
	}
	var ports []probe.Port
	var names []string
	d.mu.Lock()
	expect, experr := d.probeTarget()
	for _, f := range d.cfg.Forwards {
		if f.Protocol.Has(config.TCP) && len(ports) < probe.MaxPorts {
			ports = append(ports, probe.Port{Protocol: "tcp", Port: f.Port.First})
			names = append(names, f.Name)
		}
	}
	d.mu.Unlock()
	if len(ports) == 0 {
		return
	}
	pr.busy = true
	d.metrics.probes.Inc()
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st := ProbeStatus{Time: time.Now()}
		var a *probe.Answer
		err := experr
		if err == nil {
			a, err = pr.p.Probe(pctx, expect, ports)
		}
		if err != nil {
			st.Error = err.Error()
		} else {
			st.Address = a.Address
			for i, r := range a.Results {
				if i < len(names) && r.Port.Port == ports[i].Port {
					st.Results = append(st.Results, ForwardProbed{Forward: names[i], Port: r.Port.Port, Result: r.Result, TookMS: r.TookMS})
				}
			}
		}
		pr.results <- st
	}()
}

// probeTarget is the address the probe server must find the router at: the public address learned from the
// public_ip sources or the box in front, else the WAN address when it is public. d.mu is held.
func (d *Daemon) probeTarget() (netip.Addr, error) {
	switch {
	case d.public.IsValid():
		return d.public, nil
	case d.upstream.External.IsValid():
		return d.upstream.External, nil
	}
	for _, a := range d.obs.WANAddrs {
		if ipclass.IsPublic(a) {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("the public address is not known yet, so no probe answer could be checked against it (behind another NAT: set wan.public_ip or wan.upstream)")
}

func (d *Daemon) probed(st ProbeStatus) {
	pr := d.pr
	if pr == nil {
		return
	}
	pr.busy = false
	d.mu.Lock()
	prev := d.probeSt
	d.probeSt = &st
	d.mu.Unlock()
	d.tellProbe(prev, st)
	switch {
	case st.Error != "":
		if prev == nil || prev.Error != st.Error {
			d.event(slog.LevelWarn, "reachability probe failed", "error", st.Error)
		}
	case prev == nil || prev.Unreachable() != st.Unreachable() || prev.Error != "":
		level := slog.LevelInfo
		if st.Unreachable() > 0 {
			level = slog.LevelWarn
		}
		d.event(level, "reachability probe", "address", st.Address, "reachable", len(st.Results)-st.Unreachable(), "unreachable", st.Unreachable())
	}
	next := pr.cfg.Interval
	if pr.again {
		pr.again, next = false, probeDebounce
	}
	pr.timer.Reset(next)
}
