package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	// The DNS providers decode their own keys of a ddns entry; linking the registry in hands them to Parse.
	_ "github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
)

// dyn is a dyndns2 entry's settings.
func dyn(e ddnsconf.Entry) *dyndns2.Settings {
	s, _ := e.Settings.(*dyndns2.Settings)
	if s == nil {
		return &dyndns2.Settings{}
	}
	return s
}

const file = "hairpin.yaml"

// yamlLines joins lines with newlines, so that a test's line numbers can be counted in its source.
func yamlLines(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// header is a valid wan and lan section; forwards added after it start on line 6.
var header = []string{
	"wan:",
	"  interface: eth0",
	"lan:",
	"  interface: br-lan",
	"forwards:",
}

func withHeader(lines ...string) []byte {
	return yamlLines(append(append([]string{}, header...), lines...)...)
}

// issues renders the Errors in err, failing the test when err is not an Errors.
func issues(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want config.Errors: %v", err, err)
	}
	return render(errs)
}

func render(errs Errors) []string {
	if len(errs) == 0 {
		return nil
	}
	out := make([]string, len(errs))
	for i, is := range errs {
		out[i] = is.String()
	}
	return out
}

func TestParseMinimalConfigFromIssue(t *testing.T) {
	data := []byte(`wan:
  interface: eth0
lan:
  interface: br-lan
forwards:
  - name: front-cam
    port: 8090
    to: 192.168.88.180:80
    protocol: tcp
`)
	cfg, err := Parse(file, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Config{
		File:     file,
		Backend:  "linux",
		StateDir: DefaultStateDir,
		WAN:      WAN{Interface: "eth0", DoubleNAT: DoubleNATAuto, PublicIPEvery: DefaultPublicIPEvery, Upstream: Upstream{Mode: UpstreamOff, Lease: DefaultUpstreamLease}},
		LAN:      LAN{Interface: "br-lan"},
		Forwards: []Forward{{
			Name: "front-cam", Protocol: TCP, Port: PortRange{8090, 8090},
			To: netip.MustParseAddr("192.168.88.180"), ToPort: PortRange{80, 80}, Line: 6,
		}},
		Daemon: Daemon{Resync: DefaultResync, Status: DefaultStatusSocket, LogFormat: "text"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseForwardDefaults(t *testing.T) {
	addr := netip.MustParseAddr("192.168.88.180")
	tests := []struct {
		name string
		item []string
		want Forward
	}{
		{"protocol defaults to tcp and to-port to the external port",
			[]string{"  - {name: cam, port: 8090, to: 192.168.88.180}"},
			Forward{Name: "cam", Protocol: TCP, Port: PortRange{8090, 8090}, To: addr, ToPort: PortRange{8090, 8090}, Line: 6}},
		{"explicit single internal port",
			[]string{"  - {name: cam, port: 8090, to: '192.168.88.180:80', protocol: udp}"},
			Forward{Name: "cam", Protocol: UDP, Port: PortRange{8090, 8090}, To: addr, ToPort: PortRange{80, 80}, Line: 6}},
		{"range without internal port maps to the same ports",
			[]string{"  - {name: cams, port: 8090-8093, to: 192.168.88.180, protocol: both}"},
			Forward{Name: "cams", Protocol: Both, Port: PortRange{8090, 8093}, To: addr, ToPort: PortRange{8090, 8093}, Line: 6}},
		{"range maps 1:1 onto an internal range",
			[]string{"  - name: cams", "    port: \"8090-8093\"", "    to: 192.168.88.180:80-83"},
			Forward{Name: "cams", Protocol: TCP, Port: PortRange{8090, 8093}, To: addr, ToPort: PortRange{80, 83}, Line: 6}},
		{"range onto one internal port",
			[]string{"  - name: cams", "    port: 8090-8093", "    to: 192.168.88.180:80"},
			Forward{Name: "cams", Protocol: TCP, Port: PortRange{8090, 8093}, To: addr, ToPort: PortRange{80, 80}, Line: 6}},
		{"port given as a quoted string",
			[]string{"  - {name: cam, port: \"443\", to: 192.168.88.180}"},
			Forward{Name: "cam", Protocol: TCP, Port: PortRange{443, 443}, To: addr, ToPort: PortRange{443, 443}, Line: 6}},
		{"highest port",
			[]string{"  - {name: cam, port: 65535, to: 192.168.88.180:1}"},
			Forward{Name: "cam", Protocol: TCP, Port: PortRange{65535, 65535}, To: addr, ToPort: PortRange{1, 1}, Line: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, withHeader(tt.item...))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(cfg.Forwards) != 1 || !reflect.DeepEqual(cfg.Forwards[0], tt.want) {
				t.Errorf("Forwards = %+v, want [%+v]", cfg.Forwards, tt.want)
			}
		})
	}
}

func TestParseSectionDefaults(t *testing.T) {
	cfg, err := Parse(file, withHeader())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.StateDir != "/var/lib/hairpin" || cfg.Backend != "linux" || cfg.WAN.DoubleNAT != DoubleNATAuto ||
		cfg.WAN.PublicIPEvery != 10*time.Minute || cfg.Daemon.Resync != 5*time.Minute ||
		cfg.Daemon.Status != "/run/hairpin/hairpin.sock" || cfg.Daemon.LogFormat != "text" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if len(cfg.Forwards) != 0 {
		t.Errorf("Forwards = %v, want none", cfg.Forwards)
	}
}

func TestParseOverrides(t *testing.T) {
	cfg, err := Parse(file, yamlLines(
		"backend: linux",
		"state_dir: /srv/hairpin",
		"wan:",
		"  interface: ppp0",
		"  public_ip: [https://ip.example.net/, 'stun:stun.example.net:3478', 'dns:ns1.example.net']",
		"  double_nat: on",
		"  public_ip_interval: 1m",
		"lan:",
		"  interface: lan0",
		"  subnets: [192.168.88.1/24, 10.1.0.0/16]",
		"daemon:",
		"  resync: 30s",
		"  status: 127.0.0.1:9469",
		"  log_format: json",
	))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.StateDir != "/srv/hairpin" || cfg.WAN.Interface != "ppp0" || cfg.WAN.DoubleNAT != DoubleNATOn ||
		cfg.WAN.PublicIPEvery != time.Minute || len(cfg.WAN.PublicIP) != 3 ||
		cfg.Daemon.Resync != 30*time.Second || cfg.Daemon.Status != "127.0.0.1:9469" || cfg.Daemon.LogFormat != "json" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("192.168.88.0/24"), netip.MustParsePrefix("10.1.0.0/16")}
	if !reflect.DeepEqual(cfg.LAN.Subnets, wantNets) {
		t.Errorf("LAN.Subnets = %v, want %v (masked)", cfg.LAN.Subnets, wantNets)
	}
}

func TestParseDoubleNATSpellings(t *testing.T) {
	for in, want := range map[string]DoubleNAT{
		"auto": DoubleNATAuto, "on": DoubleNATOn, "off": DoubleNATOff, `"on"`: DoubleNATOn, `"off"`: DoubleNATOff,
		"true": DoubleNATOn, "false": DoubleNATOff,
	} {
		t.Run(in, func(t *testing.T) {
			cfg, err := Parse(file, yamlLines("wan: {interface: eth0, double_nat: "+in+"}", "lan: {interface: br-lan}"))
			if err != nil {
				t.Errorf("double_nat: %s: %v", in, err)
				return
			}
			if cfg.WAN.DoubleNAT != want {
				t.Errorf("double_nat: %s gives %q, want %q", in, cfg.WAN.DoubleNAT, want)
			}
		})
	}
}

func TestParseLANSubnetsOnly(t *testing.T) {
	cfg, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {subnets: [192.168.88.0/24]}"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.LAN.Interface != "" || len(cfg.LAN.Subnets) != 1 {
		t.Errorf("LAN = %+v", cfg.LAN)
	}
}

func TestParseErrors(t *testing.T) {
	const forwardKeys = "known keys: allow, limit, name, port, protocol, to, to6"
	const topKeys = "known keys: allow_sets, backend, daemon, ddns, forwards, ha, lan, notify, routeros, secret_owners, state_dir, wan"
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		// Unknown keys.
		{"unknown top-level key with a suggestion", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "forward: []"),
			[]string{`hairpin.yaml:3:1: forward: unknown key (did you mean "forwards"? ` + topKeys + `)`}},
		{"unknown forward key with a suggestion", withHeader("  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    protocl: udp"),
			[]string{`hairpin.yaml:9:5: forwards[0].protocl: unknown key (did you mean "protocol"? ` + forwardKeys + `)`}},
		{"unknown key without a close match", withHeader("  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    colour: red"),
			[]string{`hairpin.yaml:9:5: forwards[0].colour: unknown key (` + forwardKeys + `)`}},
		{"unknown wan key", yamlLines("wan:", "  interface: eth0", "  interfce: eth1", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:3:3: wan.interfce: unknown key (did you mean "interface"? known keys: double_nat, interface, probe, public_ip, public_ip_interval, upstream, upstream_gateway, upstream_lease, upstream_on_stop)`}},

		// Wrong types.
		{"section is a string", yamlLines("wan: eth0", "lan: {interface: br-lan}"),
			[]string{"hairpin.yaml:1:6: wan: expected a mapping, found \"eth0\" (write it as `key: value` lines indented under wan)"}},
		{"forwards is a mapping", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "forwards: {name: cam}"),
			[]string{"hairpin.yaml:3:11: forwards: expected a list, found a mapping (write it as a list of `- ` items)"}},
		{"forward item is a number", withHeader("  - 8090"),
			[]string{"hairpin.yaml:6:5: forwards[0]: expected a mapping, found the number 8090 (write it as `key: value` lines indented under forwards[0])"}},
		{"empty forward item", withHeader("  - ~"),
			[]string{"hairpin.yaml:6:5: forwards[0]: empty list item (write the forward's keys under the `-`, or remove the line)"}},
		{"port is a list", withHeader("  - {name: cam, port: [8090], to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: expected a port or range, found a list (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"port is a boolean", withHeader("  - {name: cam, port: true, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: expected a port or range, found true (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"port is a word", withHeader("  - {name: cam, port: http, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: "http" is not a port number (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"name is a mapping", withHeader("  - {name: {x: 1}, port: 8090, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:12: forwards[0].name: expected a string, found a mapping (give a single value)`}},
		{"invalid name", withHeader("  - {name: Front Cam, port: 8090, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:12: forwards[0].name: "Front Cam" is not a valid name (use 1 to 32 lowercase letters, digits and '-', not starting or ending with '-')`}},
		{"unknown protocol", withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, protocol: sctp}"),
			[]string{`hairpin.yaml:6:59: forwards[0].protocol: "sctp" is not allowed (use one of: tcp, udp, both)`}},
		{"subnets is a string", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan, subnets: 192.168.88.0/24}"),
			[]string{"hairpin.yaml:2:35: lan.subnets: expected a list, found \"192.168.88.0/24\" (write it as a list of `- ` items)"}},
		{"IPv6 subnet", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan, subnets: ['fd00::/64']}"),
			[]string{`hairpin.yaml:2:36: lan.subnets[0]: "fd00::/64" is not an IPv4 subnet (write an IPv4 subnet such as 192.168.88.0/24)`}},
		{"duration without unit", yamlLines("wan: {interface: eth0, public_ip_interval: 5}", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:1:44: wan.public_ip_interval: "5" is not a valid duration (use a duration such as 30s or 5m, at least 30s)`}},
		{"duration too short", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "daemon: {resync: 10ms}"),
			[]string{`hairpin.yaml:3:18: daemon.resync: "10ms" is not a valid duration (use a duration such as 30s or 5m, at least 1s)`}},
		{"resync of a century", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "daemon: {resync: 876000h}"),
			[]string{`hairpin.yaml:3:18: daemon.resync: "876000h" is too long (use at most 24h)`}},
		{"every wait is bounded", yamlLines("wan: {interface: eth0, public_ip_interval: 25h}", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:1:44: wan.public_ip_interval: "25h" is too long (use at most 24h)`}},
		{"interface name with a space", yamlLines("wan: {interface: 'eth 0'}", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:1:18: wan.interface: "eth 0" is not a valid interface name (interface names are 1 to 15 characters without spaces, '/' or ':'; a RouterOS name such as "ether1 - uplink" needs backend: routeros)`}},
		{"unknown public_ip scheme", yamlLines("wan: {interface: eth0, public_ip: ['ftp://x']}", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:1:36: wan.public_ip[0]: "ftp://x" has an unknown scheme (use http(s)://host/path, stun:host:port or dns:server[:port])`}},
		{"status neither path nor address", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "daemon: {status: run/hairpin.sock}"),
			[]string{`hairpin.yaml:3:18: daemon.status: "run/hairpin.sock" is neither an absolute socket path nor an IP:port (use a unix socket path such as /run/hairpin/hairpin.sock or host:port such as 127.0.0.1:9469)`}},
		{"unknown backend", yamlLines("backend: openwrt", "wan: {interface: eth0}", "lan: {interface: br-lan}"),
			[]string{`hairpin.yaml:1:10: backend: "openwrt" is not allowed (use one of: linux, routeros)`}},

		// Forward sets.
		{"duplicate names", withHeader(
			"  - {name: cam, port: 8090, to: 192.168.88.180:80}",
			"  - {name: cam, port: 8091, to: 192.168.88.181:80}"),
			[]string{`hairpin.yaml:7:12: forwards[1].name: duplicate name "cam" (forwards[0] on line 6 has it already; names must be unique)`}},
		{"overlapping tcp ports", withHeader(
			"  - {name: cams, port: 8090-8093, to: 192.168.88.180:80}",
			"  - {name: nvr, port: 8092, to: 192.168.88.190}"),
			[]string{`hairpin.yaml:7:23: forwards[1].port: tcp port 8092 overlaps another forward ("cams" on line 6 uses tcp 8090-8093; pick ports that do not overlap)`}},
		{"tcp overlaps both", withHeader(
			"  - {name: cams, port: 8090-8093, to: 192.168.88.180:80}",
			"  - {name: nvr, port: 8093-8095, to: 192.168.88.190, protocol: both}"),
			[]string{`hairpin.yaml:7:23: forwards[1].port: tcp port 8093-8095 overlaps another forward ("cams" on line 6 uses tcp 8090-8093; pick ports that do not overlap)`}},
		{"both overlaps udp", withHeader(
			"  - {name: game, port: 27015, to: 192.168.88.50, protocol: both}",
			"  - {name: voice, port: 27015, to: 192.168.88.51, protocol: udp}"),
			[]string{`hairpin.yaml:7:25: forwards[1].port: udp port 27015 overlaps another forward ("game" on line 6 uses udp 27015; pick ports that do not overlap)`}},
		{"overlap reported once per forward", withHeader(
			"  - {name: a, port: 8090, to: 192.168.88.180}",
			"  - {name: b, port: 8091, to: 192.168.88.181}",
			"  - {name: c, port: 8090-8091, to: 192.168.88.182}"),
			[]string{
				`hairpin.yaml:8:21: forwards[2].port: tcp port 8090-8091 overlaps another forward ("a" on line 6 uses tcp 8090; pick ports that do not overlap)`,
			}},
		{"positions survive a broken item before them", withHeader(
			"  - oops",
			"  - {name: cam, port: 8090, to: 192.168.88.180}",
			"  - {name: cam, port: 8090, to: 192.168.88.181}"),
			[]string{
				"hairpin.yaml:6:5: forwards[0]: expected a mapping, found \"oops\" (write it as `key: value` lines indented under forwards[0])",
				`hairpin.yaml:8:12: forwards[2].name: duplicate name "cam" (forwards[1] on line 7 has it already; names must be unique)`,
				`hairpin.yaml:8:23: forwards[2].port: tcp port 8090 overlaps another forward ("cam" on line 7 uses tcp 8090; pick ports that do not overlap)`,
			}},

		// Ports.
		{"port 0", withHeader("  - {name: cam, port: 0, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: port 0 is out of range (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"port 65536", withHeader("  - {name: cam, port: 65536, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: port 65536 is out of range (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"negative port", withHeader("  - {name: cam, port: -1, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: "" is not a port number (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"range ending above 65535", withHeader("  - {name: cam, port: 65530-65536, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: port 65536 is out of range (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"backwards range", withHeader("  - {name: cam, port: 8093-8090, to: 192.168.88.180}"),
			[]string{`hairpin.yaml:6:23: forwards[0].port: range 8093-8090 ends before it starts (ports are 1 to 65535; a range is written "8090-8093")`}},
		{"internal port 0", withHeader("  - {name: cam, port: 8090, to: '192.168.88.180:0'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: port 0 is out of range (ports are 1 to 65535; a range is FIRST-LAST)`}},
		{"internal port 70000", withHeader("  - {name: cam, port: 8090, to: '192.168.88.180:70000'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: port 70000 is out of range (ports are 1 to 65535; a range is FIRST-LAST)`}},
		{"range length mismatch", withHeader("  - {name: cams, port: 8090-8093, to: '192.168.88.180:80-82'}"),
			[]string{`hairpin.yaml:6:39: forwards[0].to: range 80-82 has 3 ports but the external range has 4 (give 4 internal ports to match port 8090-8093, or a single port)`}},
		{"internal range for a single port", withHeader("  - {name: cam, port: 8090, to: '192.168.88.180:80-81'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: range 80-81 has 2 ports but the external range has 1 (give 1 internal ports to match port 8090, or a single port)`}},
		{"colon without port", withHeader("  - {name: cam, port: 8090, to: '192.168.88.180:'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: "192.168.88.180:" has a ':' but no port (write ADDRESS or ADDRESS:PORT or ADDRESS:FIRST-LAST, e.g. 192.168.88.180:80)`}},

		// Targets.
		{"multicast target", withHeader("  - {name: cam, port: 8090, to: 224.0.0.1}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: 224.0.0.1 is not a unicast IPv4 address (forward to a host's unicast IPv4 address on your LAN)`}},
		{"unspecified target", withHeader("  - {name: cam, port: 8090, to: 0.0.0.0}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: 0.0.0.0 is not a unicast IPv4 address (forward to a host's unicast IPv4 address on your LAN)`}},
		{"broadcast target", withHeader("  - {name: cam, port: 8090, to: '255.255.255.255:80'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: 255.255.255.255 is not a unicast IPv4 address (forward to a host's unicast IPv4 address on your LAN)`}},
		{"loopback target", withHeader("  - {name: cam, port: 8090, to: 127.0.0.1}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: 127.0.0.1 is not a unicast IPv4 address (forward to a host's unicast IPv4 address on your LAN)`}},
		{"link-local target", withHeader("  - {name: cam, port: 8090, to: 169.254.1.1}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: 169.254.1.1 is not a unicast IPv4 address (forward to a host's unicast IPv4 address on your LAN)`}},
		{"IPv6 target", withHeader("  - {name: cam, port: 8090, to: '2001:db8::1'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: "2001:db8::1" is not an IPv4 address with an optional port (write ADDRESS or ADDRESS:PORT or ADDRESS:FIRST-LAST, e.g. 192.168.88.180:80)`}},
		{"bracketed IPv6 target", withHeader("  - {name: cam, port: 8090, to: '[2001:db8::1]:80'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: "[2001:db8::1]:80" is not an IPv4 address with an optional port (write ADDRESS or ADDRESS:PORT or ADDRESS:FIRST-LAST, e.g. 192.168.88.180:80)`}},
		{"hostname target", withHeader("  - {name: cam, port: 8090, to: 'frontcam.lan:80'}"),
			[]string{`hairpin.yaml:6:33: forwards[0].to: "frontcam.lan:80" is not an IPv4 address with an optional port (write ADDRESS or ADDRESS:PORT or ADDRESS:FIRST-LAST, e.g. 192.168.88.180:80)`}},

		// Interfaces and required keys.
		{"WAN and LAN the same interface", yamlLines("wan:", "  interface: eth0", "lan:", "  interface: eth0"),
			[]string{`hairpin.yaml:4:14: lan.interface: "eth0" is also the WAN interface (hairpin needs distinct WAN and LAN interfaces)`}},
		{"missing wan and lan", yamlLines("forwards: []"),
			[]string{
				"hairpin.yaml:1:1: wan: required section is missing (add `wan: {interface: eth0}`)",
				"hairpin.yaml:1:1: lan: required section is missing (add `lan: {interface: br-lan}`)",
				"hairpin.yaml:1:11: forwards: the list is empty and there is no ddns entry: hairpin would do nothing (add a forward (`- {name: cam, port: 8090, to: 192.168.88.180:80}`), or a `ddns:` entry to use hairpin for dynamic DNS only)",
			}},
		{"empty sections", yamlLines("wan:", "lan:"),
			[]string{
				"hairpin.yaml:1:5: wan.interface: required key is missing (add `interface: eth0` (your WAN interface))",
				"hairpin.yaml:2:5: lan.interface: required key is missing (add `interface: br-lan` or `subnets: [192.168.88.0/24]`)",
			}},
		{"sections without interface", yamlLines("wan:", "  double_nat: on", "lan:", "  subnets: []"),
			[]string{
				"hairpin.yaml:2:3: wan.interface: required key is missing (add `interface: eth0` (your WAN interface))",
				"hairpin.yaml:4:3: lan.interface: required key is missing (add `interface: br-lan` or `subnets: [192.168.88.0/24]`)",
			}},
		{"forward without name, port and to", withHeader("  - protocol: udp"),
			[]string{
				"hairpin.yaml:6:5: forwards[0].name: required key is missing (add e.g. `name: front-cam`)",
				"hairpin.yaml:6:5: forwards[0].port: required key is missing (add e.g. `port: 8090`)",
				"hairpin.yaml:6:5: forwards[0].to: required key is missing (add e.g. `to: 192.168.88.180:80`)",
			}},

		// The file itself.
		{"empty file", nil, []string{"hairpin.yaml:1:1: (file): the file is empty (run `hairpin init` to write a starter config, or start from one in examples/)"}},
		{"only comments", yamlLines("# hairpin", "# nothing yet"), []string{"hairpin.yaml:1:1: (file): the file is empty (run `hairpin init` to write a starter config, or start from one in examples/)"}},
		{"only a document marker", yamlLines("---"), []string{"hairpin.yaml:1:1: (file): the file is empty (run `hairpin init` to write a starter config, or start from one in examples/)"}},
		{"top level is a list", yamlLines("- wan"),
			[]string{
				"hairpin.yaml:1:1: (file): expected a mapping, found a list (write it as `key: value` lines indented under the top level)",
				"hairpin.yaml:1:1: wan: required section is missing (add `wan: {interface: eth0}`)",
				"hairpin.yaml:1:1: lan: required section is missing (add `lan: {interface: br-lan}`)",
			}},
		{"tab indentation", yamlLines("wan:", "\tinterface: eth0"),
			[]string{"hairpin.yaml:2:1: (syntax): found character that cannot start any token (fix the YAML syntax; indent with spaces, not tabs)"}},
		{"unclosed flow mapping", yamlLines("wan: {interface: eth0", "lan: {interface: br-lan}"),
			[]string{"hairpin.yaml:1:1: (syntax): did not find expected ',' or '}' (fix the YAML syntax)"}},
		{"colon in a plain value", yamlLines("wan:", "  interface: eth0", "lan:", "  interface: br-lan", "forwards:", "  - name: cam", "    to: 192.168.88.180: 80"),
			[]string{"hairpin.yaml:7:1: (syntax): mapping values are not allowed in this context (fix the YAML syntax)"}},
		{"list item indented less than the one before", yamlLines("wan:", "  interface: eth0", "lan:", "  interface: br-lan", "forwards:", "  - name: a", "    port: 1", "    to: 192.168.88.2", " - name: b", "    port: 2"),
			[]string{"hairpin.yaml:9:1: (syntax): did not find expected key (fix the YAML syntax)"}},
		{"key indented less than its item's", yamlLines("wan:", "  interface: eth0", "lan:", "  interface: br-lan", "forwards:", "  - name: a", "   port: 1"),
			[]string{"hairpin.yaml:7:1: (syntax): did not find expected '-' indicator (fix the YAML syntax)"}},
		{"key at the list's indentation after a blank line", yamlLines("wan:", "  interface: eth0", "lan:", "  interface: br-lan", "forwards:", "  - name: a", "    port: 1", "", "  to: x"),
			[]string{"hairpin.yaml:9:1: (syntax): did not find expected '-' indicator (fix the YAML syntax)"}},
		{"control character", []byte("wan: \x01\n"),
			[]string{"hairpin.yaml:1:1: (syntax): control characters are not allowed (fix the YAML syntax)"}},
		{"second document", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "---", "forwards: []"),
			[]string{`hairpin.yaml:3:1: (file): a second YAML document starts here (keep every setting in one document; remove the "---" line)`}},
		{"duplicate top-level key", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "wan: {interface: eth1}"),
			[]string{"hairpin.yaml:3:1: wan: key appears more than once (remove one of them)"}},
		{"duplicate forward key", withHeader("  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    port: 8091"),
			[]string{"hairpin.yaml:9:5: forwards[0].port: key appears more than once (remove one of them)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want errors:\n%s", cfg, strings.Join(tt.want, "\n"))
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			if got := issues(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A file with five problems reports all five in one run, in file order, so the user fixes them in one edit.
func TestParseReportsAllErrorsSorted(t *testing.T) {
	data := yamlLines(
		"forwards:",
		"  - {name: cam, port: 0, to: 192.168.88.180}", // 2: port 0
		"  - {name: Cam2, port: 8091, to: 224.0.0.9}",  // 3: bad name, multicast target
		"wan:",
		"  interface: eth0",
		"  colour: blue", // 6: unknown key
		"lan:",
		"  interface: eth0", // 8: same as WAN
	)
	got := issues(t, func() error { _, err := Parse(file, data); return err }())
	want := []string{
		"hairpin.yaml:2:23: forwards[0].port: port 0 is out of range",
		"hairpin.yaml:3:12: forwards[1].name: \"Cam2\" is not a valid name",
		"hairpin.yaml:3:34: forwards[1].to: 224.0.0.9 is not a unicast IPv4 address",
		"hairpin.yaml:6:3: wan.colour: unknown key",
		"hairpin.yaml:8:14: lan.interface: \"eth0\" is also the WAN interface",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d issues, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("issue %d = %s\nwant prefix %s", i, got[i], want[i])
		}
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"target outside lan.subnets", yamlLines(
			"wan: {interface: eth0}",
			"lan: {interface: br-lan, subnets: [192.168.88.0/24]}",
			"forwards:",
			"  - {name: cam, port: 8090, to: 192.168.88.180}",
			"  - {name: nas, port: 8443, to: '10.9.0.5:443'}"),
			[]string{"hairpin.yaml:5:33: forwards[1].to: 10.9.0.5 is outside the LAN subnets (hairpin masquerades only LAN-to-LAN flows; a target elsewhere works from the internet only)"}},
		{"no forwards", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}"),
			[]string{"hairpin.yaml:1:1: forwards: no forwards configured; hairpin will install an empty table (add a `forwards:` list)"}},
		{"status on the network", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "forwards: [{name: a, port: 8090, to: 192.168.88.2}]", "daemon: {status: '0.0.0.0:9469'}"),
			[]string{"hairpin.yaml:4:18: daemon.status: the status listener is reachable from the network (status shows your forwards and addresses; keep it on loopback unless you firewall it)"}},
		{"nothing to warn about", withHeader("  - {name: cam, port: 8090, to: 192.168.88.180}"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(file, tt.data)
			if err != nil {
				t.Fatalf("a warning must not be an error: %v", err)
			}
			if got := render(cfg.Warnings); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestIssueString(t *testing.T) {
	is := Issue{File: "f.yaml", Line: 3, Col: 7, Key: "wan.interface", Problem: "bad"}
	if got, want := is.String(), "f.yaml:3:7: wan.interface: bad"; got != want {
		t.Errorf("without hint: %q, want %q", got, want)
	}
	is.Hint = "fix it"
	if got, want := is.String(), "f.yaml:3:7: wan.interface: bad (fix it)"; got != want {
		t.Errorf("with hint: %q, want %q", got, want)
	}
	errs := Errors{is, is}
	if got, want := errs.Error(), "f.yaml:3:7: wan.interface: bad (fix it)\nf.yaml:3:7: wan.interface: bad (fix it)"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestPortRange(t *testing.T) {
	tests := []struct {
		a, b     PortRange
		overlaps bool
	}{
		{PortRange{80, 80}, PortRange{80, 80}, true},
		{PortRange{80, 80}, PortRange{81, 81}, false},
		{PortRange{8090, 8093}, PortRange{8093, 9000}, true},
		{PortRange{8090, 8093}, PortRange{1, 8089}, false},
		{PortRange{1, 65535}, PortRange{443, 443}, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := tt.a.Overlaps(tt.b); got != tt.overlaps {
				t.Errorf("%v.Overlaps(%v) = %v", tt.a, tt.b, got)
			}
			if got := tt.b.Overlaps(tt.a); got != tt.overlaps {
				t.Errorf("%v.Overlaps(%v) = %v (not symmetric)", tt.b, tt.a, got)
			}
		})
	}
	if r := (PortRange{1, 65535}); r.Len() != 65535 || r.String() != "1-65535" {
		t.Errorf("full range: Len %d String %q", r.Len(), r.String())
	}
	if r := (PortRange{80, 80}); r.Len() != 1 || r.String() != "80" {
		t.Errorf("single port: Len %d String %q", r.Len(), r.String())
	}
}

func TestProtocolHas(t *testing.T) {
	for i, tt := range []struct {
		p, q Protocol
		want bool
	}{{TCP, TCP, true}, {TCP, UDP, false}, {UDP, UDP, true}, {Both, TCP, true}, {Both, UDP, true}, {UDP, TCP, false}} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := tt.p.Has(tt.q); got != tt.want {
				t.Errorf("%s.Has(%s) = %v", tt.p, tt.q, got)
			}
		})
	}
}

func TestCheckPublicIPSource(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://ip.example.net/": true, "http://192.0.2.1/ip": true, "stun:stun.example.net": true,
		"stun:stun.example.net:3478": true, "dns:ns1.example.net": true, "dns:192.0.2.53:5353": true,
		"https://": false, "stun:": false, "stun::3478": false, "stun:host:0": false, "dns:host:port": false,
		"ftp://x": false, "ip.example.net": false,
	} {
		t.Run(s, func(t *testing.T) {
			if err := checkPublicIPSource(s); (err == nil) != ok {
				t.Errorf("checkPublicIPSource(%q) = %v, want ok=%v", s, err, ok)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	cfg, err := Load("testdata/cameras.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.File != "testdata/cameras.yaml" || len(cfg.Forwards) != 4 {
		t.Fatalf("Load = %+v", cfg)
	}
	for i, f := range cfg.Forwards {
		if f.Port.First != uint16(8090+i) || f.To != netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}) || f.ToPort != (PortRange{80, 80}) {
			t.Errorf("camera %d = %+v", i, f)
		}
	}
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil || errors.As(err, new(Errors)) {
		t.Errorf("missing file: err = %v, want a plain I/O error", err)
	}
}

// The same external port may carry one forward for tcp and another for udp: they never meet in the kernel.
func TestParseSamePortDifferentProtocols(t *testing.T) {
	cfg, err := Parse(file, withHeader(
		"  - {name: web, port: 8443, to: 192.168.88.10:443}",
		"  - {name: quic, port: 8443, to: 192.168.88.11:443, protocol: udp}",
		"  - {name: game-tcp, port: 27015-27020, to: 192.168.88.50, protocol: tcp}",
		"  - {name: game-udp, port: 27010-27015, to: 192.168.88.51, protocol: udp}",
	))
	if err != nil {
		t.Fatalf("tcp and udp on the same port rejected: %v", err)
	}
	if len(cfg.Forwards) != 4 {
		t.Errorf("Forwards = %+v", cfg.Forwards)
	}
}

// TestDNSOnly: `forwards: []` with a ddns entry is hairpin for dynamic DNS only, not an error.
func TestDNSOnly(t *testing.T) {
	cfg, err := Parse("hairpin.yaml", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "forwards: []",
		"ddns: [{provider: duckdns, hostname: me.duckdns.org, token_env: DUCK}]"))
	if err != nil || len(cfg.Forwards) != 0 || len(cfg.DDNS) != 1 {
		t.Fatalf("DNS-only config: %v", err)
	}
}
