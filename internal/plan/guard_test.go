package plan

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func guardedConfig() *config.Config {
	return &config.Config{
		WAN: config.WAN{Interface: "eth0"}, LAN: config.LAN{Interface: "br-lan"},
		AllowSets: []config.AllowSet{
			{ID: "set-family", Hosts: []string{"a.example.net", "b.example.net"}},
			{ID: "fwd-cam", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		},
		Forwards: []config.Forward{
			{Name: "cam", Protocol: config.TCP, Port: config.PortRange{First: 8090, Last: 8090}, To: netip.MustParseAddr("192.168.88.180"),
				ToPort: config.PortRange{First: 80, Last: 80}, AllowOn: true, Allow: []string{"fwd-cam", "set-family"}},
			{Name: "nvr", Protocol: config.TCP, Port: config.PortRange{First: 8443, Last: 8443}, To: netip.MustParseAddr("192.168.88.181"),
				ToPort: config.PortRange{First: 443, Last: 443}, Limit: &config.Limit{Count: 10, Unit: "minute", Burst: 10}},
			{Name: "open", Protocol: config.TCP, Port: config.PortRange{First: 80, Last: 80}, To: netip.MustParseAddr("192.168.88.182"),
				ToPort: config.PortRange{First: 80, Last: 80}},
		},
	}
}

func TestGuards(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	obs := Observed{WANAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.10")}, HostAddrs: map[string][]netip.Addr{
		"a.example.net": {b, a}, "b.example.net": {a, netip.MustParseAddr("2001:db8::1")}}}
	d, _ := Build(guardedConfig(), obs, Options{})
	wantSets := []AllowSet{
		{ID: "fwd-cam", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		{ID: "set-family", Hosts: []string{"a.example.net", "b.example.net"}, HostAddrs: []netip.Addr{a, b}},
	}
	if !reflect.DeepEqual(d.AllowSets, wantSets) {
		t.Errorf("sets: got %+v, want %+v (sorted by ID, host addresses merged, sorted, IPv4 only)", d.AllowSets, wantSets)
	}
	wantGuards := []Guard{
		{Forward: "cam", Allow: true, Sets: []string{"fwd-cam", "set-family"}},
		{Forward: "nvr", Limit: &config.Limit{Count: 10, Unit: "minute", Burst: 10}},
	}
	if !reflect.DeepEqual(d.Guards, wantGuards) {
		t.Errorf("guards: got %+v, want %+v (an open forward has none)", d.Guards, wantGuards)
	}

	t.Run("a hostname moves", func(t *testing.T) {
		obs2 := obs
		obs2.HostAddrs = map[string][]netip.Addr{"a.example.net": {b}}
		d2, _ := Build(guardedConfig(), obs2, Options{})
		if !SameGuards(d, d2) {
			t.Fatal("only host addresses changed; the guards are the same")
		}
		changed := ChangedHostSets(d, d2)
		if len(changed) != 1 || changed[0].ID != "set-family" || !reflect.DeepEqual(changed[0].HostAddrs, []netip.Addr{b}) {
			t.Errorf("changed sets: %+v", changed)
		}
	})
	t.Run("the limit changes", func(t *testing.T) {
		cfg := guardedConfig()
		cfg.Forwards[1].Limit = &config.Limit{Count: 5, Unit: "minute", Burst: 5}
		d2, _ := Build(cfg, obs, Options{})
		if SameGuards(d, d2) {
			t.Error("a changed limit is a change of the guards")
		}
	})
	t.Run("a prefix changes", func(t *testing.T) {
		cfg := guardedConfig()
		cfg.AllowSets[1].Prefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")}
		d2, _ := Build(cfg, obs, Options{})
		if SameGuards(d, d2) {
			t.Error("a changed prefix is a change of the guards")
		}
	})
	if got := Hosts(guardedConfig()); !reflect.DeepEqual(got, []string{"a.example.net", "b.example.net"}) {
		t.Errorf("Hosts: %v", got)
	}
}
