package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

const dualConfig = `wan: {interface: wan0}
lan: {interface: lan0}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80", to6: "::21a:2bff:fe3c:4d5e"}
  - {name: pool-cam, port: 8092, to: "192.168.88.182:80"}
`

func obs6(lan6 string) plan.Observed {
	return plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan},
		WAN6: []netip.Addr{netip.MustParseAddr("2001:db8::2")}, LAN6: []netip.Prefix{netip.MustParsePrefix(lan6)}}
}

// A LAN prefix change moves the interface-identifier forward through the IPv6 fast path alone; the IPv4
// side is not touched. Status follows.
func TestPrefixChangeTouchesOnlyTheIPv6Sets(t *testing.T) {
	h := start(t, dualConfig, obs6("2001:db8:1:1::1/64"))
	if st := h.d.Status(t.Context()); st.Forwards[0].IPv6 != "[2001:db8:1:1:21a:2bff:fe3c:4d5e]:80" || st.Forwards[1].IPv6 != "off: "+plan.OffNoTo6 {
		t.Errorf("status IPv6 = %q, %q", st.Forwards[0].IPv6, st.Forwards[1].IPv6)
	}
	h.obs <- obs6("2001:db8:1:2::1/64")
	poll.Wait(t, "SetIPv6", func() bool { return len(h.be.Calls()) == 2 })
	c := h.be.Calls()[1]
	if c.Method != "SetIPv6" || c.V6.Rules[0].To != netip.MustParseAddr("2001:db8:1:2:21a:2bff:fe3c:4d5e") {
		t.Fatalf("second call = %s %+v, want SetIPv6 to the new prefix", c.Method, c.V6)
	}
	if st := h.d.Status(t.Context()); st.Forwards[0].IPv6 != "[2001:db8:1:2:21a:2bff:fe3c:4d5e]:80" {
		t.Errorf("status after the change: %q", st.Forwards[0].IPv6)
	}
	found := false
	for _, e := range h.d.Status(t.Context()).Events {
		found = found || strings.HasPrefix(e.Message, "IPv6 sets updated")
	}
	if !found {
		t.Error("no event for the IPv6 update")
	}
	// An IPv4 change together with an IPv6 one takes both fast paths, IPv4 first.
	o := obs6("2001:db8:1:3::1/64")
	o.WANAddrs = []netip.Addr{wan2}
	h.obs <- o
	poll.Wait(t, "both fast paths", func() bool { return len(h.be.Calls()) == 4 })
	if got := methods(h.be.Calls()); !slices.Equal(got, []string{"Apply", "SetIPv6", "SetWANAddrs", "SetIPv6"}) {
		t.Errorf("calls = %v", got)
	}
}

// Negative control: without IPv6 forwards, IPv6 changes install nothing.
func TestIPv6ChangeWithoutIPv6ForwardsDoesNothing(t *testing.T) {
	h := start(t, baseConfig, obs6("2001:db8:1:1::1/64"))
	h.obs <- obs6("2001:db8:1:2::1/64")
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the IPv4 change", func() bool { return len(h.be.Calls()) == 2 })
	if got := methods(h.be.Calls()); !slices.Equal(got, []string{"Apply", "SetWANAddrs"}) {
		t.Errorf("calls = %v", got)
	}
	if h.be.Calls()[0].Plan.V6 != nil {
		t.Error("a config without to6 planned IPv6")
	}
}

// The AAAA address is the first address IPv6 forwards answer on, and only while a forward is on IPv6.
func TestDDNSGetsTheForwardedIPv6Address(t *testing.T) {
	h := start(t, dualConfig+`ddns: [{provider: duckdns, hostname: home.duckdns.org, token_env: HAIRPIN_TEST_TOKEN}]
`, obs6("2001:db8:1:1::1/64"))
	wan6 := netip.MustParseAddr("2001:db8::2")
	poll.Wait(t, "the AAAA address", func() bool { return slices.Contains(h.ddns.got6(), wan6) })
	o := obs6("2001:db8:1:1::1/64")
	o.WAN6 = []netip.Addr{netip.MustParseAddr("2001:db8::3")}
	h.obs <- o
	poll.Wait(t, "the new AAAA address", func() bool { return slices.Contains(h.ddns.got6(), netip.MustParseAddr("2001:db8::3")) })
}

// Negative control: without IPv6 forwards no IPv6 address is handed out.
func TestDDNSGetsNoIPv6AddressWithoutIPv6Forwards(t *testing.T) {
	h := start(t, baseConfig, obs6("2001:db8:1:1::1/64"))
	poll.Wait(t, "DDNS fed the IPv4 address", func() bool { return slices.Contains(h.ddns.got(), wan1) })
	for _, a := range h.ddns.got6() {
		if a.IsValid() {
			t.Errorf("AAAA address %s handed out without IPv6 forwards", a)
		}
	}
}
