package integration

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// BenchmarkHAFailover: the lab's HA pair (keepalived with 100 ms adverts, conntrackd, a shared WAN address)
// fails over 20 times. Each time router A loses all its links, and the time is taken from that moment to the
// first connection from the laptop to a bookmark that reaches the camera through router B; then A's links
// come back and it takes over again (after preempt_delay, not timed).
func BenchmarkHAFailover(b *testing.B) {
	topo := benchLab(b, lab.Options{HA: true})
	startPair(b, topo, lab.HAOptions{Sync: true}, "ha:\n  lan_address: 192.168.88.1\n  wan_address: 203.0.113.10\n")
	ctx := context.Background()
	a := topo.Routers()[0]
	cam := topo.Cameras[0]
	target := netip.AddrPortFrom(topo.PublicAddr, uint16(cam.Port)).String()
	const failovers = 20
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < failovers; i++ {
		if _, err := untilWorks(ctx, topo.Laptop, target, cam.Name, time.Now(), 5*time.Second); err != nil {
			b.Fatalf("failover %d: the bookmark does not work before it", i)
		}
		dead := time.Now()
		if err := topo.Unplug(ctx, a, true); err != nil {
			b.Fatal(err)
		}
		d, err := untilWorks(ctx, topo.Laptop, target, cam.Name, dead, 5*time.Second)
		if err != nil {
			b.Fatalf("failover %d: no connection through router B within 5 s", i)
		}
		took = append(took, d)
		if err := topo.Unplug(ctx, a, false); err != nil {
			b.Fatal(err)
		}
		if err := poll.Until(ctx, 10*time.Second, func() bool { m, _ := topo.Master(ctx); return m == a }); err != nil {
			b.Fatalf("failover %d: router A did not take over again", i)
		}
	}
	b.StopTimer()
	sortDurations(took)
	b.ReportMetric(quantileMS(took, 0.5), "failover-p50-ms")
	b.ReportMetric(quantileMS(took, 0.99), "failover-p99-ms")
	b.Logf("HA failover over %d failovers, from the master's death to the first connection through the new master (ms): p50 %.0f p99 %.0f max %.0f",
		failovers, quantileMS(took, 0.5), quantileMS(took, 0.99), quantileMS(took, 1))
}
