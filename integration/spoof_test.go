package integration

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
)

// TestSpoofedLANSourceNotMasqueraded: with rp_filter off on the router (loose mode is a common default and
// lets these through as well), the internet host sends SYNs to a forward with a LAN source address. The
// camera must see that source, not the router's LAN address: masquerading it made the camera take an
// internet caller for a LAN one. The camera's own counters show who reached it.
func TestSpoofedLANSourceNotMasqueraded(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	ctx := context.Background()
	mustApply(t, topo, cfg)
	if _, err := lab.Exec(ctx, topo.Router, "sh", "-c", "for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done"); err != nil {
		t.Fatal(err)
	}
	cam := topo.Cameras[0]
	spoofed := topo.LANNet.Masked().Addr().As4()
	spoofed[3] = 50
	fake := netip.AddrFrom4(spoofed)

	// The camera counts SYNs by source.
	script := "add table ip spoofwatch\n" +
		"add chain ip spoofwatch in { type filter hook input priority 0; }\n" +
		"add rule ip spoofwatch in ip saddr " + topo.RouterLAN.String() + " tcp flags syn counter comment \"router\"\n" +
		"add rule ip spoofwatch in ip saddr " + fake.String() + " tcp flags syn counter comment \"spoofed\"\n"
	if _, err := lab.Exec(ctx, cam.NS, "sh", "-c", "nft -f - <<'EOF'\n"+script+"EOF"); err != nil {
		t.Fatal(err)
	}
	count := func(comment string) int {
		out, err := lab.Exec(ctx, cam.NS, "nft", "list", "chain", "ip", "spoofwatch", "in")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"`+comment+`"`) {
				m := regexp.MustCompile(`packets (\d+)`).FindStringSubmatch(line)
				if m != nil {
					n, _ := strconv.Atoi(m[1])
					return n
				}
			}
		}
		t.Fatalf("no %s counter in:\n%s", comment, out)
		return 0
	}

	// The internet host takes the LAN address as its own and connects from it; no answer can come back to it.
	iface, err := lab.Exec(ctx, topo.Internet, "sh", "-c", "ip -o -4 addr show | grep -F ' "+topo.InternetAddr.String()+"/' | awk '{print $2}'")
	if err != nil || strings.TrimSpace(iface) == "" {
		t.Fatalf("internet interface: %q %v", iface, err)
	}
	if _, err := lab.Exec(ctx, topo.Internet, "ip", "addr", "add", fake.String()+"/32", "dev", strings.TrimSpace(iface)); err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(topo.PublicAddr.String(), strconv.Itoa(cam.Port))
	_ = netns.Do(topo.Internet, func() error {
		d := net.Dialer{Timeout: 1500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.IP(fake.AsSlice())}}
		if c, err := d.Dial("tcp", target); err == nil {
			c.Close()
		}
		return nil
	})
	router, asSent := count("router"), count("spoofed")
	if router+asSent == 0 {
		t.Fatalf("no SYN reached the camera: the test cannot tell masqueraded from dropped")
	}
	if router != 0 {
		t.Errorf("the camera got %d SYNs from the router's LAN address: a spoofed internet packet was masqueraded", router)
	}
}
