package integration

import (
	"context"

	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/quantile"
)

// benchBin is the hairpin binary without the race detector (shared with benchLab).
func benchBin(b *testing.B) string {
	b.Helper()
	plainBinOnce.Do(func() {
		if bin == "" {
			return // not root: TestMain built nothing
		}
		// Beside the race-built binary, in the directory TestMain removes when the run ends.
		path := filepath.Join(filepath.Dir(bin), "hairpin-norace")
		if out, err := exec.Command("go", "build", "-tags", "lab", "-o", path, "../cmd/hairpin").CombinedOutput(); err != nil {
			b.Logf("go build: %v\n%s", err, out)
			return
		}
		plainBin = path
	})
	if plainBin == "" {
		b.Fatal("could not build hairpin")
	}
	return plainBin
}

// BenchmarkUpstreamWANChange: behind the lab's miniupnpd box, the router's WAN address moves between
// 192.168.1.2 and .3. Timed from the change: the router's own rules on the new address (the baseline), the box's
// mappings all pointing at it, and the first green probe (which waits 2 s for changes to settle). Then, with
// nothing changing, the requests sent per renewal over two lease half-lives (the restart checks included).
func BenchmarkUpstreamWANChange(b *testing.B) {
	netnstest.NeedRoot(b, "network namespaces and nftables")
	for _, mode := range []string{"pcp", "natpmp", "upnp", "upnp-insecure"} {
		b.Run(mode, func(b *testing.B) { benchUpstream(b, mode) })
	}
}

// benchUpstream measures one protocol. upnp-insecure is UPnP against a box with secure_mode off, which lets the
// new address delete the mappings of the old one; every other box keeps the ports for the old address until its
// lease runs out, so the remap waits for that (the lease here is 10 s).
func benchUpstream(b *testing.B, mode string) {
	ctx := context.Background()
	topo, err := lab.Build(ctx, lab.Options{Prefix: lab.RandomPrefix(), Bin: benchBin(b), ISP: lab.ISPUPnP})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(topo.Close)
	if err := topo.StartCameras(ctx); err != nil {
		b.Fatal(err)
	}
	if mode == "upnp-insecure" {
		if err := topo.RebootISPBox(ctx, lab.MiniupnpdOptions{Insecure: true}); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	ps, err := topo.StartProbeServer(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	cfg := topo.RouterConfig()
	cfg.Status, cfg.StateDir = filepath.Join(dir, "hairpin.sock"), dir
	cfg.Upstream, cfg.UpstreamLease = strings.TrimSuffix(mode, "-insecure"), 10*time.Second
	cfg.Probe, cfg.ProbeInterval = ps, time.Hour
	path, err := cfg.Write(dir, "hairpin.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lab.Exec(ctx, topo.Router, "sysctl", "-qw", "net.ipv4.conf.wan0.promote_secondaries=1"); err != nil {
		b.Fatal(err)
	}
	cmd, out, err := topo.Start(topo.Router, "run", "-c", path)
	if err != nil {
		b.Fatal(err)
	}
	defer topo.Stop(cmd)
	settled := func(addr string, after time.Time) func(*daemon.Status) bool {
		return func(s *daemon.Status) bool {
			return s.Upstream != nil && s.Upstream.Local == addr && allMapped(s) && s.Probe != nil && s.Probe.Time.After(after) && s.Probe.Unreachable() == 0
		}
	}
	if _, err := lab.WaitDaemon(ctx, cfg.Status, 30*time.Second, settled("192.168.1.2", time.Time{})); err != nil {
		b.Fatalf("no initial mapping: %v\n%s", err, out.String())
	}
	addrs := []string{"192.168.1.2", "192.168.1.3"}
	var rules, mapped, green []time.Duration
	var remapRequests []float64
	b.ResetTimer()
	for i := 0; i < max(b.N, 3); i++ {
		old, next := addrs[i%2], addrs[(i+1)%2]
		before, _ := daemon.Fetch(ctx, cfg.Status)
		start := time.Now()
		if err := topo.IP(ctx, topo.Router, "addr add "+next+"/24 dev wan0"); err != nil {
			b.Fatal(err)
		}
		if err := topo.IP(ctx, topo.Router, "addr del "+old+"/24 dev wan0"); err != nil {
			b.Fatal(err)
		}
		_ = topo.IP(ctx, topo.Router, "route replace default via 192.168.1.1 dev wan0")
		var tRules, tMapped time.Duration
		var reqs uint64
		var last *daemon.Status
		err := poll.Until(ctx, 60*time.Second, func() bool {
			s, err := daemon.Fetch(ctx, cfg.Status)
			if err != nil {
				return false
			}
			last = s
			if tRules == 0 && slices.Contains(s.ForwardSet, next) && !slices.Contains(s.ForwardSet, old) {
				tRules = time.Since(start)
			}
			if tMapped == 0 && s.Upstream != nil && s.Upstream.Local == next && allMapped(s) {
				tMapped, reqs = time.Since(start), s.Upstream.Requests
			}
			return settled(next, start)(s)
		})
		if err != nil {
			b.Fatalf("change %d to %s: %v; last status %+v %+v\n%s", i, next, err, last.Upstream, last.Probe, out.String())
		}
		rules, mapped, green = append(rules, tRules), append(mapped, tMapped), append(green, time.Since(start))
		remapRequests = append(remapRequests, float64(reqs-before.Upstream.Requests))
	}
	b.StopTimer()

	// Renewals with nothing changing: two half-lives of the 10 s lease.
	s0, _ := daemon.Fetch(ctx, cfg.Status)
	time.Sleep(11 * time.Second) // the measurement window itself
	s1, _ := daemon.Fetch(ctx, cfg.Status)
	renewals := s1.Upstream.Renewals - s0.Upstream.Renewals
	requests := s1.Upstream.Requests - s0.Upstream.Requests
	perRenewal := 0.0
	if renewals > 0 {
		perRenewal = float64(requests) / float64(renewals)
	}
	med := func(d []time.Duration) time.Duration { return quantile.Of(d, 0.5) }
	mr, mm, mg := med(rules), med(mapped), med(green)
	ports := len(s1.Upstream.Mappings)
	b.ReportMetric(float64(mr.Microseconds())/1000, "rules-ms")
	b.ReportMetric(float64(mm.Microseconds())/1000, "mapped-ms")
	b.ReportMetric(float64(mg.Microseconds())/1000, "probe-green-ms")
	b.ReportMetric(float64(mm)/float64(max(mr, time.Microsecond)), "mapped/rules")
	b.ReportMetric(perRenewal, "requests/renewal")
	slices.Sort(remapRequests)
	b.ReportMetric(remapRequests[len(remapRequests)/2]/float64(ports), "requests/port-remapped")
	b.Logf("%s, %d ports, median of %d WAN changes: router rules %s, box mappings %s (%.0fx the rules), first green probe %s (2 s of it the probe's debounce); "+
		"remap sent %.0f requests for %d ports; idle: %d requests for %d renewals (%.2f per renewal, restart checks included)",
		mode, ports, len(rules), mr, mm, float64(mm)/float64(max(mr, time.Microsecond)), mg, remapRequests[len(remapRequests)/2], ports, requests, renewals, perRenewal)
}
