package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

var (
	plainBinOnce sync.Once
	plainBin     string
)

// benchLab is a lab whose hairpin binary is built without the race detector, so the numbers are the
// product's, not the detector's.
func benchLab(b *testing.B, opts ...lab.Options) *lab.Topology {
	b.Helper()
	netnstest.NeedRoot(b, "network namespaces and nftables")
	benchBin(b)
	var opt lab.Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	opt.Prefix, opt.Bin = lab.RandomPrefix(), plainBin
	topo, err := lab.Build(context.Background(), opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(topo.Close)
	if err := topo.StartCameras(context.Background()); err != nil {
		b.Fatal(err)
	}
	return topo
}

func benchDaemon(b *testing.B, topo *lab.Topology, forwards string, flags ...string) (*exec.Cmd, *lab.SafeBuffer) {
	b.Helper()
	dir := b.TempDir()
	sock := filepath.Join(dir, "hairpin.sock")
	cfg := filepath.Join(dir, "hairpin.yaml")
	text := fmt.Sprintf("daemon: {status: %s}\nstate_dir: %s\nwan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n%s", sock, dir, forwards)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd, out, err := topo.Start(topo.Router, append([]string{"run", "-c", cfg}, flags...)...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lab.WaitDaemon(context.Background(), sock, 15*time.Second, lab.Installed); err != nil {
		b.Fatalf("daemon did not apply: %v\n%s", err, out.String())
	}
	return cmd, out
}

func nlAddr(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
}

// waitRetired connects from ns to target until the connection is refused: the address no longer forwards.
func waitRetired(ns, target string, within time.Duration) error {
	return waitConnect(ns, target, false, within, fmt.Sprintf("%s still forwards %s after the change", target, within))
}

// waitConnect tries to connect from ns to target until the outcome is accepted (or not), closing every
// connection with a reset so that no TIME_WAIT state piles up.
func waitConnect(ns, target string, accepted bool, within time.Duration, failure string) error {
	deadline := time.Now().Add(within)
	dial := netns.Dialer(ns)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		c, err := dial(ctx, "tcp4", target)
		cancel()
		if err == nil {
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		if (err == nil) == accepted {
			return nil
		}
		time.Sleep(200 * time.Microsecond) // pacing between attempts, not synchronisation
	}
	return errors.New(failure)
}

// BenchmarkDaemonIdle starts the daemon with 100 forwards and reports its resident memory and the CPU time
// it uses over 10 idle seconds (no busy polling means zero ticks).
func BenchmarkDaemonIdle(b *testing.B) {
	topo := benchLab(b)
	var fwd strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&fwd, "  - {name: fwd%d, port: %d, to: \"192.168.88.%d:80\"}\n", i, 10000+i, 180+i%4)
	}
	cmd, _ := benchDaemon(b, topo, fwd.String())
	pid := cmd.Process.Pid
	b.ResetTimer()
	cpu0 := cpuTicks(b, pid)
	time.Sleep(10 * time.Second) // the measurement window itself
	cpu1 := cpuTicks(b, pid)
	rss := rssKB(b, pid)
	b.StopTimer()
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(cpu1-cpu0), "cpu-ticks/10s")
	b.Logf("daemon with 100 forwards: RSS %.1f MB, CPU over 10 s idle: %d ticks (1 tick = 10 ms)", float64(rss)/1024, cpu1-cpu0)
	_ = cmd.Process.Signal(syscall.SIGTERM)
}

func cpuTicks(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

func rssKB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// netlinkIn opens a netlink handle in the named namespace, and returns it with the namespace's handle; both
// are closed when the benchmark ends.
func netlinkIn(b *testing.B, ns string) (*netlink.Handle, vnetns.NsHandle) {
	b.Helper()
	h, err := vnetns.GetFromName(ns)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nl.Close)
	return nl, h
}

// linkNamed finds a link through nl, or fails the benchmark.
func linkNamed(b *testing.B, nl *netlink.Handle, name string) netlink.Link {
	b.Helper()
	l, err := nl.LinkByName(name)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// flipWAN moves the router's WAN address from one of addrs to the other (change counts the flips) and returns
// the time from the new address's arrival to the first connection through it from the laptop, after checking
// that the old address no longer forwards.
func flipWAN(b *testing.B, topo *lab.Topology, nl *netlink.Handle, link netlink.Link, p *prober, addrs []netip.Addr, change int) time.Duration {
	b.Helper()
	old, next := addrs[change%2], addrs[(change+1)%2]
	if err := nl.AddrDel(link, nlAddr(old)); err != nil {
		b.Fatal(err)
	}
	if err := nl.AddrAdd(link, nlAddr(next)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	at, err := p.firstConnect(netip.AddrPortFrom(next, 8090), 10*time.Second)
	if err != nil {
		b.Fatalf("change %d: %v", change, err)
	}
	if err := waitRetired(topo.Laptop, net.JoinHostPort(old.String(), "8090"), 10*time.Second); err != nil {
		b.Fatalf("change %d: %v", change, err)
	}
	return at.Sub(start)
}
