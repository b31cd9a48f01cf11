package allowdns

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeDNS answers from a table that tests change, and counts lookups.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	ttl     time.Duration
	fail    error
	lookups map[string]int
}

func (f *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[host]++
	if f.fail != nil {
		return nil, 0, f.fail
	}
	a, ok := f.answers[host]
	if !ok {
		return nil, 0, errors.New("NXDOMAIN")
	}
	return a, f.ttl, nil
}

func (f *fakeDNS) set(host string, ttl time.Duration, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl = ttl
	f.answers[host] = nil
	for _, a := range addrs {
		f.answers[host] = append(f.answers[host], netip.MustParseAddr(a))
	}
}

func (f *fakeDNS) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[host]
}

func newFake() *fakeDNS {
	return &fakeDNS{answers: map[string][]netip.Addr{}, lookups: map[string]int{}}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestFollowsTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("cam.example.net", 30*time.Second, "192.0.2.2", "192.0.2.1", "2001:db8::1")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 0, nil)
		r.Start(ctx, []string{"cam.example.net"})
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1", "192.0.2.2")) {
			t.Fatalf("after Start: %v, want the IPv4 addresses sorted", got)
		}
		f.set("cam.example.net", 30*time.Second, "198.51.100.9")
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1", "192.0.2.2")) {
			t.Fatalf("before the TTL ran out the old answer stays: %v", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case <-r.Changed():
		default:
			t.Fatal("no change signalled")
		}
		if got := r.Addrs()["cam.example.net"]; !reflect.DeepEqual(got, addrs("198.51.100.9")) {
			t.Fatalf("after the TTL: %v", got)
		}
	})
}

func TestTTLBounds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ttl     time.Duration
		over    time.Duration
		lookups int
	}{
		{"a TTL of 0 is raised to the minimum", 0, 10 * time.Second, 1 + int(10*time.Second/MinTTL)},
		{"a TTL of a week is cut to the maximum", 7 * 24 * time.Hour, 3*time.Hour + time.Second, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				f.set("a.example.net", tt.ttl, "192.0.2.1")
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				New(f.lookup, 0, nil).Start(ctx, []string{"a.example.net"})
				time.Sleep(tt.over)
				synctest.Wait()
				if got := f.count("a.example.net"); got != tt.lookups {
					t.Errorf("%d lookups in %s, want %d", got, tt.over, tt.lookups)
				}
			})
		})
	}
}

func TestGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("home.example.net", time.Minute, "192.0.2.1")
		var mu sync.Mutex
		var events []string
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 10*time.Minute, func(msg string, _ ...any) {
			mu.Lock()
			events = append(events, msg)
			mu.Unlock()
		})
		r.Start(ctx, []string{"home.example.net"})
		f.mu.Lock()
		f.fail = errors.New("SERVFAIL")
		f.mu.Unlock()
		time.Sleep(9 * time.Minute)
		synctest.Wait()
		if got := r.Addrs()["home.example.net"]; !reflect.DeepEqual(got, addrs("192.0.2.1")) {
			t.Fatalf("within the grace period the last addresses stay: %v", got)
		}
		st := r.Status()
		if len(st) != 1 || st[0].Error != "SERVFAIL" || st[0].KeepUntil.IsZero() {
			t.Errorf("status must say the name fails and until when its addresses are kept: %+v", st)
		}
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if got := r.Addrs()["home.example.net"]; len(got) != 0 {
			t.Fatalf("after the grace period the addresses go: %v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if last := events[len(events)-1]; !strings.Contains(last, "grace period is over") {
			t.Errorf("events: %q", events)
		}
		if !strings.Contains(events[0], "keeping its last addresses") {
			t.Errorf("the first failure must say the addresses are kept: %q", events)
		}
	})
}

func TestSetHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.set("a.example.net", time.Minute, "192.0.2.1")
		f.set("b.example.net", time.Minute, "192.0.2.2")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := New(f.lookup, 0, nil)
		r.Start(ctx, []string{"a.example.net"})
		r.SetHosts([]string{"b.example.net"})
		if got := r.Addrs(); len(got) != 1 || got["b.example.net"] == nil {
			t.Fatalf("after SetHosts: %v", got)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := f.count("a.example.net"); n != 1 {
			t.Errorf("a removed name is not looked up again: %d lookups", n)
		}
	})
}
