package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseTo6(t *testing.T) {
	mk := func(a string, iid bool, first, last uint16) Target6 {
		return Target6{Addr: netip.MustParseAddr(a), IID: iid, Port: PortRange{first, last}}
	}
	tests := []struct {
		name string
		item string
		want Target6
	}{
		{"ULA takes to's internal port", "  - {name: cam, port: 8090, to: '192.168.88.180:80', to6: 'fd00:88::180'}", mk("fd00:88::180", false, 80, 80)},
		{"global address with its own port", "  - {name: cam, port: 8090, to: '192.168.88.180:80', to6: '[2001:db8:1::180]:8080'}", mk("2001:db8:1::180", false, 8080, 8080)},
		{"interface identifier", "  - {name: cam, port: 8090, to: '192.168.88.180:80', to6: '::21a:2bff:fe3c:4d5e'}", mk("::21a:2bff:fe3c:4d5e", true, 80, 80)},
		{"interface identifier in brackets with a range", "  - {name: cams, port: 8090-8093, to: '192.168.88.180:80-83', to6: '[::1:2:3:4]:180-183'}", mk("::1:2:3:4", true, 180, 183)},
		{"range onto one port", "  - {name: cams, port: 8090-8093, to: '192.168.88.180:80', to6: '[fd00::180]:80'}", mk("fd00::180", false, 80, 80)},
		{"identifier ::2", "  - {name: cam, port: 8090, to: 192.168.88.180, to6: '::2'}", mk("::2", true, 8090, 8090)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, withHeader(tt.item))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := cfg.Forwards[0].To6; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("To6 = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWithoutTo6IsNotForwardedOnIPv6(t *testing.T) {
	cfg, err := Parse(file, withHeader("  - {name: cam, port: 8090, to: 192.168.88.180}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Forwards[0].To6.IsValid() {
		t.Errorf("To6 = %+v, want none", cfg.Forwards[0].To6)
	}
}

func TestParseTo6Errors(t *testing.T) {
	tests := []struct {
		name string
		item []string
		want []string
	}{
		{"IPv4 address", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 192.168.88.180"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: 192.168.88.180 is an IPv4 address (put IPv4 targets in `to`; to6 takes the target's IPv6 address)"}},
		{"not an address", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: camera.lan"},
			[]string{`hairpin.yaml:9:10: forwards[0].to6: "camera.lan" is not an IPv6 address (` + to6Hint + `)`}},
		{"link-local names the identifier to write", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 'fe80::21a:2bff:fe3c:4d5e'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: fe80::21a:2bff:fe3c:4d5e is link-local, valid on one link only (write the interface identifier ::21a:2bff:fe3c:4d5e to follow the LAN prefix, or the target's ULA or global address)"}},
		{"zone", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 'fd00::1%br-lan'"},
			[]string{`hairpin.yaml:9:10: forwards[0].to6: "fd00::1%br-lan" has a zone (%br-lan) (leave out the zone: hairpin forwards to routable addresses only)`}},
		{"multicast", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 'ff02::1'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: ff02::1 is a multicast address (" + to6Hint + ")"}},
		{"loopback", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: '::1'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: ::1 is the loopback address (write the target's full ULA or global address)"}},
		{"unspecified", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: '::'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: :: is the unspecified address (" + to6Hint + ")"}},
		{"IPv4-mapped", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: '::ffff:192.168.88.180'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: ::ffff:192.168.88.180 is an IPv4-mapped address (put IPv4 targets in `to`; to6 takes the target's IPv6 address)"}},
		{"port without brackets", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 'fd00::180:80x'"},
			[]string{`hairpin.yaml:9:10: forwards[0].to6: "fd00::180:80x" is not an IPv6 address (` + to6Hint + `)`}},
		{"unclosed bracket", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: '[fd00::180:80'"},
			[]string{`hairpin.yaml:9:10: forwards[0].to6: "[fd00::180:80" has no closing ']' (` + to6Hint + `)`}},
		{"bad port", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: '[fd00::180]:0'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: port 0 is out of range (ports are 1 to 65535; a range is FIRST-LAST)"}},
		{"range length mismatch", []string{"  - name: cams", "    port: 8090-8093", "    to: 192.168.88.180", "    to6: '[fd00::180]:80-81'"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: range 80-81 has 2 ports but the external range has 4 (give 4 internal ports to match port 8090-8093, or a single port)"}},
		{"allow list", []string{"  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    to6: 'fd00::180'", "    allow: [198.51.100.0/24]"},
			[]string{"hairpin.yaml:9:10: forwards[0].to6: a forward with an allow list or a limit cannot be forwarded on IPv6 (remove to6, or remove allow and limit: allow lists and limits hold IPv4 sources only, and an IPv6 forward would let everyone in)"}},
		{"several at once, each on its line", []string{
			"  - {name: a, port: 8090, to: 192.168.88.180, to6: 'fe80::1'}",
			"  - {name: b, port: 8091, to: 192.168.88.181, to6: 'fd00::181'}",
			"  - {name: c, port: 8092, to: 192.168.88.182, to6: 10.0.0.1}"},
			[]string{
				"hairpin.yaml:6:52: forwards[0].to6: fe80::1 is link-local, valid on one link only (write the target's ULA or global address)",
				"hairpin.yaml:8:52: forwards[2].to6: 10.0.0.1 is an IPv4 address (put IPv4 targets in `to`; to6 takes the target's IPv6 address)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, withHeader(tt.item...))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg.Forwards)
			}
			if got := issues(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestParseTo6WithRouterOS: a literal to6 is forwarded by the routeros backend without a word; an interface
// identifier draws a warning with its line, since following the LAN prefix would take a script on the router.
func TestParseTo6WithRouterOS(t *testing.T) {
	cfg, err := Parse(file, yamlLines("backend: routeros", "routeros: {url: 'https://192.0.2.1', username: hairpin, password_file: /dev/null}",
		"wan: {interface: ether1}", "lan: {interface: bridge}", "forwards:",
		"  - {name: cam, port: 8090, to: 192.168.88.180, to6: 'fd00::180'}",
		"  - {name: nvr, port: 8091, to: 192.168.88.181, to6: '::21a:2bff:fe3c:4d5e'}"))
	if err != nil {
		t.Skipf("routeros section not accepted here: %v", err)
	}
	got := strings.Join(render(cfg.Warnings), "\n")
	if strings.Contains(got, "forwards[0].to6") || !strings.Contains(got, "hairpin.yaml:7:54: forwards[1].to6: the routeros backend forwards a literal to6 address only") {
		t.Errorf("warnings = %q", got)
	}
}

func TestTarget6Combine(t *testing.T) {
	iid := Target6{Addr: netip.MustParseAddr("::21a:2bff:fe3c:4d5e"), IID: true}
	if got := iid.Combine(netip.MustParsePrefix("2001:db8:1:2::1/64")); got != netip.MustParseAddr("2001:db8:1:2:21a:2bff:fe3c:4d5e") {
		t.Errorf("Combine = %s", got)
	}
	fixed := Target6{Addr: netip.MustParseAddr("fd00::180")}
	if got := fixed.Combine(netip.MustParsePrefix("2001:db8:1:2::/64")); got != fixed.Addr {
		t.Errorf("a fixed address changed: %s", got)
	}
}

func TestParseDDNSFamily(t *testing.T) {
	rfc := "  - {provider: rfc2136, hostname: home.example.net, server: 192.0.2.53, zone: example.net, tsig_key: k, tsig_secret_env: S, family: %s}"
	for _, tt := range []struct{ in, want string }{{"ipv4", ""}, {"ipv6", "ipv6"}, {"both", "both"}} {
		cfg, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "ddns:", strings.ReplaceAll(rfc, "%s", tt.in)))
		if err != nil {
			t.Fatalf("family %s: %v", tt.in, err)
		}
		if cfg.DDNS[0].Family != tt.want {
			t.Errorf("family %s: Family = %q, want %q", tt.in, cfg.DDNS[0].Family, tt.want)
		}
	}
	cfg, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "ddns:",
		"  - {provider: dyndns2, hostname: home.example.net, username: u, password_env: P, family: both, ipv6_param: myipv6}",
		"  - {provider: duckdns, hostname: home, token_env: T, family: ipv6}"))
	if err != nil || dyn(cfg.DDNS[0]).IPv6Param != "myipv6" || cfg.DDNS[1].Family != "ipv6" {
		t.Fatalf("dyndns2 both and duckdns ipv6: %v", err)
	}
	_, err = Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "ddns:",
		"  - {provider: duckdns, hostname: home, token_env: T}",
		"  - {provider: dyndns2, hostname: home.example.net, username: u, password_env: P, family: both}",
		"  - {provider: duckdns, hostname: cams, token_env: T, family: ipv5}",
		"  - {provider: dyndns2, hostname: cams.example.net, username: u, password_env: P, family: ipv6, ipv6_param: myip}",
		"  - {provider: dyndns2, hostname: nas.example.net, username: u, password_env: P, family: both, ipv6_param: ip6}"))
	want := []string{
		"hairpin.yaml:5:5: ddns[1].ipv6_param: required key is missing: provider dyndns2 needs it to publish the AAAA record (add ipv6_param: myip or myipv6, as the provider documents it)",
		`hairpin.yaml:6:63: ddns[2].family: "ipv5" is not allowed (use one of: ipv4, ipv6, both)`,
		"hairpin.yaml:7:91: ddns[3].family: provider dyndns2 cannot publish the AAAA record alone: a dyndns2 request without the IPv4 address lets the provider set the A record to the caller's address, or delete it (use family: both)",
		`hairpin.yaml:8:108: ddns[4].ipv6_param: "ip6" is not allowed (use one of: myip, myipv6)`,
	}
	if got := issues(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
