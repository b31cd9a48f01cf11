package daemon

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

func TestNotifyReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := NotifyReady(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd got %q, %v; want READY=1", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := NotifyReady(); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nothing done", err)
	}
}

func TestWatchdogEvery(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"half of what systemd asked", "30000000", pid, 15 * time.Second},
		{"no WATCHDOG_PID", "2000000", "", time.Second},
		{"meant for another process", "30000000", "1", 0},
		{"no watchdog", "", "", 0},
		{"garbage", "30s", pid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			if got := WatchdogEvery(); got != tc.want {
				t.Errorf("WatchdogEvery() = %v, want %v", got, tc.want)
			}
		})
	}
}

// stuckBackend's SetWANAddrs blocks until release is closed: an event loop stuck in a change.
type stuckBackend struct {
	backend.Fake
	release chan struct{}
}

func (b *stuckBackend) SetWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	<-b.release
	return b.Fake.SetWANAddrs(ctx, addrs)
}

// TestWatchdogFromTheLoop: the watchdog is fed by the event loop, so it stops when the loop is stuck and
// systemd restarts the daemon.
func TestWatchdogFromTheLoop(t *testing.T) {
	var pings atomic.Int64
	be := &stuckBackend{release: make(chan struct{})}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) {
			d.WatchdogEvery = time.Millisecond
			d.Watchdog = func() { pings.Add(1) }
		})
	t.Cleanup(func() { close(be.release) }) // runs before the harness's cleanup waits for Run
	poll.Wait(t, "watchdog pings", func() bool { return pings.Load() >= 3 })

	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the loop is stuck in the WAN change", func() bool {
		n := pings.Load()
		time.Sleep(20 * time.Millisecond) // 20 ticks: a turning loop pings in this window
		return pings.Load() == n
	})
}
