package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hairpin-nat/hairpin/internal/lab"
)

// BenchmarkPrefixChangeReaction is BenchmarkReactionTime for IPv6: the LAN moves between two delegated
// prefixes 100 times, and each change is timed from the kernel's acknowledgement of the router's address on
// the new prefix to the first connection from the internet to the router's global address that reaches the
// camera on its new address. The camera moves first (not timed), so a forward still aimed at the old prefix
// cannot connect. The forward names the camera by interface identifier; the daemon moves it with one netlink
// batch on table ip6 hairpin (the IPv6 fast path).
func BenchmarkPrefixChangeReaction(b *testing.B) {
	topo := benchLab(b, lab.Options{IPv6: true})
	cam := topo.Cameras[0]
	_, out := benchDaemon(b, topo, fmt.Sprintf("  - {name: front-cam, port: 8090, to: \"%s:80\", to6: \"%s\"}\n", cam.Addr, lab.CameraIID(0)),
		"--log-level", "debug", "--log-format", "json")
	router, _ := netlinkIn(b, topo.Router)
	camera, _ := netlinkIn(b, cam.NS)
	routerLAN, camLAN := linkNamed(b, router, topo.LANIf), linkNamed(b, camera, "eth0")
	addr6 := func(p netip.Prefix, iid uint16) *netlink.Addr {
		return &netlink.Addr{IPNet: &net.IPNet{IP: lab.On(p, iid).AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: 0x02 /* IFA_F_NODAD */}
	}
	probe := newProber(b, topo.Internet)
	defer probe.close()
	target := netip.AddrPortFrom(topo.V6.RouterWAN, uint16(cam.Port))
	if _, err := probe.firstConnect(target, 5*time.Second); err != nil {
		b.Fatalf("before the changes: %v\n%s", err, out.String())
	}

	const changes = 100
	var e2e, batch []time.Duration
	logs := &daemonLog6{}
	b.ResetTimer()
	for i := 0; i < changes; i++ {
		old, next := lab.LANPrefixes6[i%2], lab.LANPrefixes6[(i+1)%2]
		// The camera renumbers first: from here the old forward cannot connect.
		if err := camera.AddrAdd(camLAN, addr6(next, 0x180)); err != nil {
			b.Fatal(err)
		}
		if err := camera.AddrDel(camLAN, addr6(old, 0x180)); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			// Negative control: with the camera moved and the router not yet, the forward must not connect.
			if _, err := probe.firstConnect(target, 300*time.Millisecond); err == nil {
				b.Fatal("the forward still connected after the camera left the old prefix: the benchmark cannot see the change")
			}
		}
		logs.skip(out.String())
		// The router: old address out, new one in, as a DHCPv6-PD client replaces its prefix.
		if err := router.AddrDel(routerLAN, addr6(old, 1)); err != nil {
			b.Fatal(err)
		}
		if err := router.AddrAdd(routerLAN, addr6(next, 1)); err != nil {
			b.Fatal(err)
		}
		ack := time.Now()
		at, err := probe.firstConnect(target, 5*time.Second)
		if err != nil {
			b.Fatalf("change %d: %v", i, err)
		}
		e2e = append(e2e, at.Sub(ack))
		// Real prefix changes are hours apart; leave the kernel time to finish the change (it frees flushed
		// elements after an RCU grace period, which would otherwise land on the next change) and the daemon
		// time to log it.
		time.Sleep(50 * time.Millisecond)
		if sent, done := logs.batch(out.String(), lab.On(next, 0x180)); !sent.IsZero() {
			batch = append(batch, done.Sub(sent))
		}
	}
	b.StopTimer()
	sortDurations(e2e)
	sortDurations(batch)
	b.ReportMetric(quantileMS(e2e, 0.5), "p50-ms")
	b.ReportMetric(quantileMS(e2e, 0.9), "p90-ms")
	b.ReportMetric(quantileMS(e2e, 0.99), "p99-ms")
	b.ReportMetric(quantileMS(e2e, 1), "max-ms")
	b.ReportMetric(quantileMS(batch, 0.5), "batch-p50-ms")
	b.Logf("reaction time over %d LAN prefix changes (ms): end to end p50 %.2f p90 %.2f p99 %.2f max %.2f; the daemon's netlink batch p50 %.2f p99 %.2f (%d seen)",
		changes, quantileMS(e2e, 0.5), quantileMS(e2e, 0.9), quantileMS(e2e, 0.99), quantileMS(e2e, 1), quantileMS(batch, 0.5), quantileMS(batch, 0.99), len(batch))
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// daemonLog6 finds the daemon's "IPv6 set timing" debug lines.
type daemonLog6 struct{ offset int }

func (l *daemonLog6) skip(all string) { l.offset = len(all) }

// batch returns the sent and done times of the first IPv6 batch since the last skip whose plan sends the
// forward to target, judged by the LAN prefixes it carries.
func (l *daemonLog6) batch(all string, target netip.Addr) (sent, done time.Time) {
	want := netip.PrefixFrom(target, 64).Masked().String()
	for _, line := range strings.Split(all[l.offset:], "\n") {
		if !strings.Contains(line, `"IPv6 set timing"`) || !strings.Contains(line, want) {
			continue
		}
		var v struct {
			Sent time.Time `json:"sent"`
			Done time.Time `json:"done"`
		}
		if jsonUnmarshal(line, &v) == nil {
			return v.Sent, v.Done
		}
	}
	return time.Time{}, time.Time{}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
