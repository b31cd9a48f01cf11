package wan

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netns"
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
}

// Equal reports whether two states are the same.
func (s IfaceState) Equal(o IfaceState) bool {
	return s.Exists == o.Exists && s.Up == o.Up && slices.Equal(s.Addrs, o.Addrs) && slices.Equal(s.Nets, o.Nets)
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
	slices.SortFunc(s.Addrs, netip.Addr.Compare)
	s.Addrs = slices.Compact(s.Addrs)
	slices.SortFunc(s.Nets, comparePrefix)
	s.Nets = slices.Compact(s.Nets)
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
	// NS is the network namespace to watch when Source is nil; nil means the current one.
	NS *netns.NsHandle
	// Coalesce is how long the watcher waits for more events after one arrives, so that "delete old address,
	// add new one" yields one snapshot. The wait restarts with each event but never exceeds 10*Coalesce in
	// total. Default 2ms; it adds directly to the reaction time of the daemon, so keep it tiny.
	Coalesce time.Duration
	// Retry is the first wait before re-subscribing after a failed subscription or list; it doubles up to
	// 5s. Default 50ms.
	Retry time.Duration
	// Logger receives subscription losses and retries. Nil discards.
	Logger *slog.Logger
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
		w.opts.Source = NetlinkSource{NS: opts.NS}
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
		return nil, fmt.Errorf("subscribing to interface changes: %w", err)
	}
	// Subscribe before listing: a change between the two then shows up as an event instead of being lost.
	snap, idx, err := w.opts.Source.List(w.names)
	if err != nil {
		cancel()
		drain(events)
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	out := make(chan Snapshot, 1)
	out <- snap
	w.last, w.index = snap, idx
	go w.run(ctx, cancel, events, out)
	return out, nil
}

type watcher struct {
	opts    WatchOptions
	names   []string
	watched map[string]bool
	last    Snapshot       // last snapshot put in out (read or not)
	seen    Snapshot       // what the reader held when last was put in out
	index   map[int]string // index -> name of watched interfaces in the last list
}

func (w *watcher) run(ctx context.Context, cancel context.CancelFunc, events <-chan Event, out chan Snapshot) {
	defer close(out)
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
			w.relist(ctx, out)
			continue
		}
		if !w.relevant(ev) {
			continue
		}
		if !w.coalesce(ctx, events) {
			continue // lost or ending: the next round handles it, then re-lists anyway
		}
		w.relist(ctx, out)
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

// coalesce swallows the events of a burst. It returns false when the subscription ended meanwhile.
func (w *watcher) coalesce(ctx context.Context, events <-chan Event) bool {
	limit := time.NewTimer(10 * w.opts.Coalesce)
	defer limit.Stop()
	quiet := time.NewTimer(w.opts.Coalesce)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-limit.C:
			return true
		case <-quiet.C:
			return true
		case _, ok := <-events:
			if !ok {
				// Put the closure back in view of run by reporting it; run re-lists after re-subscribing.
				return false
			}
			quiet.Reset(w.opts.Coalesce)
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

// relist lists the state and queues it when it changed. A failed list is retried with backoff, because the
// event that triggered it will not come again.
func (w *watcher) relist(ctx context.Context, out chan Snapshot) {
	wait := w.opts.Retry
	for {
		snap, idx, err := w.opts.Source.List(w.names)
		if err == nil {
			w.index = idx
			w.publish(snap, out)
			return
		}
		w.opts.Logger.Warn("listing interfaces failed; retrying", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// publish hands snap to the reader unless the reader already has the same state. An unread older snapshot
// is taken back first, so the reader always gets the newest state and never the same state twice in a row.
func (w *watcher) publish(snap Snapshot, out chan Snapshot) {
	if snap.Equal(w.last) {
		return
	}
	readerHas := w.last
	select {
	case <-out:
		readerHas = w.seen // taken back unread: the reader still holds the one before
	default:
	}
	if snap.Equal(readerHas) {
		w.last = readerHas
		return
	}
	w.opts.Logger.Debug("interfaces changed", "changed", snap.Changed(w.last), "state", snap.String())
	out <- snap // never blocks: only this goroutine sends and the buffer is empty
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
