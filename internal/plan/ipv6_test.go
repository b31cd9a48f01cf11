package plan

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func to6(f config.Forward, addr string, first, last uint16) config.Forward {
	a := netip.MustParseAddr(addr)
	b := a.As16()
	iid := b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] == 0
	f.To6 = config.Target6{Addr: a, IID: iid, Port: config.PortRange{First: first, Last: last}}
	return f
}

func dualStack() *config.Config {
	return &config.Config{
		WAN: config.WAN{Interface: "eth0", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "br-lan"},
		Forwards: []config.Forward{
			to6(fwd("front-cam", config.TCP, 8090, 8090, "192.168.88.180", 80, 80), "::21a:2bff:fe3c:4d5e", 80, 80),
			to6(fwd("back-cam", config.Both, 8091, 8091, "192.168.88.181", 80, 80), "fd00:88::181", 8080, 8080),
			fwd("pool-cam", config.TCP, 8092, 8092, "192.168.88.182", 80, 80),
		},
	}
}

func TestBuild6(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func() *config.Config
		obs     Observed
		want    *Desired6
		warning string
	}{
		{"no forward has to6: nothing IPv6 at all", cameras,
			Observed{WAN6: addrs("2001:db8::2"), LAN6: nets("2001:db8:1:1::1/64")}, nil, ""},
		{"identifier on the global prefix, ULA fixed, IPv4-only forward off", dualStack,
			Observed{WAN6: addrs("2001:db8::2", "fe80::1"), LAN6: nets("fd00:88::1/64", "2001:db8:1:1::1/64")},
			&Desired6{
				WANAddrs: addrs("2001:db8::2"),
				LANNets:  nets("2001:db8:1:1::/64", "fd00:88::/64"),
				Rules: []Rule{
					rule("front-cam", "tcp", 8090, 8090, "2001:db8:1:1:21a:2bff:fe3c:4d5e", 80, 80),
					rule("back-cam", "tcp", 8091, 8091, "fd00:88::181", 8080, 8080),
					rule("back-cam", "udp", 8091, 8091, "fd00:88::181", 8080, 8080),
				},
				Off: []Off6{{"pool-cam", OffNoTo6}},
			}, ""},
		{"a new prefix moves the identifier target", dualStack,
			Observed{WAN6: addrs("2001:db8::2"), LAN6: nets("fd00:88::1/64", "2001:db8:9:9::1/64")},
			&Desired6{
				WANAddrs: addrs("2001:db8::2"),
				LANNets:  nets("2001:db8:9:9::/64", "fd00:88::/64"),
				Rules: []Rule{
					rule("front-cam", "tcp", 8090, 8090, "2001:db8:9:9:21a:2bff:fe3c:4d5e", 80, 80),
					rule("back-cam", "tcp", 8091, 8091, "fd00:88::181", 8080, 8080),
					rule("back-cam", "udp", 8091, 8091, "fd00:88::181", 8080, 8080),
				},
				Off: []Off6{{"pool-cam", OffNoTo6}},
			}, ""},
		{"WAN without a global address: the router's global LAN address answers (prefix delegation)", dualStack,
			Observed{WAN6: addrs("fe80::1"), LAN6: nets("2001:db8:1:1::1/64", "fd00:88::1/64")},
			&Desired6{
				WANAddrs: addrs("2001:db8:1:1::1"),
				LANNets:  nets("2001:db8:1:1::/64", "fd00:88::/64"),
				Rules: []Rule{
					rule("front-cam", "tcp", 8090, 8090, "2001:db8:1:1:21a:2bff:fe3c:4d5e", 80, 80),
					rule("back-cam", "tcp", 8091, 8091, "fd00:88::181", 8080, 8080),
					rule("back-cam", "udp", 8091, 8091, "fd00:88::181", 8080, 8080),
				},
				Off: []Off6{{"pool-cam", OffNoTo6}},
			}, ""},
		{"ULA-only LAN: identifiers use it; nothing answers without a global address", dualStack,
			Observed{LAN6: nets("fd00:88::1/64")},
			&Desired6{
				LANNets: nets("fd00:88::/64"),
				Rules: []Rule{
					rule("front-cam", "tcp", 8090, 8090, "fd00:88::21a:2bff:fe3c:4d5e", 80, 80),
					rule("back-cam", "tcp", 8091, 8091, "fd00:88::181", 8080, 8080),
					rule("back-cam", "udp", 8091, 8091, "fd00:88::181", 8080, 8080),
				},
				Off: []Off6{{"pool-cam", OffNoTo6}},
			}, "no global IPv6 address on WAN interface eth0 or LAN interface br-lan"},
		{"no LAN prefix: the identifier forward is off, the fixed one stays", dualStack,
			Observed{WAN6: addrs("2001:db8::2"), LAN6: nets("2001:db8:1:1::1/80")},
			&Desired6{
				WANAddrs: addrs("2001:db8::2"),
				LANNets:  nets("2001:db8:1:1::/80"),
				Rules: []Rule{
					rule("back-cam", "tcp", 8091, 8091, "fd00:88::181", 8080, 8080),
					rule("back-cam", "udp", 8091, 8091, "fd00:88::181", 8080, 8080),
				},
				Off: []Off6{{"front-cam", OffNoPrefix}, {"pool-cam", OffNoTo6}},
			}, `forward "front-cam": not forwarded on IPv6: ` + OffNoPrefix},
		{"a guarded forward is never opened on IPv6", func() *config.Config {
			c := dualStack()
			c.Forwards[1].AllowOn = true
			return c
		}, Observed{WAN6: addrs("2001:db8::2"), LAN6: nets("2001:db8:1:1::1/64")},
			&Desired6{
				WANAddrs: addrs("2001:db8::2"),
				LANNets:  nets("2001:db8:1:1::/64"),
				Rules:    []Rule{rule("front-cam", "tcp", 8090, 8090, "2001:db8:1:1:21a:2bff:fe3c:4d5e", 80, 80)},
				Off:      []Off6{{"back-cam", OffGuarded}, {"pool-cam", OffNoTo6}},
			}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, warns := Build(tt.cfg(), tt.obs, Options{})
			if !reflect.DeepEqual(d.V6, tt.want) {
				t.Errorf("V6 =\n%+v\nwant\n%+v", d.V6, tt.want)
			}
			joined := strings.Join(warns, "\n")
			if tt.warning != "" && !strings.Contains(joined, tt.warning) {
				t.Errorf("warnings %q lack %q", warns, tt.warning)
			}
			if d.V6 != nil && len(d.V6.WANAddrs) > 0 && strings.Contains(joined, "IPv6 address") {
				t.Errorf("unexpected warning: %q", warns)
			}
		})
	}
}

func TestBuild6LeavesIPv4Alone(t *testing.T) {
	obs := Observed{WANAddrs: addrs("203.0.113.2"), LANNets: nets("192.168.88.0/24")}
	v4, _ := Build(cameras(), obs, Options{})
	obs.WAN6, obs.LAN6 = addrs("2001:db8::2"), nets("2001:db8:1:1::1/64", "fd00::1/64")
	dual := dualStack()
	dual.Forwards = cameras().Forwards
	d, _ := Build(dual, obs, Options{})
	if !reflect.DeepEqual(v4.Rules, d.Rules) || !reflect.DeepEqual(v4.WANAddrs, d.WANAddrs) || !reflect.DeepEqual(v4.LANNets, d.LANNets) {
		t.Errorf("IPv6 observations changed the IPv4 plan")
	}
}

func TestTarget6Status(t *testing.T) {
	d, _ := Build(dualStack(), Observed{WAN6: addrs("2001:db8::2"), LAN6: nets("2001:db8:1:1::1/64")}, Options{})
	if r, why := d.V6.Target6("front-cam"); why != "" || r.To != netip.MustParseAddr("2001:db8:1:1:21a:2bff:fe3c:4d5e") {
		t.Errorf("front-cam: %v %q", r, why)
	}
	if _, why := d.V6.Target6("pool-cam"); why != OffNoTo6 {
		t.Errorf("pool-cam: %q", why)
	}
	d, _ = Build(dualStack(), Observed{LAN6: nets("fd00::1/64")}, Options{})
	if _, why := d.V6.Target6("back-cam"); why != OffNoAddress {
		t.Errorf("back-cam without a global address: %q", why)
	}
	var none *Desired6
	if _, why := none.Target6("x"); why != OffNoTo6 {
		t.Errorf("nil plan: %q", why)
	}
}

func TestObservedEqualSeesIPv6(t *testing.T) {
	a := Observed{WAN6: addrs("2001:db8::2")}
	b := Observed{WAN6: addrs("2001:db8::3")}
	if a.Equal(b) {
		t.Error("a WAN IPv6 change is not a change")
	}
	if (Observed{LAN6: nets("2001:db8:1::1/64")}).Equal(Observed{LAN6: nets("2001:db8:2::1/64")}) {
		t.Error("a LAN prefix change is not a change")
	}
}
