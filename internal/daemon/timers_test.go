package daemon

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// The daemon's timers run in a synctest bubble: time is fake and moves only when every goroutine of the
// bubble waits, so minutes of retries and resyncs take microseconds and each step is exact.

var firstObs = plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}

// applies counts the Apply calls so far.
func applies(be *backend.Fake) int {
	n := 0
	for _, c := range be.Calls() {
		if c.Method == "Apply" {
			n++
		}
	}
	return n
}

// advance moves the bubble's clock by d and lets the daemon react.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// A failed apply is retried after 1s, 2s, 4s, ... (capped at a minute), the status says why meanwhile, and
// the first retry that succeeds ends the retries.
func TestFailedApplyRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &backend.Fake{}
		be.Fail(errors.New("nft said no"))
		h := startWith(t, baseConfig, firstObs, netip.Addr{}, be)
		synctest.Wait()
		if n := applies(be); n != 1 {
			t.Fatalf("%d applies at start, want 1", n)
		}
		st := h.d.Status(context.Background())
		if st.Installed || !strings.Contains(st.LastError, "nft said no") {
			t.Fatalf("status after a failed apply: installed %v, last error %q", st.Installed, st.LastError)
		}
		want := 1
		for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
			advance(wait - time.Millisecond)
			if n := applies(be); n != want {
				t.Fatalf("%d applies %s before the retry due, want %d", n, time.Millisecond, want)
			}
			advance(time.Millisecond)
			want++
			if n := applies(be); n != want {
				t.Fatalf("%d applies when the retry after %s is due, want %d", n, wait, want)
			}
		}
		be.Fail(nil)
		advance(16 * time.Second)
		if !h.d.Status(context.Background()).Installed {
			t.Fatal("the retry after the backend recovered did not install the rules")
		}
		done := applies(be)
		advance(4 * time.Minute) // below the 5 minute resync
		if n := applies(be); n != done {
			t.Errorf("%d more applies after a successful retry, want none", n-done)
		}
	})
}

// Every daemon.resync the whole plan is applied again, repairing anything edited behind the daemon's back.
func TestResyncAppliesAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, baseConfig+"daemon: {resync: 30s}\n", firstObs)
		synctest.Wait()
		for i := 1; i <= 3; i++ {
			advance(30 * time.Second)
			if n := applies(h.be); n != 1+i {
				t.Fatalf("%d applies after %d resync periods, want %d", n, i, 1+i)
			}
		}
	})
}

// A failed public-address lookup is asked again after publicRetryAfter, not at the next periodic check.
func TestPublicAddressRetriedAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		behind := func(a string) plan.Observed {
			return plan.Observed{WANExists: true, WANAddrs: []netip.Addr{netip.MustParseAddr(a)}, LANNets: []netip.Prefix{lan}}
		}
		h := startPublic(t, baseConfig, behind("192.168.1.2"), netip.MustParseAddr("198.51.100.7"))
		synctest.Wait()
		lookups := func() int {
			h.disc.mu.Lock()
			defer h.disc.mu.Unlock()
			return h.disc.calls
		}
		if n := lookups(); n != 1 {
			t.Fatalf("%d lookups at start behind a second NAT, want 1", n)
		}
		h.disc.mu.Lock()
		h.disc.err = errors.New("no answer")
		h.disc.mu.Unlock()
		h.obs <- behind("192.168.1.3") // a new WAN address asks again, and fails
		synctest.Wait()
		if n := lookups(); n != 2 {
			t.Fatalf("%d lookups after the WAN address changed, want 2", n)
		}
		advance(publicRetryAfter - time.Millisecond)
		if n := lookups(); n != 2 {
			t.Fatalf("%d lookups before the retry is due, want 2", n)
		}
		advance(time.Millisecond)
		if n := lookups(); n != 3 {
			t.Fatalf("%d lookups %s after the failure, want 3", n, publicRetryAfter)
		}
	})
}
