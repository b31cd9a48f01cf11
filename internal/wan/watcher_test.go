package wan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSource is an in-memory kernel: tests change its interfaces and it emits events like netlink would.
type fakeSource struct {
	mu        sync.Mutex
	links     map[string]fakeLink
	sub       chan Event
	subFail   int // fail this many Subscribe calls
	listFail  int // fail this many List calls
	subscribe int // successful Subscribe calls
}

type fakeLink struct {
	index int
	state IfaceState
}

var _ Source = (*fakeSource)(nil)

func newFake() *fakeSource { return &fakeSource{links: make(map[string]fakeLink)} }

func (f *fakeSource) List(names []string) (Snapshot, map[int]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listFail > 0 {
		f.listFail--
		return nil, nil, errors.New("fake list failure")
	}
	snap := make(Snapshot)
	idx := make(map[int]string)
	for _, n := range names {
		l, ok := f.links[n]
		if !ok {
			snap[n] = IfaceState{}
			continue
		}
		snap[n] = l.state
		idx[l.index] = n
	}
	return snap, idx, nil
}

func (f *fakeSource) Subscribe(ctx context.Context) (<-chan Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subFail > 0 {
		f.subFail--
		return nil, errors.New("fake subscribe failure")
	}
	ch := make(chan Event, 100)
	f.sub = ch
	f.subscribe++
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.sub == ch {
			close(ch)
			f.sub = nil
		}
	}()
	return ch, nil
}

// set changes (or with exists false removes) an interface and emits an event for it.
func (f *fakeSource) set(name string, index int, st IfaceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.Exists {
		f.links[name] = fakeLink{index, st.normalise()}
	} else {
		delete(f.links, name)
	}
	f.emit(Event{Index: index, Name: name})
}

// setQuiet changes an interface without an event (a change the kernel reported while nobody listened).
func (f *fakeSource) setQuiet(name string, index int, st IfaceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[name] = fakeLink{index, st.normalise()}
}

func (f *fakeSource) emit(ev Event) {
	if f.sub != nil {
		f.sub <- ev
	}
}

func (f *fakeSource) event(ev Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emit(ev)
}

// lose ends the current subscription as an ENOBUFS would.
func (f *fakeSource) lose(subFail int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subFail = subFail
	if f.sub != nil {
		close(f.sub)
		f.sub = nil
	}
}

func (f *fakeSource) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscribe
}

func up(addrs ...string) IfaceState {
	st := IfaceState{Exists: true, Up: true}
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		st.Addrs = append(st.Addrs, p.Addr())
		st.Nets = append(st.Nets, p.Masked())
	}
	return st
}

func startWatch(t *testing.T, f *fakeSource, coalesce time.Duration, names ...string) <-chan Snapshot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, names, WatchOptions{Source: f, Coalesce: coalesce, Retry: time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	return ch
}

func expect(t *testing.T, ch <-chan Snapshot, want Snapshot) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed, want %v", want)
		}
		if !got.Equal(want) {
			t.Fatalf("snapshot\n got %v\nwant %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no snapshot within 5s, want %v", want)
	}
}

func TestWatchInitialAndLateInterface(t *testing.T) {
	f := newFake()
	f.setQuiet("lan0", 2, up("192.168.1.1/24"))
	ch := startWatch(t, f, time.Millisecond, "ppp0", "lan0")
	expect(t, ch, Snapshot{"ppp0": {}, "lan0": up("192.168.1.1/24")})

	// PPPoE comes up: the link appears, then gets its address.
	f.set("ppp0", 7, IfaceState{Exists: true})
	expect(t, ch, Snapshot{"ppp0": {Exists: true}, "lan0": up("192.168.1.1/24")})
	f.set("ppp0", 7, up("203.0.113.5/32"))
	expect(t, ch, Snapshot{"ppp0": up("203.0.113.5/32"), "lan0": up("192.168.1.1/24")})

	// And goes away again.
	f.set("ppp0", 7, IfaceState{})
	expect(t, ch, Snapshot{"ppp0": {}, "lan0": up("192.168.1.1/24")})
}

func TestWatchCoalescesBurst(t *testing.T) {
	f := newFake()
	f.setQuiet("wan0", 3, up("198.51.100.2/24"))
	// A generous window keeps the test deterministic; production uses milliseconds.
	ch := startWatch(t, f, 200*time.Millisecond, "wan0")
	expect(t, ch, Snapshot{"wan0": up("198.51.100.2/24")})

	f.set("wan0", 3, IfaceState{Exists: true, Up: true}) // old address deleted
	f.set("wan0", 3, up("198.51.100.9/24"))              // new one added
	expect(t, ch, Snapshot{"wan0": up("198.51.100.9/24")})
	// Had the intermediate state been sent, it would come before this one.
	f.set("wan0", 3, up("198.51.100.10/24"))
	expect(t, ch, Snapshot{"wan0": up("198.51.100.10/24")})
}

func TestWatchDropsDuplicatesAndUnrelated(t *testing.T) {
	f := newFake()
	f.setQuiet("wan0", 3, up("198.51.100.2/24"))
	ch := startWatch(t, f, time.Millisecond, "wan0")
	expect(t, ch, Snapshot{"wan0": up("198.51.100.2/24")})

	f.event(Event{Index: 3})                                // spurious: nothing changed
	f.set("eth9", 9, up("10.9.9.9/8"))                      // not watched
	f.set("wan0", 3, up("198.51.100.2/24", "192.0.2.7/24")) // real change
	expect(t, ch, Snapshot{"wan0": up("192.0.2.7/24", "198.51.100.2/24")})
}

func TestWatchRename(t *testing.T) {
	f := newFake()
	f.setQuiet("wan0", 3, up("198.51.100.2/24"))
	ch := startWatch(t, f, time.Millisecond, "wan0")
	expect(t, ch, Snapshot{"wan0": up("198.51.100.2/24")})

	// Renamed away: the event names the new name but carries the old index.
	f.mu.Lock()
	f.links["old0"] = f.links["wan0"]
	delete(f.links, "wan0")
	f.emit(Event{Index: 3, Name: "old0"})
	f.mu.Unlock()
	expect(t, ch, Snapshot{"wan0": {}})

	// Another interface renamed to the watched name.
	f.mu.Lock()
	f.links["wan0"] = fakeLink{4, up("192.0.2.1/24")}
	f.emit(Event{Index: 4, Name: "wan0"})
	f.mu.Unlock()
	expect(t, ch, Snapshot{"wan0": up("192.0.2.1/24")})
}

func TestWatchResubscribesAfterLoss(t *testing.T) {
	f := newFake()
	f.setQuiet("wan0", 3, up("198.51.100.2/24"))
	ch := startWatch(t, f, time.Millisecond, "wan0")
	expect(t, ch, Snapshot{"wan0": up("198.51.100.2/24")})

	// The kernel drops messages (one of them the change below), and re-subscribing fails twice.
	f.mu.Lock()
	f.listFail = 1
	f.mu.Unlock()
	f.setQuiet("wan0", 3, up("203.0.113.8/24"))
	f.lose(2)
	expect(t, ch, Snapshot{"wan0": up("203.0.113.8/24")})
	if n := f.subscriptions(); n != 2 {
		t.Errorf("successful subscriptions = %d, want 2", n)
	}
	// The new subscription works.
	f.set("wan0", 3, up("203.0.113.9/24"))
	expect(t, ch, Snapshot{"wan0": up("203.0.113.9/24")})
}

func TestWatchStartFailure(t *testing.T) {
	f := newFake()
	f.subFail = 1
	if _, err := Watch(context.Background(), []string{"wan0"}, WatchOptions{Source: f}); err == nil {
		t.Error("Watch succeeded although subscribing failed")
	}
	f.listFail = 1
	if _, err := Watch(context.Background(), []string{"wan0"}, WatchOptions{Source: f}); err == nil {
		t.Error("Watch succeeded although listing failed")
	}
}

func TestWatchClosesOnCancel(t *testing.T) {
	f := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, []string{"wan0"}, WatchOptions{Source: f})
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("got a snapshot after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

func TestPublishKeepsNewest(t *testing.T) {
	s0, s1, s2 := Snapshot{"w": {}}, Snapshot{"w": up("192.0.2.1/24")}, Snapshot{"w": up("192.0.2.2/24")}
	tests := []struct {
		name string
		read bool // the reader takes s0 before the rest is published
		publ []Snapshot
		want Snapshot // what the reader then finds; nil for nothing
	}{
		{"slow reader gets newest", false, []Snapshot{s1, s2}, s2},
		{"reader got s0, s1 then back to s0", true, []Snapshot{s1, s0}, nil},
		{"reader got s0, s1, s2", true, []Snapshot{s1, s2}, s2},
		{"duplicate dropped", true, []Snapshot{s1, s1}, s1},
		{"unread s0 then s1 then s0", false, []Snapshot{s1, s0}, s0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make(chan Snapshot, 1)
			w := &watcher{last: s0, out: out}
			w.opts.Logger = discard()
			out <- s0
			if tt.read {
				<-out
			}
			for _, s := range tt.publ {
				w.publish(s, time.Now())
			}
			var got Snapshot
			select {
			case got = <-out:
			default:
			}
			if !got.Equal(tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("reader finds %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRelevant(t *testing.T) {
	w := &watcher{watched: map[string]bool{"wan0": true}, index: map[int]string{3: "wan0"}}
	tests := []struct {
		ev   Event
		want bool
	}{
		{Event{}, true},
		{Event{Index: 3}, true},
		{Event{Index: 3, Name: "old0"}, true},
		{Event{Index: 4, Name: "wan0"}, true},
		{Event{Index: 4}, false},
		{Event{Index: 4, Name: "eth1"}, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := w.relevant(tt.ev); got != tt.want {
				t.Errorf("relevant(%+v) = %v, want %v", tt.ev, got, tt.want)
			}
		})
	}
}

func TestSnapshotChanged(t *testing.T) {
	a := Snapshot{"wan0": up("192.0.2.1/24"), "lan0": up("192.168.1.1/24")}
	b := Snapshot{"wan0": up("192.0.2.2/24"), "lan0": up("192.168.1.1/24"), "ppp0": {}}
	got := b.Changed(a)
	if len(got) != 2 || got[0] != "ppp0" || got[1] != "wan0" {
		t.Errorf("Changed = %v, want [ppp0 wan0]", got)
	}
	if s := b.String(); s != "lan0: up 192.168.1.1; ppp0: missing; wan0: up 192.0.2.2" {
		t.Errorf("String = %q", s)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestWatchGainGoesOutAtOnce: an added address is the daemon's hot path, so no timer may stand in front of
// it, however long the coalescing window. A loss waits for the window, so that an addition can join it.
func TestWatchGainGoesOutAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		change  IfaceState
		waitFor time.Duration // fake time that must pass before the snapshot goes out
	}{
		{"address added", up("198.51.100.2/24", "192.0.2.7/24"), 0},
		{"address replaced", up("192.0.2.7/24"), 0},
		{"address removed", IfaceState{Exists: true, Up: true}, time.Second},
		{"link down", IfaceState{Exists: true, Addrs: up("198.51.100.2/24").Addrs, Nets: up("198.51.100.2/24").Nets}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				f.setQuiet("wan0", 3, up("198.51.100.2/24"))
				ch := startWatch(t, f, time.Second, "wan0")
				<-ch
				f.set("wan0", 3, tt.change)
				synctest.Wait()
				if tt.waitFor > 0 {
					select {
					case s := <-ch:
						t.Fatalf("a loss went out before the coalescing window: %v", s)
					default:
					}
					time.Sleep(tt.waitFor)
					synctest.Wait()
				}
				select {
				case s := <-ch:
					if !s.Equal(Snapshot{"wan0": tt.change}) {
						t.Fatalf("got %v, want %v", s, tt.change)
					}
				default:
					t.Fatalf("no snapshot after %s of fake time", tt.waitFor)
				}
			})
		})
	}
}
