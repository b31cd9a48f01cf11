package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// startNotify builds the notifier of the config's notify: list, replacing one that ran before. An entry whose
// URL cannot be read or is not allowed disables notifications, with an event saying why: a half-configured
// list would stay silent about exactly what the user wanted to hear.
func (d *Daemon) startNotify(ctx context.Context) {
	d.retireNotify()
	if len(d.cfg.Notify) == 0 {
		return
	}
	o := d.deps.NotifyOptions
	o.Logger = d.log
	n, err := notify.New(d.cfg.Notify, o)
	if err != nil {
		d.event(slog.LevelError, "notifications disabled", "error", err)
		return
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.Start(nctx)
	d.mu.Lock()
	d.notifier, d.notifyStop = n, cancel
	d.mu.Unlock()
}

// stopNotify stops the running notifier; with flush, after up to a few seconds for what is pending to go out.
func (d *Daemon) stopNotify(flush bool) {
	n, stop := d.takeNotifier()
	if n == nil {
		return
	}
	if flush {
		n.Flush()
	}
	stop()
}

// retireNotify stops the running notifier once it has sent what is pending (up to a few seconds), without
// holding up the loop: a reload replaced the notify: list.
func (d *Daemon) retireNotify() {
	n, stop := d.takeNotifier()
	if n == nil {
		return
	}
	go func() {
		n.Flush()
		stop()
	}()
}

func (d *Daemon) takeNotifier() (*notify.Notifier, context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, stop := d.notifier, d.notifyStop
	d.notifier, d.notifyStop = nil, nil
	return n, stop
}

func sameNotify(a, b *config.Config) bool {
	return sameEntries(a.Notify, b.Notify, func(n config.Notify) config.Notify { n.Line = 0; return n })
}

// tell hands an event to the notifier; it never blocks.
func (d *Daemon) tell(kind, subject string, severe bool, msg string, details ...string) {
	d.send(notify.Event{Kind: kind, Subject: subject, Message: msg, Severe: severe}, details)
}

// tellFrom is tell for a change of state: from is the state before it, which a message summing up a burst
// takes from the burst's first event.
func (d *Daemon) tellFrom(kind, subject, from, msg string, details ...string) {
	d.send(notify.Event{Kind: kind, Subject: subject, Message: msg, From: from}, details)
}

func (d *Daemon) send(ev notify.Event, details []string) {
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	if n == nil {
		return
	}
	if len(details) > 0 {
		ev.Details = map[string]string{}
		for i := 0; i+1 < len(details); i += 2 {
			ev.Details[details[i]] = details[i+1]
		}
	}
	n.Send(ev)
}

// heartbeat tells healthchecks targets how things stand after a resync.
func (d *Daemon) heartbeat(ctx context.Context) {
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	if n == nil || !n.HasHeartbeat() {
		return
	}
	v := d.Status(ctx).Verdict
	n.Heartbeat(v.Level == Red, v.Reason)
}

// ddnsResult turns a DNS update's outcome into dns_updated or dns_failed.
func (d *Daemon) ddnsResult(r ddns.Result) {
	name := r.Hostname
	if r.Family == "ipv6" {
		name += " (AAAA)"
	}
	details := []string{"hostname", r.Hostname, "provider", r.Provider, "address", r.Address.String()}
	// The engine logs each result itself; the events of status record them too.
	switch {
	case r.OK:
		msg := fmt.Sprintf("%s now points at %s (%s)", name, r.Address, r.Provider)
		d.record("dynamic DNS: " + msg)
		d.tell(notify.DNSUpdated, name, false, msg, details...)
	case r.Held:
		msg := fmt.Sprintf("%s: updates HELD until the config changes: %s", name, r.Error)
		d.record("dynamic DNS: " + msg)
		d.tell(notify.DNSFailed, name, true, msg, append(details, "held", "true", "error", r.Error)...)
	default:
		msg := fmt.Sprintf("%s: update to %s failed: %s", name, r.Address, r.Error)
		if !r.NextRetry.IsZero() {
			msg += "; next try at " + r.NextRetry.UTC().Format(time.RFC3339)
		}
		d.record("dynamic DNS: " + msg)
		d.tell(notify.DNSFailed, name, true, msg, append(details, "error", r.Error)...)
	}
}

// tellReachability reports a changed verdict of one family; the first verdict is news only when it is bad.
func (d *Daemon) tellReachability(prev, v reach.Verdict) {
	if v.Class == "" || (v.Class == prev.Class && v.Upstream == prev.Upstream) {
		return
	}
	if prev.Class == "" && !v.Class.Unreachable() {
		return
	}
	msg := fmt.Sprintf("%s reachability: %s: %s", v.Family, v.String(), v.Reason)
	if v.Advice != "" {
		msg += " Next step: " + v.Advice
	}
	d.tell(notify.Reachability, v.Family, v.Class.Unreachable() || v.Upstream == reach.UnknownMapped, msg,
		"family", v.Family, "class", string(v.Class), "previous", string(prev.Class))
}

// tellProbe reports forwards whose probe result changed; on the first probe, those that do not answer.
func (d *Daemon) tellProbe(prev *ProbeStatus, st ProbeStatus) {
	if st.Error != "" {
		return
	}
	before := map[string]string{}
	if prev != nil {
		for _, r := range prev.Results {
			before[r.Forward] = r.Result
		}
	}
	for _, r := range st.Results {
		was, seen := before[r.Forward]
		open := r.Result == probe.ResultOpen
		switch {
		case !open && (!seen || was == probe.ResultOpen):
			d.tell(notify.ForwardDown, r.Forward, true, fmt.Sprintf("forward %s (tcp port %d) does not answer from the internet: %s (probed at %s)", r.Forward, r.Port, r.Result, st.Address),
				"forward", r.Forward, "port", fmt.Sprint(r.Port), "result", r.Result, "address", st.Address)
		case open && seen && was != probe.ResultOpen:
			d.tell(notify.ForwardUp, r.Forward, false, fmt.Sprintf("forward %s (tcp port %d) answers from the internet again (probed at %s)", r.Forward, r.Port, st.Address),
				"forward", r.Forward, "port", fmt.Sprint(r.Port), "result", r.Result, "address", st.Address)
		}
	}
}

// tellUpstream reports the box in front losing or taking the mappings.
func (d *Daemon) tellUpstream(prev, f UpstreamFacts) {
	switch {
	case f.Mapped == 0 && prev.Mapped > 0:
		d.tell(notify.Upstream, "", true, fmt.Sprintf("the box in front no longer forwards the ports: %s", f.Error), "mapped", "0", "wanted", fmt.Sprint(f.Wanted), "error", f.Error)
	case f.Mapped > 0 && prev.Mapped == 0:
		d.tell(notify.Upstream, "", false, fmt.Sprintf("the box in front forwards %d of %d ports (%s)", f.Mapped, f.Wanted, f.Protocol),
			"mapped", fmt.Sprint(f.Mapped), "wanted", fmt.Sprint(f.Wanted), "protocol", f.Protocol)
	}
}
