package reach

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		f        Facts
		class    Class
		upstream Upstream
		reason   string // substring
	}{
		{"public", Facts{WANAddrs: addrs("203.0.113.7")}, Public, "", "203.0.113.7 is public"},
		{"no address", Facts{}, Unknown, "", "no IPv4"},
		{"ipv6 only", Facts{WANAddrs: addrs("2001:db8::1")}, Unknown, "", "no IPv4"},
		{"cgnat wan", Facts{WANAddrs: addrs("100.64.3.4"), DoubleNAT: true}, CGNAT, "", "100.64.0.0/10"},
		{"cgnat wan with double_nat off", Facts{WANAddrs: addrs("100.127.255.1")}, CGNAT, "", "100.64.0.0/10"},
		{"just outside the shared range is public", Facts{WANAddrs: addrs("100.128.0.1")}, Public, "", "public"},
		{"ds-lite route", Facts{WANAddrs: addrs("192.0.0.2"), DSLite: true, DSLiteWhy: "via ds0"}, DSLite, "", "via ds0"},
		{"ds-lite b4 address", Facts{WANAddrs: addrs("192.0.0.2"), DoubleNAT: true}, DSLite, "", "B4"},
		{"ds-lite wins over public", Facts{WANAddrs: addrs("203.0.113.7"), DSLite: true}, DSLite, "", "AFTR"},
		{"double nat unknown", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true}, DoubleNAT, UnknownMapped, "nobody knows"},
		{"double nat manual", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "manual"}, DoubleNAT, Manual, "manual"},
		{"double nat mapped", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "auto", Protocol: "pcp", Mapped: 3, Wanted: 3,
			External: netip.MustParseAddr("203.0.113.9")}, DoubleNAT, Mapped, "all 3"},
		{"double nat partly mapped", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "upnp", Protocol: "upnp", Mapped: 1, Wanted: 3},
			DoubleNAT, Mapped, "1 of 3"},
		{"still asking", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "auto"}, DoubleNAT, UnknownMapped, "asking the box"},
		{"asked but nothing mapped", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "auto", UpstreamError: "no mapping protocol answered"},
			DoubleNAT, UnknownMapped, "mapped nothing: no mapping protocol answered"},
		{"upstream reports shared external", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamOn: "auto", Protocol: "upnp", Mapped: 1, Wanted: 1,
			External: netip.MustParseAddr("100.70.0.1")}, CGNAT, "", "100.70.0.1"},
		{"upstream reports private external", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, External: netip.MustParseAddr("10.1.1.1")}, CGNAT, "", "not public"},
		{"upstream says no resources", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, UpstreamCGNAT: "PCP NO_RESOURCES"}, CGNAT, "", "NO_RESOURCES"},
		{"external differs from what the internet sees", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true,
			External: netip.MustParseAddr("198.51.100.1"), Public: netip.MustParseAddr("203.0.113.1")}, CGNAT, "", "another NAT"},
		{"external equals what the internet sees", Facts{WANAddrs: addrs("192.168.1.2"), DoubleNAT: true, Protocol: "natpmp", Mapped: 1, Wanted: 1,
			External: netip.MustParseAddr("203.0.113.1"), Public: netip.MustParseAddr("203.0.113.1")}, DoubleNAT, Mapped, "natpmp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Classify(tt.f)
			if v.Class != tt.class || v.Upstream != tt.upstream || !strings.Contains(v.Reason, tt.reason) {
				t.Fatalf("got %s %q (%s), want %s %q with reason containing %q", v.Class, v.Upstream, v.Reason, tt.class, tt.upstream, tt.reason)
			}
			if v.Family != "ipv4" {
				t.Errorf("family %q", v.Family)
			}
			if v.Class.Unreachable() && !strings.Contains(v.Advice, "IPv6") {
				t.Errorf("advice for %s must name the ways out: %q", v.Class, v.Advice)
			}
			if v.Upstream == UnknownMapped && !strings.Contains(v.Reason, "asking") && !strings.Contains(v.Advice, "wan.upstream") {
				t.Errorf("advice for an unknown upstream must name wan.upstream: %q", v.Advice)
			}
		})
	}
}

// TestDetectDSLite builds a B4 in a namespace: the IPv4 default route through an ip6tnl in mode ipip6 is
// DS-Lite; the same namespace with the default route on an ordinary link (the negative control) is not.
func TestDetectDSLite(t *testing.T) {
	ns := netnstest.New(t, "dsl")
	ip := func(args string) {
		t.Helper()
		netnstest.IP(t, ns, args)
	}
	ip("link add wan type veth peer name wan-peer")
	ip("link set wan-peer up")
	ip("link set wan up")
	ip("addr add 2001:db8:1::2/64 dev wan nodad")
	ip("addr add 198.51.100.2/24 dev wan")
	ip("route add default via 198.51.100.1 dev wan")
	detect := func() (bool, string) {
		var on bool
		var why string
		if err := netns.Do(ns, func() error {
			var err error
			on, why, err = DetectDSLite()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return on, why
	}
	if on, why := detect(); on {
		t.Fatalf("an ordinary default route was taken for DS-Lite: %s", why)
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "ds0", "type", "ip6tnl", "mode", "ipip6", "local", "2001:db8:1::2", "remote", "2001:db8:1::1").CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Unknown device type") {
			t.Skip("this kernel has no ip6tnl (CONFIG_IPV6_TUNNEL); DS-Lite detection needs it")
		}
		t.Fatalf("ip link add ds0: %v: %s", err, out)
	}
	ip("link set ds0 up")
	ip("addr add 192.0.0.2/29 dev ds0")
	if on, _ := detect(); on {
		t.Fatal("a tunnel that carries no default route is not DS-Lite")
	}
	ip("route replace default dev ds0")
	on, why := detect()
	if !on || !strings.Contains(why, "ds0") || !strings.Contains(why, "2001:db8:1::1") {
		t.Fatalf("DS-Lite not detected: %v %q", on, why)
	}
}

func TestClassify6(t *testing.T) {
	tests := []struct {
		name      string
		wan6      []netip.Addr
		forwards6 int
		class     Class
		advice    string
	}{
		{"none", nil, 0, Unknown, ""},
		{"none but wanted", nil, 2, Unknown, "global IPv6"},
		{"link-local and ULA only", addrs("fe80::1", "fd00::1"), 1, Unknown, "global IPv6"},
		{"global, no to6", addrs("fe80::1", "2001:db8::2"), 0, Public, "add to6"},
		{"global with to6", addrs("2001:db8::2"), 1, Public, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Classify6(tt.wan6, tt.forwards6)
			if v.Family != "ipv6" || v.Class != tt.class || (tt.advice == "") != (v.Advice == "") || !strings.Contains(v.Advice, tt.advice) {
				t.Fatalf("%+v", v)
			}
		})
	}
	cg := Classify(Facts{WANAddrs: addrs("100.64.0.2")})
	if got := WithIPv6(cg, Classify6(addrs("2001:db8::2"), 1)); !strings.Contains(got.Advice, "reachable over IPv6 now") {
		t.Errorf("cgnat with IPv6: %q", got.Advice)
	}
	if got := WithIPv6(cg, Classify6(nil, 1)); got.Advice != cg.Advice {
		t.Errorf("cgnat without IPv6 changed: %q", got.Advice)
	}
}
