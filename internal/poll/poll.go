// Package poll waits for a condition by asking it again: the one polling helper of the tests, the lab and the
// benchmarks, so that nothing sleeps as synchronisation.
package poll

import (
	"context"
	"fmt"
	"time"
)

// maxInterval caps the wait between two questions; the first ones come faster, so a condition that is
// nearly true costs little latency.
const maxInterval = 20 * time.Millisecond

// Until calls cond until it is true, within passes or ctx ends.
func Until(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true within %s", within)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, maxInterval)
	}
}

// TB is the part of testing.TB that Wait needs (this package does not import testing, the binary links it).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// DefaultWithin is how long Wait waits: generous, because CI machines are slow and shared.
const DefaultWithin = 10 * time.Second

// Wait fails the test when cond is not true within DefaultWithin.
func Wait(t TB, what string, cond func() bool) {
	t.Helper()
	if err := Until(context.Background(), DefaultWithin, cond); err != nil {
		t.Fatalf("timed out waiting for %s: %v", what, err)
	}
}
