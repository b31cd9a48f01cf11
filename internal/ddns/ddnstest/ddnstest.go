// Package ddnstest holds what tests of the dynamic-DNS engine share, in internal/ddns and beside each
// provider in internal/ddns/providers/<name>: a clock that moves when told, a logger whose output a test can
// read, secrets in files of the test's own, and checks that no secret leaked.
package ddnstest

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
)

// UserAgent is what tests build engines with.
const UserAgent = "hairpin/test github.com/hairpin-nat/hairpin"

// FakeClock is a ddns.Clock whose time moves only when the test says so. It counts After calls, which tells
// a test that a worker has finished an attempt and gone back to waiting.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	afters  int
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock starts at a fixed time.
func NewFakeClock() *FakeClock {
	return &FakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now implements ddns.Clock.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements ddns.Clock.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.afters++
	return ch
}

// Afters counts the After calls so far.
func (c *FakeClock) Afters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.afters
}

// Advance moves the clock and fires every wait that is due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
}

// LogBuf captures slog output so tests can assert what was (and was not) logged.
type LogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// NewLogger logs at debug level into a LogBuf, shown when the test fails.
func NewLogger(t *testing.T) (*slog.Logger, *LogBuf) {
	t.Helper()
	lb := &LogBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// AssertNoSecret fails if any secret shows in the log or the status.
func AssertNoSecret(t *testing.T, lb *LogBuf, e *ddns.Engine, secrets ...string) {
	t.Helper()
	var status strings.Builder
	if e != nil {
		for _, s := range e.Status() {
			status.WriteString(s.Reason + s.Answer + s.LastError + "\n")
		}
	}
	for _, sec := range secrets {
		if strings.Contains(lb.String(), sec) {
			t.Errorf("secret %q appears in the log", sec)
		}
		if strings.Contains(status.String(), sec) {
			t.Errorf("secret %q appears in the status", sec)
		}
	}
}

// WriteSecret puts a secret in a 0600 file of the test's own.
func WriteSecret(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// RunEngine runs e until the test ends, or until the returned function is called.
func RunEngine(t *testing.T, e *ddns.Engine) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return sync.OnceFunc(stop)
}

// Force sends addr now, whatever was sent before.
func Force(t *testing.T, e *ddns.Engine, addr netip.Addr) error {
	t.Helper()
	e.SetAddress(addr)
	return e.ForceUpdate(context.Background())
}
