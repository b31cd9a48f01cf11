package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// ProbeFloodOptions size the probe-server flood.
type ProbeFloodOptions struct {
	Rounds   int // rounds of the flood (4 in the report that found it)
	Requests int // unsigned POSTs per round, each from an address of its own (15,000)
	Workers  int
}

// ProbeFlood floods `hairpin probe-server` on loopback with unsigned POSTs, each from a 127.x.y.z address of
// its own, round after round, and measures each round's throughput, the server's CPU time per request and its
// resident memory. The normal case is the first round against the fresh server (throughput, CPU) and the
// server's memory before the flood: a limiter that remembers every caller and scans them got slower and larger
// round by round (8,115 -> 1,010 requests/s, 0.07 -> 0.93 ms of CPU per request, 15.6 -> 36.9 MB). Targets:
// every round at least half the first's throughput, at most twice its CPU per request, memory at most twice
// the idle server's.
func ProbeFlood(ctx context.Context, bin string, opt ProbeFloodOptions, logf func(string, ...any)) ([]Row, error) {
	dir, err := os.MkdirTemp("", "hairpin-bench-probe-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secretFile := filepath.Join(dir, "probe.secret")
	if err := os.WriteFile(secretFile, []byte("bench probe secret\n"), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	// Plain http on loopback, as `hairpin check` allows it there; the server's log goes nowhere (a line per
	// refused request would measure the terminal).
	cmd := exec.Command(bin, "probe-server", "--listen", addr, "--secret-file", secretFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer lab.StopProcess(cmd)
	pid := cmd.Process.Pid
	if err := poll.Until(ctx, 10*time.Second, func() bool {
		c, err := net.Dial("tcp4", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		return nil, fmt.Errorf("the probe server did not start on %s", addr)
	}
	// A few requests first, so the idle figure includes what serving costs anyway.
	for i := range 10 {
		if _, err := unsignedPost(ctx, addr, netip.AddrFrom4([4]byte{127, 0, 0, 1}), i); err != nil {
			return nil, err
		}
	}
	idle := rssMB(pid)
	logf("probe flood: idle server %.1f MB", idle)
	base := Row{Bench: "probe flood", Variant: "idle server", Samples: []float64{idle}, Unit: "MB RSS"}
	var rate, cpu, mem []Row
	next := 0
	for round := range opt.Rounds {
		cpu0 := cpuSeconds(pid)
		start := time.Now()
		codes, err := flood(ctx, addr, next, opt.Requests, opt.Workers)
		if err != nil {
			return nil, err
		}
		next += opt.Requests
		took := time.Since(start)
		perReq := (cpuSeconds(pid) - cpu0) / float64(opt.Requests) * 1000
		rss := rssMB(pid)
		logf("probe flood round %d: %6.0f requests/s, %.3f ms CPU per request, %.1f MB; answers %v", round+1,
			float64(opt.Requests)/took.Seconds(), perReq, rss, codes)
		name := fmt.Sprintf("round %d", round+1)
		note := fmt.Sprintf("%d callers", opt.Requests)
		rate = append(rate, Row{Bench: "probe flood", Variant: name, Note: note, Samples: []float64{float64(opt.Requests) / took.Seconds()}, Unit: "requests/s"})
		cpu = append(cpu, Row{Bench: "probe flood", Variant: name, Samples: []float64{perReq}, Unit: "ms CPU/request"})
		mem = append(mem, Row{Bench: "probe flood", Variant: name, Samples: []float64{rss}, Unit: "MB RSS"})
	}
	for i := 1; i < len(rate); i++ {
		rate[i].Target, cpu[i].Target = Target{">=", 0.5}, Target{"<=", 2}
		pair(&rate[i], rate[0])
		pair(&cpu[i], cpu[0])
	}
	for i := range mem {
		mem[i].Target = Target{"<=", 2}
		pair(&mem[i], base)
	}
	rows := append(rate, cpu...)
	return append(append(rows, base), mem...), nil
}

// flood sends n unsigned POSTs from the addresses numbered first to first+n-1 (127.64.0.1 on), workers at a
// time, and counts the answers by status code.
func flood(ctx context.Context, addr string, first, n, workers int) (map[int]int, error) {
	var next atomic.Int64
	var mu sync.Mutex
	codes := map[int]int{}
	var firstErr error
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				k := uint32(first+i) + 1
				src := netip.AddrFrom4([4]byte{127, 64 + byte(k>>16), byte(k >> 8), byte(k)})
				code, err := unsignedPost(ctx, addr, src, i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes, firstErr
}

// unsignedPost sends one probe request without a signature from src and returns the status code.
func unsignedPost(ctx context.Context, addr string, src netip.Addr, i int) (int, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	body := fmt.Sprintf(`{"address":%q,"ports":[{"protocol":"tcp","port":80}],"time":%d,"nonce":"flood%011d"}`, src, time.Now().Unix(), i)
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
