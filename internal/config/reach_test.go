package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseReach(t *testing.T) {
	cfg, err := Parse(file, yamlLines(
		"wan:",
		"  interface: eth0",
		"  upstream: auto",
		"  upstream_gateway: 192.168.1.1",
		"  upstream_lease: 10m",
		"  upstream_on_stop: delete",
		"  probe: {url: https://probe.example.net:9470/, secret_file: /etc/hairpin/probe.secret, interval: 5m}",
		"lan: {interface: br-lan}",
		"ddns:",
		"  - {provider: duckdns, hostname: home, token_env: T, publish: always}",
	))
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.WAN.Upstream
	if u.Mode != UpstreamAuto || u.Gateway.String() != "192.168.1.1" || u.Lease != 10*time.Minute || !u.DeleteOnStop || !u.Mode.Maps() {
		t.Errorf("upstream = %+v", u)
	}
	if p := cfg.WAN.Probe; p == nil || p.URL != "https://probe.example.net:9470/" || p.SecretFile != "/etc/hairpin/probe.secret" || p.Interval != 5*time.Minute {
		t.Errorf("probe = %+v", p)
	}
	if !cfg.DDNS[0].PublishAlways {
		t.Error("publish: always not read")
	}

	def, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}"))
	if err != nil {
		t.Fatal(err)
	}
	if u := def.WAN.Upstream; u.Mode != UpstreamOff || u.Mode.Maps() || u.Lease != DefaultUpstreamLease || u.DeleteOnStop || def.WAN.Probe != nil {
		t.Errorf("defaults: %+v %+v", u, def.WAN.Probe)
	}
}

func TestParseReachErrors(t *testing.T) {
	tests := []struct {
		name string
		wan  string
		want string
	}{
		{"mode", "upstream: yes-please", `wan.upstream: "yes-please" is not allowed (use one of: off, auto, pcp, natpmp, upnp, manual)`},
		{"gateway", "upstream_gateway: box.lan", `wan.upstream_gateway: "box.lan" is not an IPv4 address`},
		{"short lease", "upstream_lease: 5s", `wan.upstream_lease: "5s" is not a valid duration`},
		{"long lease", "upstream_lease: 48h", `wan.upstream_lease: "48h" is too long (use at most 24h)`},
		{"on stop", "upstream_on_stop: forget", `wan.upstream_on_stop: "forget" is not allowed (use one of: keep, delete)`},
		{"probe url", "probe: {url: ftp://x/, secret_file: /s}", `wan.probe.url: "ftp://x/" is not an http(s) URL`},
		{"probe url with credentials", "probe: {url: https://u:p@x/, secret_file: /s}", `is not an http(s) URL without credentials`},
		{"probe without secret", "probe: {url: https://x/}", "wan.probe.secret_file: the probe needs its shared secret"},
		{"probe with both secrets", "probe: {url: https://x/, secret_file: /s, secret_env: S}", "wan.probe.secret_file: the probe needs its shared secret"},
		{"probe without url", "probe: {secret_file: /s}", "wan.probe.url: required key is missing"},
		{"probe over plain http", "probe: {url: http://probe.example.net:9470/, secret_file: /s}", `wan.probe.url: "http://probe.example.net:9470/" is plain http`},
		{"probe over plain http to an address", "probe: {url: \"http://[2001:db8::1]:9470/\", secret_file: /s}", "is plain http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, yamlLines("wan:", "  interface: eth0", "  "+tt.wan, "lan: {interface: br-lan}"))
			got := strings.Join(issues(t, err), "\n")
			if !strings.Contains(got, tt.want) || !strings.Contains(got, "hairpin.yaml:3:") {
				t.Errorf("got %q, want it to contain %q on line 3", got, tt.want)
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:9470/", "http://[::1]:9470/", "http://localhost:9470/"} {
		if _, err := Parse(file, yamlLines("wan:", "  interface: eth0", "  probe: {url: \""+u+"\", secret_file: /s}", "lan: {interface: br-lan}")); err != nil {
			t.Errorf("control: plain http to this machine (%s) is refused: %v", u, err)
		}
	}
	_, err := Parse(file, yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "ddns:", "  - {provider: duckdns, hostname: home, token_env: T, publish: never}"))
	if got := strings.Join(issues(t, err), "\n"); !strings.Contains(got, `ddns[0].publish: "never" is not allowed (use one of: auto, always)`) {
		t.Errorf("publish: %q", got)
	}
}
