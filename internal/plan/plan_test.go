package plan

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func nets(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func fwd(name string, proto config.Protocol, first, last uint16, to string, toFirst, toLast uint16) config.Forward {
	return config.Forward{Name: name, Protocol: proto, Port: config.PortRange{First: first, Last: last},
		To: netip.MustParseAddr(to), ToPort: config.PortRange{First: toFirst, Last: toLast}}
}

func rule(name, proto string, first, last uint16, to string, toFirst, toLast uint16) Rule {
	return Rule{Name: name, Protocol: proto, Port: config.PortRange{First: first, Last: last},
		To: netip.MustParseAddr(to), ToPort: config.PortRange{First: toFirst, Last: toLast}}
}

// cameras is the background article's setup: four cameras on port 80 behind external ports 8090-8093.
func cameras() *config.Config {
	return &config.Config{
		WAN: config.WAN{Interface: "ether1", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "bridge-local"},
		Forwards: []config.Forward{
			fwd("front-cam", config.TCP, 8090, 8090, "192.168.88.180", 80, 80),
			fwd("back-cam", config.TCP, 8091, 8091, "192.168.88.181", 80, 80),
			fwd("pool-cam", config.TCP, 8092, 8092, "192.168.88.182", 80, 80),
			fwd("driveway-cam", config.TCP, 8093, 8093, "192.168.88.183", 80, 80),
		},
	}
}

func TestBuildRulesPerProtocol(t *testing.T) {
	cfg := &config.Config{
		WAN: config.WAN{Interface: "eth0"},
		LAN: config.LAN{Interface: "br-lan"},
		Forwards: []config.Forward{
			fwd("web", config.TCP, 443, 443, "192.168.88.10", 443, 443),
			fwd("dns", config.UDP, 53, 53, "192.168.88.2", 5353, 5353),
			fwd("game", config.Both, 27015, 27020, "192.168.88.50", 27015, 27020),
		},
	}
	d, _ := Build(cfg, Observed{WANAddrs: addrs("203.0.113.7"), LANNets: nets("192.168.88.1/24")}, Options{})
	want := []Rule{
		rule("web", "tcp", 443, 443, "192.168.88.10", 443, 443),
		rule("dns", "udp", 53, 53, "192.168.88.2", 5353, 5353),
		rule("game", "tcp", 27015, 27020, "192.168.88.50", 27015, 27020),
		rule("game", "udp", 27015, 27020, "192.168.88.50", 27015, 27020),
	}
	if !reflect.DeepEqual(d.Rules, want) {
		t.Errorf("Rules =\n%v\nwant\n%v", d.Rules, want)
	}
	if d.WANInterface != "eth0" || d.LANInterface != "br-lan" || !d.Masquerade || d.DoubleNAT {
		t.Errorf("Desired = %+v", d)
	}
}

func TestBuildNoMasquerade(t *testing.T) {
	d, _ := Build(cameras(), Observed{}, Options{NoMasquerade: true})
	if d.Masquerade {
		t.Errorf("Masquerade on despite NoMasquerade")
	}
}

func TestBuildLANNets(t *testing.T) {
	tests := []struct {
		name     string
		config   []netip.Prefix
		observed []netip.Prefix
		want     []netip.Prefix
	}{
		{"observed nets are masked", nil, nets("192.168.88.1/24"), nets("192.168.88.0/24")},
		{"observed nets are sorted and deduplicated", nil,
			nets("192.168.88.1/24", "172.16.0.1/12", "192.168.88.254/24", "10.0.0.1/8"),
			nets("10.0.0.0/8", "172.16.0.0/12", "192.168.88.0/24")},
		// An nftables interval set refuses overlapping elements: keep only the covering net.
		{"nets inside another are dropped", nil,
			nets("10.1.2.3/16", "192.168.88.1/24", "10.0.0.1/8", "10.0.0.0/16", "192.168.0.0/16", "192.169.0.1/24"),
			nets("10.0.0.0/8", "192.168.0.0/16", "192.169.0.0/24")},
		{"configured nets inside another are dropped", nets("192.168.88.0/24", "192.168.0.0/16", "192.168.88.0/25"), nil,
			nets("192.168.0.0/16")},
		{"adjacent nets are kept", nil, nets("192.168.0.0/24", "192.168.1.0/24"), nets("192.168.0.0/24", "192.168.1.0/24")},
		{"observed IPv6 nets are left out", nil, nets("fd00::1/64", "192.168.88.1/24"), nets("192.168.88.0/24")},
		{"config overrides observed", nets("192.168.0.0/16"), nets("192.168.88.1/24", "10.0.0.1/8"), nets("192.168.0.0/16")},
		{"config nets are sorted too", nets("192.168.88.0/24", "10.0.0.0/8"), nil, nets("10.0.0.0/8", "192.168.88.0/24")},
		{"nothing anywhere", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cameras()
			cfg.LAN.Subnets = tt.config
			d, _ := Build(cfg, Observed{LANNets: tt.observed}, Options{})
			if !reflect.DeepEqual(d.LANNets, tt.want) {
				t.Errorf("LANNets = %v, want %v", d.LANNets, tt.want)
			}
		})
	}
}

func TestBuildDoesNotAliasConfig(t *testing.T) {
	cfg := cameras()
	cfg.LAN.Subnets = nets("192.168.88.0/24", "10.0.0.0/8")
	Build(cfg, Observed{}, Options{})
	if cfg.LAN.Subnets[0] != netip.MustParsePrefix("192.168.88.0/24") {
		t.Errorf("Build reordered the config's subnets: %v", cfg.LAN.Subnets)
	}
}

func TestBuildWarnings(t *testing.T) {
	tests := []struct {
		name    string
		subnets []netip.Prefix // config
		obs     Observed
		want    []string // substrings, one per warning, in order
	}{
		{"all fine", nil, Observed{WANAddrs: addrs("203.0.113.7"), LANNets: nets("192.168.88.1/24")}, nil},
		{"no WAN address", nil, Observed{LANNets: nets("192.168.88.1/24")},
			[]string{"WAN interface ether1 has no IPv4 address yet"}},
		{"no LAN subnet", nil, Observed{WANAddrs: addrs("203.0.113.7")},
			[]string{"LAN interface bridge-local has no IPv4 subnet"}},
		{"targets outside the observed LAN", nil, Observed{WANAddrs: addrs("203.0.113.7"), LANNets: nets("192.168.88.180/31")},
			[]string{
				`forward "pool-cam": 192.168.88.182 is outside the LAN subnets [192.168.88.180/31]`,
				`forward "driveway-cam": 192.168.88.183 is outside the LAN subnets`,
			}},
		// The config parser already warned, with a line number; the plan does not repeat it.
		{"targets outside configured subnets", nets("10.0.0.0/8"), Observed{WANAddrs: addrs("203.0.113.7")}, nil},
		{"nothing observed", nil, Observed{},
			[]string{"has no IPv4 address yet", "has no IPv4 subnet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cameras()
			cfg.LAN.Subnets = tt.subnets
			_, warns := Build(cfg, tt.obs, Options{})
			if len(warns) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", warns, len(tt.want))
			}
			for i := range warns {
				if !strings.Contains(warns[i], tt.want[i]) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warns[i], tt.want[i])
				}
			}
		})
	}
}

func TestIsDoubleNAT(t *testing.T) {
	tests := []struct {
		name string
		mode config.DoubleNAT
		wan  []netip.Addr
		want bool
	}{
		{"auto RFC 1918 10/8", config.DoubleNATAuto, addrs("10.1.2.3"), true},
		{"auto RFC 1918 172.16/12", config.DoubleNATAuto, addrs("172.31.255.1"), true},
		{"auto RFC 1918 192.168/16", config.DoubleNATAuto, addrs("192.168.1.2"), true},
		{"auto CGNAT low end", config.DoubleNATAuto, addrs("100.64.0.1"), true},
		{"auto CGNAT high end", config.DoubleNATAuto, addrs("100.127.255.254"), true},
		{"auto just outside CGNAT", config.DoubleNATAuto, addrs("100.128.0.1"), false},
		{"auto just outside 172.16/12", config.DoubleNATAuto, addrs("172.32.0.1"), false},
		{"auto public", config.DoubleNATAuto, addrs("203.0.113.7"), false},
		{"auto mixed private and public", config.DoubleNATAuto, addrs("192.168.1.2", "198.51.100.9"), false},
		{"auto all private", config.DoubleNATAuto, addrs("192.168.1.2", "100.64.3.4"), true},
		{"auto empty", config.DoubleNATAuto, nil, false},
		{"auto private IPv4 and global IPv6", config.DoubleNATAuto, addrs("192.168.1.2", "2001:db8::1"), true},
		{"auto IPv6 only", config.DoubleNATAuto, addrs("2001:db8::1"), false},
		{"auto mapped private", config.DoubleNATAuto, addrs("::ffff:192.168.1.2"), true},
		{"unset mode acts as auto", "", addrs("10.0.0.2"), true},
		{"on with public", config.DoubleNATOn, addrs("203.0.113.7"), true},
		{"on empty", config.DoubleNATOn, nil, true},
		{"off with private", config.DoubleNATOff, addrs("192.168.1.2"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsDoubleNAT(tt.mode, tt.wan); got != tt.want {
				t.Errorf("IsDoubleNAT(%q, %v) = %v, want %v", tt.mode, tt.wan, got, tt.want)
			}
		})
	}
}

func TestWANSet(t *testing.T) {
	none := netip.Addr{}
	tests := []struct {
		name      string
		iface     []netip.Addr
		public    netip.Addr
		doubleNAT bool
		want      []netip.Addr
	}{
		{"interface addresses only", addrs("203.0.113.7"), none, false, addrs("203.0.113.7")},
		{"public ignored without double NAT", addrs("203.0.113.7"), netip.MustParseAddr("198.51.100.1"), false, addrs("203.0.113.7")},
		{"public added with double NAT", addrs("192.168.1.2"), netip.MustParseAddr("198.51.100.1"), true, addrs("192.168.1.2", "198.51.100.1")},
		{"unknown public with double NAT", addrs("192.168.1.2"), none, true, addrs("192.168.1.2")},
		{"sorted", addrs("192.168.1.2", "10.0.0.2"), netip.MustParseAddr("198.51.100.1"), true, addrs("10.0.0.2", "192.168.1.2", "198.51.100.1")},
		{"deduplicated", addrs("192.168.1.2", "192.168.1.2"), netip.MustParseAddr("192.168.1.2"), true, addrs("192.168.1.2")},
		{"IPv6 left out", addrs("2001:db8::1", "192.168.1.2"), netip.MustParseAddr("2001:db8::2"), true, addrs("192.168.1.2")},
		{"mapped addresses unmapped", addrs("::ffff:192.168.1.2"), netip.MustParseAddr("::ffff:198.51.100.1"), true, addrs("192.168.1.2", "198.51.100.1")},
		{"nothing", nil, none, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WANSet(tt.iface, tt.public, tt.doubleNAT); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("WANSet = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBuildDoubleNAT(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.1")
	tests := []struct {
		name       string
		mode       config.DoubleNAT
		wan        []netip.Addr
		wantDouble bool
		wantWAN    []netip.Addr
	}{
		{"auto behind a FiOS router", config.DoubleNATAuto, addrs("192.168.1.2"), true, addrs("192.168.1.2", "198.51.100.1")},
		{"auto with a public WAN address", config.DoubleNATAuto, addrs("203.0.113.7"), false, addrs("203.0.113.7")},
		{"forced on", config.DoubleNATOn, addrs("203.0.113.7"), true, addrs("198.51.100.1", "203.0.113.7")},
		{"forced off", config.DoubleNATOff, addrs("192.168.1.2"), false, addrs("192.168.1.2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cameras()
			cfg.WAN.DoubleNAT = tt.mode
			d, _ := Build(cfg, Observed{WANAddrs: tt.wan, Public: public}, Options{})
			if d.DoubleNAT != tt.wantDouble || !reflect.DeepEqual(d.WANAddrs, tt.wantWAN) {
				t.Errorf("DoubleNAT %v WANAddrs %v, want %v %v", d.DoubleNAT, d.WANAddrs, tt.wantDouble, tt.wantWAN)
			}
		})
	}
}

func TestRuleExpand(t *testing.T) {
	type pair struct{ ext, in uint16 }
	tests := []struct {
		name string
		rule Rule
		want []pair
	}{
		{"single port", rule("cam", "tcp", 8090, 8090, "192.168.88.180", 80, 80), []pair{{8090, 80}}},
		{"same port", rule("web", "tcp", 443, 443, "192.168.88.10", 443, 443), []pair{{443, 443}}},
		{"range 1:1", rule("cams", "tcp", 8090, 8093, "192.168.88.180", 80, 83),
			[]pair{{8090, 80}, {8091, 81}, {8092, 82}, {8093, 83}}},
		{"range onto one port", rule("cams", "tcp", 8090, 8092, "192.168.88.180", 80, 80),
			[]pair{{8090, 80}, {8091, 80}, {8092, 80}}},
		{"range at the top of the port space", rule("hi", "udp", 65533, 65535, "192.168.88.5", 1, 3),
			[]pair{{65533, 1}, {65534, 2}, {65535, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []pair
			tt.rule.Expand(func(ext, in uint16) bool {
				got = append(got, pair{ext, in})
				return true
			})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expand = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleExpandStops(t *testing.T) {
	n := 0
	rule("all", "tcp", 1, 65535, "192.168.88.5", 1, 65535).Expand(func(uint16, uint16) bool {
		n++
		return n < 3
	})
	if n != 3 {
		t.Errorf("Expand called yield %d times after it returned false at 3", n)
	}
	n = 0
	rule("all", "tcp", 1, 65535, "192.168.88.5", 1, 65535).Expand(func(uint16, uint16) bool { n++; return true })
	if n != 65535 {
		t.Errorf("full range expanded to %d ports", n)
	}
}

// Whatever the observed nets, the LAN set must stay free of overlaps (nftables refuses them) and still cover
// every observed net.
func TestBuildLANNetsNeverOverlap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var obs []netip.Prefix
		for range 1 + rng.IntN(6) {
			a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4)), 1})
			obs = append(obs, netip.PrefixFrom(a, 8+rng.IntN(17)))
		}
		d, _ := Build(cameras(), Observed{LANNets: obs}, Options{})
		for i, p := range d.LANNets {
			for _, q := range d.LANNets[i+1:] {
				if p.Overlaps(q) {
					t.Fatalf("observed %v gave overlapping %v and %v", obs, p, q)
				}
			}
		}
		for _, o := range obs {
			if !slices.ContainsFunc(d.LANNets, func(p netip.Prefix) bool { return p.Bits() <= o.Bits() && p.Contains(o.Addr()) }) {
				t.Fatalf("observed %v: %v is not covered by %v", obs, o, d.LANNets)
			}
		}
	}
}

// DiffPrefixes gives what went and what came, wherever the change is in the lists (the equal head and tail
// are skipped).
func TestDiffPrefixes(t *testing.T) {
	p := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	for _, tt := range []struct {
		name                     string
		from, to, removed, added []netip.Prefix
	}{
		{"equal", p("10.0.0.0/8", "192.0.2.0/24"), p("10.0.0.0/8", "192.0.2.0/24"), nil, nil},
		{"first swapped", p("10.0.0.0/8", "192.0.2.0/24"), p("11.0.0.0/8", "192.0.2.0/24"), p("10.0.0.0/8"), p("11.0.0.0/8")},
		{"middle added", p("10.0.0.0/8", "192.0.2.0/24"), p("10.0.0.0/8", "172.16.0.0/12", "192.0.2.0/24"), nil, p("172.16.0.0/12")},
		{"last gone", p("10.0.0.0/8", "192.0.2.0/24"), p("10.0.0.0/8"), p("192.0.2.0/24"), nil},
		{"length changed", p("10.0.0.0/8", "192.0.2.0/24", "203.0.113.0/24"), p("10.0.0.0/8", "192.0.2.0/25", "203.0.113.0/24"), p("192.0.2.0/24"), p("192.0.2.0/25")},
		{"all new", p("10.0.0.0/8"), p("11.0.0.0/8", "12.0.0.0/8"), p("10.0.0.0/8"), p("11.0.0.0/8", "12.0.0.0/8")},
		{"from empty", nil, p("10.0.0.0/8"), nil, p("10.0.0.0/8")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			removed, added := DiffPrefixes(tt.from, tt.to)
			if !slices.Equal(removed, tt.removed) || !slices.Equal(added, tt.added) {
				t.Errorf("DiffPrefixes = %v, %v; want %v, %v", removed, added, tt.removed, tt.added)
			}
		})
	}
}

// BenchmarkBuild is the plan at size: `hairpin apply` of many forwards builds it once the config is read.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		cfg := &config.Config{WAN: config.WAN{Interface: "wan0"}, LAN: config.LAN{Interface: "lan0"}}
		for i := range n {
			to := netip.AddrFrom4([4]byte{192, 168, 88, byte(2 + i%253)})
			cfg.Forwards = append(cfg.Forwards, config.Forward{Name: fmt.Sprintf("f%d", i), Protocol: config.TCP,
				Port: config.PortRange{First: uint16(1024 + i), Last: uint16(1024 + i)}, To: to,
				ToPort: config.PortRange{First: uint16(80 + i%1000), Last: uint16(80 + i%1000)}})
		}
		obs := Observed{WANAddrs: addrs("203.0.113.7"), LANNets: nets("192.168.88.1/24")}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Build(cfg, obs, Options{})
			}
		})
	}
}
