package config_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func TestHA(t *testing.T) {
	const base = "wan:\n  interface: eth0\nlan:\n  interface: br-lan\n  subnets: [192.168.88.0/24]\nforwards:\n  - {name: cam, port: 8090, to: 192.168.88.10:80}\n"
	t.Run("lan and wan addresses", func(t *testing.T) {
		cfg, err := config.Parse("hairpin.yaml", []byte(base+"ha:\n  lan_address: 192.168.88.1\n  wan_address: 203.0.113.10\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.HA == nil || cfg.HA.LANAddress != netip.MustParseAddr("192.168.88.1") || cfg.HA.WANAddress != netip.MustParseAddr("203.0.113.10") {
			t.Errorf("HA = %+v", cfg.HA)
		}
	})
	t.Run("no ha: a router on its own", func(t *testing.T) {
		cfg, err := config.Parse("hairpin.yaml", []byte(base))
		if err != nil || cfg.HA != nil {
			t.Fatalf("HA = %+v, %v", cfg.HA, err)
		}
	})
	for _, tc := range []struct{ name, cfg, want string }{
		{"missing lan_address", base + "ha:\n  wan_address: 203.0.113.10\n",
			"hairpin.yaml:9:3: ha.lan_address: required key is missing (add `lan_address: 192.168.88.1`"},
		{"not an address", base + "ha:\n  lan_address: 192.168.88.0/24\n",
			`hairpin.yaml:9:16: ha.lan_address: "192.168.88.0/24" is not a unicast IPv4 address (write the virtual IPv4 address`},
		{"IPv6", base + "ha:\n  lan_address: 2001:db8::1\n", `ha.lan_address: "2001:db8::1" is not a unicast IPv4 address`},
		{"outside the LAN", base + "ha:\n  lan_address: 10.0.0.1\n",
			"hairpin.yaml:9:16: ha.lan_address: 10.0.0.1 is outside the LAN subnets [192.168.88.0/24]"},
		{"a forward's target", base + "ha:\n  lan_address: 192.168.88.10\n", `forward "cam" targets 192.168.88.10, the virtual address`},
		{"same as the WAN's", base + "ha:\n  lan_address: 192.168.88.1\n  wan_address: 192.168.88.1\n", "hairpin.yaml:10:16: ha.wan_address: it is the same as lan_address"},
		{"unknown key", base + "ha:\n  lan_address: 192.168.88.1\n  priority: 100\n", "ha.priority"},
		{"routeros", "backend: routeros\nrouteros: {url: https://192.168.88.1, username: hairpin, password_env: P}\n" + base + "ha:\n  lan_address: 192.168.88.1\n",
			"ha: ha is for the linux backend"},
		{"no LAN interface", "wan:\n  interface: eth0\nlan:\n  subnets: [192.168.88.0/24]\nha:\n  lan_address: 192.168.88.1\n", "ha needs the LAN interface"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("hairpin.yaml", []byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
