// Package notify tells people what happened: the daemon hands it events (the WAN address moved, a DNS update
// failed, a forward stopped answering), and it sends each to the targets of the config's notify: list that want
// it, shaped for the service behind the URL (a generic JSON webhook, ntfy, gotify, Discord, Slack, Telegram) or,
// for a healthchecks target, as a ping on each healthy resync and /fail when something is red.
//
// Delivery never blocks the caller: Send only files the event under a lock. Each target has its own worker, so a
// receiver that hangs or fails delays no other. A target keeps at most one pending message per subject (an event
// kind and what it is about), so its queue is bounded by construction. A subject's message waits Settle (2 s)
// for the rest of its burst (a WAN address is usually removed, then the new one added), and a subject sends at
// most once per Window: a WAN address flapping every second sends one message at once and one a minute later
// that says how many changes it sums up. Failed sends are retried with backoff; URLs, which often carry tokens, never appear in logs
// or status, only the scheme and host.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/secret"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// Event kinds, as the config's events: lists name them.
const (
	WANAddress    = "wan_address"
	PublicAddress = "public_address"
	DNSUpdated    = "dns_updated"
	DNSFailed     = "dns_failed"
	Reachability  = "reachability"
	ForwardDown   = "forward_down"
	ForwardUp     = "forward_up"
	Upstream      = "upstream"
	Daemon        = "daemon"
)

// Event is one thing that happened. Subject says what it is about (a hostname, a forward's name) so that
// events about different things are not merged: a down and an up of one forward are (the latest wins),
// two forwards are not.
type Event struct {
	Kind    string
	Subject string
	Time    time.Time
	Message string
	// From is the state before the event ("[203.0.113.10]"); a message summing up a burst says the state before
	// its first event.
	From string
	// Details are short facts for machines (the generic JSON format sends them all).
	Details map[string]string
	// Severe marks bad news (a failure, something down), which services show with a higher priority.
	Severe bool
}

// Options tune delivery; the zero value means the defaults.
type Options struct {
	// Window is the least time between two messages about one subject (default a minute).
	Window time.Duration
	// Settle is how long a subject's first message waits for the rest of its burst (default 2s; negative: not
	// at all).
	Settle time.Duration
	// Timeout bounds one HTTP request (default 10s).
	Timeout time.Duration
	// Retries is how many times a failed message is sent again (default 4), after Backoff, doubling (default
	// 2s).
	Retries int
	Backoff time.Duration
	// StopWait bounds how long Flush waits for the last messages (default 3s).
	StopWait time.Duration
	// Client sends the requests (default: one with Timeout and the system's certificates).
	Client *web.Client
	// Hostname names the router in messages (default os.Hostname).
	Hostname string
	Logger   *slog.Logger
}

// maxPending bounds a target's pending subjects: kinds times forwards and hostnames is small, but a config of
// thousands of forwards must not make a queue of thousands.
const maxPending = 64

// Notifier fans events out to the targets.
type Notifier struct {
	targets []*target
	opts    Options
	log     *slog.Logger
	wg      sync.WaitGroup
	// flushing sends what is pending without waiting for its burst to settle: the daemon is stopping.
	flushing atomic.Bool
}

// TargetStatus is one target as status shows it: never its URL, only the scheme and host.
type TargetStatus struct {
	Target    string    `json:"target"`
	Format    string    `json:"format"`
	Events    []string  `json:"events,omitempty"`
	Sent      uint64    `json:"sent"`
	Failed    uint64    `json:"failed"`
	Dropped   uint64    `json:"dropped,omitempty"`
	LastSent  time.Time `json:"last_sent,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// New reads the targets' URLs (from the config, a file or the environment) and checks them. Every bad entry is
// reported at once; nothing is sent before Start.
func New(entries []config.Notify, o Options) (*Notifier, error) {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	switch {
	case o.Settle == 0:
		o.Settle = 2 * time.Second
	case o.Settle < 0:
		o.Settle = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 4
	}
	if o.StopWait <= 0 {
		o.StopWait = 3 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.Client == nil {
		// No redirect is followed (web never does): one could lead plain http off the LAN, and a 3xx is
		// reported as the target's answer.
		o.Client = &web.Client{Timeout: o.Timeout, Proxy: web.ProxyFromEnvironment}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	n := &Notifier{opts: o, log: o.Logger}
	var errs []string
	for _, e := range entries {
		raw, err := readURL(e, o.Logger)
		if err == nil {
			err = config.CheckNotifyURL(raw)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("notify entry at line %d: %v", e.Line, err))
			continue
		}
		u, _ := url.Parse(raw)
		t := &target{n: n, entry: e, url: u, name: u.Scheme + "://" + u.Host, secrets: urlSecrets(u), wake: make(chan struct{}, 1),
			pending: map[string]*pendingMsg{}, last: map[string]time.Time{}}
		n.targets = append(n.targets, t)
	}
	if len(errs) > 0 {
		return nil, errfmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return n, nil
}

func readURL(e config.Notify, log *slog.Logger) (string, error) {
	switch {
	case e.URLFile != "":
		return secret.Read(e.URLFile, secret.Options{ConfigDir: e.ConfigDir, Owners: e.SecretOwners,
			Warn: func(msg string, args ...any) { log.Warn("notify: "+msg, args...) }})
	case e.URLEnv != "":
		v, ok := os.LookupEnv(e.URLEnv)
		if !ok || v == "" {
			return "", errfmt.Errorf("environment variable %s is not set or empty", e.URLEnv)
		}
		return strings.TrimSpace(v), nil
	}
	return e.URL, nil
}

// urlSecrets are the parts of u that may be tokens: every path segment and query value longer than a word.
// Scrubbing them (and the whole URL) from error texts keeps tokens out of logs whatever an error quotes.
func urlSecrets(u *url.URL) []string {
	out := []string{u.String()}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if len(seg) >= 8 {
			out = append(out, seg)
			if s, err := url.PathUnescape(seg); err == nil && s != seg {
				out = append(out, s)
			}
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
	}
	return out
}

// Start runs a worker per target until ctx ends; Wait returns when they have.
func (n *Notifier) Start(ctx context.Context) {
	if n == nil {
		return
	}
	for _, t := range n.targets {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			t.run(ctx)
		}()
	}
}

// Wait returns once every worker has stopped.
func (n *Notifier) Wait() {
	if n != nil {
		n.wg.Wait()
	}
}

// Flush gives the workers up to Options.StopWait to send what is due now (the daemon's "stopped" message).
func (n *Notifier) Flush() {
	if n == nil {
		return
	}
	deadline := time.Now().Add(n.opts.StopWait)
	n.flushing.Store(true)
	for _, t := range n.targets {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	for _, t := range n.targets {
		for time.Now().Before(deadline) {
			t.mu.Lock()
			busy := t.sending || t.dueNow(time.Now())
			t.mu.Unlock()
			if !busy {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Send files ev with every target that wants it. It never blocks on the network.
func (n *Notifier) Send(ev Event) {
	if n == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	for _, t := range n.targets {
		if t.entry.Format == "healthchecks" || !t.entry.Wants(ev.Kind) {
			continue
		}
		t.file(ev)
	}
}

// Heartbeat tells healthchecks targets the state after a resync: a ping while nothing is red, /fail with the
// reason when something is.
func (n *Notifier) Heartbeat(red bool, reason string) {
	if n == nil {
		return
	}
	for _, t := range n.targets {
		if t.entry.Format != "healthchecks" {
			continue
		}
		ev := Event{Kind: "heartbeat", Time: time.Now(), Message: reason, Severe: red}
		t.file(ev)
	}
}

// Status describes the targets, without their URLs.
func (n *Notifier) Status() []TargetStatus {
	if n == nil {
		return nil
	}
	out := make([]TargetStatus, 0, len(n.targets))
	for _, t := range n.targets {
		t.mu.Lock()
		out = append(out, TargetStatus{Target: t.name, Format: t.entry.Format, Events: t.entry.Events, Sent: t.sent, Failed: t.failed,
			Dropped: t.dropped, LastSent: t.lastSent, LastError: t.lastErr})
		t.mu.Unlock()
	}
	return out
}

// HasHeartbeat reports whether a target wants Heartbeat (format healthchecks).
func (n *Notifier) HasHeartbeat() bool {
	if n == nil {
		return false
	}
	for _, t := range n.targets {
		if t.entry.Format == "healthchecks" {
			return true
		}
	}
	return false
}
