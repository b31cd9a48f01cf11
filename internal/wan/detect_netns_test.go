package wan

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/netns"
)

// TestNetnsDetect reads a real kernel's interfaces and routes: of two default routes the lower metric wins, a
// blackhole default is not a way out, and the LAN is the interface with the private address. Without a
// default route (the negative control) Detect says so.
func TestNetnsDetect(t *testing.T) {
	ns, _ := testNS(t)
	for _, name := range []string{"wan0", "wan1", "lan0"} {
		addLink(t, ns, name)
		ipIn(t, ns, "link", "set", name, "up")
	}
	ipIn(t, ns, "addr", "add", "198.51.100.2/24", "dev", "wan0")
	ipIn(t, ns, "addr", "add", "203.0.113.2/24", "dev", "wan1")
	ipIn(t, ns, "addr", "add", "192.168.1.1/24", "dev", "lan0")
	detect := func() (Choice, Choice, error) {
		var w, l Choice
		err := netns.Do(ns, func() error {
			var err error
			w, l, err = Detect()
			return err
		})
		return w, l, err
	}
	if _, _, err := detect(); err == nil || !strings.Contains(err.Error(), "no IPv4 default route") {
		t.Fatalf("without a default route: %v", err)
	}
	ipIn(t, ns, "route", "add", "default", "via", "198.51.100.1", "dev", "wan0", "metric", "100")
	ipIn(t, ns, "route", "add", "default", "via", "203.0.113.1", "dev", "wan1", "metric", "50")
	ipIn(t, ns, "route", "add", "blackhole", "default", "metric", "10")
	w, l, err := detect()
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "wan1" || !strings.Contains(w.Why, "via 203.0.113.1") || l.Name != "lan0" || !strings.Contains(l.Why, "192.168.1.1/24") {
		t.Errorf("Detect = %+v, %+v; want wan1 via 203.0.113.1 and lan0 with 192.168.1.1/24", w, l)
	}
}
