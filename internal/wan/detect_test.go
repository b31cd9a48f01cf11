package wan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	p := netip.MustParsePrefix
	links := []Link{
		{Name: "eth0", Addrs: []netip.Prefix{p("192.0.2.10/24")}},
		{Name: "br-lan", Addrs: []netip.Prefix{p("192.168.88.1/24")}},
		{Name: "wg0", Addrs: []netip.Prefix{p("203.0.113.5/32")}},
	}
	tests := []struct {
		name      string
		links     []Link
		def, gw   string
		wan, lan  string
		why, fail string
	}{
		{"the article's router", links, "eth0", "192.0.2.1", "eth0", "br-lan", "192.168.88.1/24", ""},
		{"behind an ISP box the WAN is private too and is still not the LAN",
			append([]Link{{Name: "eth1", Addrs: []netip.Prefix{p("192.168.1.2/24")}}}, links[1:]...), "eth1", "", "eth1", "br-lan", "", ""},
		{"two LANs: named, the choice left to --lan",
			append(links, Link{Name: "guest", Addrs: []netip.Prefix{p("10.0.0.1/24")}}), "eth0", "", "eth0", "br-lan", "also private: guest (choose with --lan)", ""},
		{"no default route", links, "", "", "", "", "", "--wan"},
		{"no private interface", links[:1], "eth0", "", "eth0", "", "", "--lan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, l, err := Choose(tt.links, tt.def, tt.gw)
			if tt.fail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fail) {
					t.Fatalf("err = %v, want one naming %s", err, tt.fail)
				}
				return
			}
			if err != nil || w.Name != tt.wan || l.Name != tt.lan || !strings.Contains(l.Why, tt.why) {
				t.Errorf("Choose = %+v %+v %v, want WAN %s, LAN %s saying %q", w, l, err, tt.wan, tt.lan, tt.why)
			}
		})
	}
}
