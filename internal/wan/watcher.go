package wan

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// IfaceState is what the daemon needs to know about one watched interface.
type IfaceState struct {
	// Exists is false while no interface has the name (not created yet, deleted, or renamed away).
	Exists bool
	// Up means administratively up and running (IFF_UP and IFF_RUNNING).
	Up bool
	// Addrs are the interface's IPv4 addresses, sorted.
	Addrs []netip.Addr
	// Nets are the subnets of Addrs, masked, sorted and without duplicates.
	Nets []netip.Prefix
	// Addrs6 are the interface's usable IPv6 addresses with their prefix length (2001:db8:1::1/64), sorted,
	// when IPv6 is watched: global and ULA only, and neither tentative (duplicate address detection still
	// running, or failed: the kernel does not use it yet) nor deprecated (its preferred lifetime is over,
	// as for the old prefix after renumbering: new connections no longer use it).
	Addrs6 []netip.Prefix
}

// Equal reports whether two states are the same.
func (s IfaceState) Equal(o IfaceState) bool {
	return s.Exists == o.Exists && s.Up == o.Up && slices.Equal(s.Addrs, o.Addrs) && slices.Equal(s.Nets, o.Nets) &&
		slices.Equal(s.Addrs6, o.Addrs6)
}

// String is a short form for logs: "missing", or "up 192.0.2.1/24".
func (s IfaceState) String() string {
	if !s.Exists {
		return "missing"
	}
	var b strings.Builder
	if s.Up {
		b.WriteString("up")
	} else {
		b.WriteString("down")
	}
	for _, a := range s.Addrs {
		b.WriteString(" ")
		b.WriteString(a.String())
	}
	for _, a := range s.Addrs6 {
		b.WriteString(" ")
		b.WriteString(a.String())
	}
	return b.String()
}

// Snapshot is the state of every watched interface, keyed by name. A watched name is always present, with
// Exists false when there is no such interface.
type Snapshot map[string]IfaceState

// Equal reports whether two snapshots hold the same names and states.
func (s Snapshot) Equal(o Snapshot) bool {
	return maps.EqualFunc(s, o, IfaceState.Equal)
}

// Changed lists, sorted, the names whose state differs between prev and s (including names only in one).
func (s Snapshot) Changed(prev Snapshot) []string {
	var out []string
	for name, st := range s {
		if p, ok := prev[name]; !ok || !p.Equal(st) {
			out = append(out, name)
		}
	}
	for name := range prev {
		if _, ok := s[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// String is a stable one-line form for logs.
func (s Snapshot) String() string {
	names := slices.Sorted(maps.Keys(s))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + s[n].String()
	}
	return strings.Join(parts, "; ")
}

// normalise sorts and de-duplicates addresses and subnets so that equal states compare equal.
func (s IfaceState) normalise() IfaceState {
	sort.Slice(s.Addrs, func(i, j int) bool { return s.Addrs[i].Less(s.Addrs[j]) })
	s.Addrs = slices.Compact(s.Addrs)
	sort.Slice(s.Nets, func(i, j int) bool { return comparePrefix(s.Nets[i], s.Nets[j]) < 0 })
	s.Nets = slices.Compact(s.Nets)
	sort.Slice(s.Addrs6, func(i, j int) bool { return comparePrefix(s.Addrs6[i], s.Addrs6[j]) < 0 })
	s.Addrs6 = slices.Compact(s.Addrs6)
	return s
}

// comparePrefix orders by address, then by length (netip.Prefix.Compare needs a newer Go than go.mod names).
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Event says that something about one interface may have changed. It is only a hint: the watcher re-lists the
// state after events and compares, so a spurious or imprecise event costs one list, never a wrong snapshot.
type Event struct {
	// Index is the interface index, 0 when unknown.
	Index int
	// Name is the interface's name when the event carries it (link events), "" otherwise.
	Name string
}

// Source is the operating-system boundary of the watcher: netlink on Linux, a fake in tests.
type Source interface {
	// List returns the current state of the named interfaces (every name present, Exists false when missing)
	// and, for the ones that exist, their index.
	List(names []string) (Snapshot, map[int]string, error)
	// Subscribe delivers change hints until ctx ends or the subscription is lost (for example the kernel
	// dropped messages with ENOBUFS); either way the channel is then closed. Events that happen after
	// Subscribe returns are never missed while the channel is open.
	Subscribe(ctx context.Context) (<-chan Event, error)
}

// WatchOptions tune Watch. The zero value watches the current network namespace through netlink.
type WatchOptions struct {
	// Source replaces the kernel (tests). Nil means netlink in NS.
	Source Source
	// NS is the network namespace to watch when Source is nil (an open /run/netns/NAME); nil means the
	// current one.
	NS *os.File
	// Coalesce is how long a change that only removes something waits for more events, so that "delete old
	// address, add new one" yields one snapshot. The wait restarts with each event but never exceeds
	// 10*Coalesce in total. A change that adds something is never held back. Default 2ms.
	Coalesce time.Duration
	// Retry is the first wait before re-subscribing after a failed subscription or list; it doubles up to
	// 5s. Default 50ms.
	Retry time.Duration
	// Logger receives subscription losses and retries. Nil discards.
	Logger *slog.Logger
	// IPv6 also watches the interfaces' IPv6 addresses (IfaceState.Addrs6); without it IPv6 address events
	// are ignored, so a router without IPv6 forwards never re-lists for them.
	IPv6 bool
}

const defaultCoalesce = 2 * time.Millisecond

// Watch reports the state of the named interfaces. The returned channel first receives the current
// snapshot, then a new snapshot each time the state of a watched interface changes; identical snapshots are
// never sent twice in a row. The channel holds only the latest snapshot: a slow reader skips intermediate
// states but always ends up with the newest one. The channel is closed when ctx ends.
//
// When the subscription is lost (an error from the kernel, such as ENOBUFS after an event burst), the watcher
// logs it, subscribes again, re-lists everything and sends a snapshot if anything changed in between; it
// retries with backoff while subscribing or listing fails. Watch itself fails only when the first
// subscription or list fails, so a daemon learns at start-up that watching cannot work at all.
func Watch(ctx context.Context, names []string, opts WatchOptions) (<-chan Snapshot, error) {
	w := &watcher{opts: opts, names: slices.Clone(names), watched: make(map[string]bool)}
	for _, n := range names {
		w.watched[n] = true
	}
	if w.opts.Source == nil {
		w.opts.Source = NetlinkSource{NS: opts.NS, IPv6: opts.IPv6}
	}
	if w.opts.Coalesce <= 0 {
		w.opts.Coalesce = defaultCoalesce
	}
	if w.opts.Retry <= 0 {
		w.opts.Retry = 50 * time.Millisecond
	}
	if w.opts.Logger == nil {
		w.opts.Logger = slog.New(slog.DiscardHandler)
	}
	subCtx, cancel := context.WithCancel(ctx)
	events, err := w.opts.Source.Subscribe(subCtx)
	if err != nil {
		cancel()
		return nil, errfmt.Errorf("subscribing to interface changes: %w", err)
	}
	// Subscribe before listing: a change between the two then shows up as an event instead of being lost.
	snap, idx, err := w.opts.Source.List(w.names)
	if err != nil {
		cancel()
		drain(events)
		return nil, errfmt.Errorf("listing interfaces: %w", err)
	}
	out := make(chan Snapshot, 1)
	out <- snap
	w.last, w.index = snap, idx
	w.out = out
	go w.run(ctx, cancel, events)
	return out, nil
}

type watcher struct {
	opts    WatchOptions
	names   []string
	watched map[string]bool
	last    Snapshot       // last snapshot put in out (read or not)
	seen    Snapshot       // what the reader held when last was put in out
	index   map[int]string // index -> name of watched interfaces in the last list
	out     chan Snapshot  // holds at most the newest unread snapshot
}

func (w *watcher) run(ctx context.Context, cancel context.CancelFunc, events <-chan Event) {
	defer close(w.out)
	defer func() { cancel(); drain(events) }()
	for {
		ev, ok := w.next(ctx, events)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			w.opts.Logger.Warn("interface watch lost; subscribing again and re-listing")
			cancel()
			drain(events)
			cancel, events = w.resubscribe(ctx)
			if events == nil {
				return
			}
			w.relist(ctx, time.Now(), false)
			continue
		}
		if !w.relevant(ev) {
			continue
		}
		if !w.settle(ctx, events, time.Now()) {
			continue // lost or ending: the next round handles it, then re-lists anyway
		}
	}
}

// next waits for an event; ok is false when the subscription ended.
func (w *watcher) next(ctx context.Context, events <-chan Event) (Event, bool) {
	select {
	case <-ctx.Done():
		return Event{}, false
	case ev, ok := <-events:
		return ev, ok
	}
}

// settle re-lists after an event and publishes what it finds. A state that gained something (an interface
// appeared or came up, an address or subnet was added) goes out at once: that is the daemon's hot path, and a
// timer there would add its whole length to every WAN change. A state that only lost something waits until
// the events have been quiet for Coalesce (at most 10*Coalesce in all), because "delete the old address,
// add the new one" first looks like a loss: waiting lets the addition join it, so the daemon sees one change
// instead of a removal followed by an addition. Losing an address a few milliseconds late is harmless; the
// rules for the old address simply forward a little longer.
//
// Events already queued are swallowed before each list, since one list covers them all. settle returns false
// when the subscription ended meanwhile.
func (w *watcher) settle(ctx context.Context, events <-chan Event, read time.Time) bool {
	var limit, quiet *time.Timer
	defer func() {
		if limit != nil {
			limit.Stop()
			quiet.Stop()
		}
	}()
	for {
		if !swallow(events) {
			return false
		}
		if w.relist(ctx, read, true) {
			return true
		}
		if limit == nil {
			limit = time.NewTimer(10 * w.opts.Coalesce)
			quiet = time.NewTimer(w.opts.Coalesce)
		} else {
			quiet.Reset(w.opts.Coalesce)
		}
		select {
		case <-ctx.Done():
			return false
		case <-limit.C:
			w.relist(ctx, read, false)
			return true
		case <-quiet.C:
			w.relist(ctx, read, false)
			return true
		case _, ok := <-events:
			if !ok {
				return false // run sees the closed channel next, re-subscribes and re-lists
			}
			read = time.Now()
		}
	}
}

// swallow takes every event already queued without waiting; false means the subscription ended.
func swallow(events <-chan Event) bool {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}

// relevant filters out events about interfaces that are not watched and were not watched in the last list
// (an address event carries only an index; a link event also carries the current name, which catches
// renames in both directions).
func (w *watcher) relevant(ev Event) bool {
	if ev.Index == 0 && ev.Name == "" {
		return true
	}
	if ev.Name != "" && w.watched[ev.Name] {
		return true
	}
	_, known := w.index[ev.Index]
	return known
}

// resubscribe retries with backoff until subscribing works or ctx ends (nil events).
func (w *watcher) resubscribe(ctx context.Context) (context.CancelFunc, <-chan Event) {
	wait := w.opts.Retry
	for {
		subCtx, cancel := context.WithCancel(ctx)
		events, err := w.opts.Source.Subscribe(subCtx)
		if err == nil {
			return cancel, events
		}
		cancel()
		w.opts.Logger.Warn("subscribing to interface changes failed; retrying", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return func() {}, nil
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// relist lists the state and queues it when it changed; read is when the event that led here was read, for
// the debug log that times each stage of a change. With gainsOnly, a state that only lost something is held
// back (relist returns false, and the caller waits for more events); otherwise it returns true. A failed list
// is retried with backoff, because the event that triggered it will not come again.
func (w *watcher) relist(ctx context.Context, read time.Time, gainsOnly bool) bool {
	wait := w.opts.Retry
	for {
		snap, idx, err := w.opts.Source.List(w.names)
		if err == nil {
			w.index = idx
			if gainsOnly && !snap.Equal(w.last) && !snap.gained(w.last) {
				return false
			}
			w.publish(snap, read)
			return true
		}
		w.opts.Logger.Warn("listing interfaces failed; retrying", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return true
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// gained reports whether s has anything prev lacks: an interface that appeared or came up, or an address or
// subnet that is new.
func (s Snapshot) gained(prev Snapshot) bool {
	for name, st := range s {
		p := prev[name]
		if st.Exists && !p.Exists || st.Up && !p.Up {
			return true
		}
		for _, a := range st.Addrs {
			if !slices.Contains(p.Addrs, a) {
				return true
			}
		}
		for _, n := range st.Nets {
			if !slices.Contains(p.Nets, n) {
				return true
			}
		}
		for _, a := range st.Addrs6 {
			if !slices.Contains(p.Addrs6, a) {
				return true
			}
		}
	}
	return false
}

// publish hands snap to the reader unless the reader already has the same state. An unread older snapshot
// is taken back first, so the reader always gets the newest state and never the same state twice in a row.
func (w *watcher) publish(snap Snapshot, read time.Time) {
	if snap.Equal(w.last) {
		return
	}
	readerHas := w.last
	select {
	case <-w.out:
		readerHas = w.seen // taken back unread: the reader still holds the one before
	default:
	}
	if snap.Equal(readerHas) {
		w.last = readerHas
		return
	}
	w.opts.Logger.Debug("interfaces changed", "changed", snap.Changed(w.last), "state", snap.String(),
		"event_read", read, "listed", time.Now())
	w.out <- snap // never blocks: only this goroutine sends and the buffer is empty
	w.seen, w.last = readerHas, snap
}

// drain empties a subscription channel until its producer closes it, so the producer never blocks forever.
func drain(events <-chan Event) {
	if events == nil {
		return
	}
	for range events {
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
