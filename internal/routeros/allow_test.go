package routeros

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// allowFixture is the cameras on a simulated router (second LAN subnet and default route, as evalFixture),
// with the front camera restricted to a prefix, an address and a hostname, named once in allow_sets.
func allowFixture(t *testing.T, frontAllow string) *fixture {
	t.Helper()
	var opts []rostest.Option
	if simVersion != "" {
		opts = append(opts, rostest.WithVersion(simVersion))
	}
	r := rostest.New(t, testUser, testPassword, opts...)
	wanID := r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1", "dynamic": "true"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	r.Add(rostest.Address, rostest.Entry{"address": "10.10.0.1/16", "interface": "bridge"})
	r.SetDefaultRoute("ether1")
	pwFile := writeSecret(t, testPassword, 0o600)
	yaml := fmt.Sprintf(camerasYAML, r.URL(), pwFile, r.Fingerprint())
	yaml = strings.Replace(yaml, `{name: front-cam, port: 8090, to: "192.168.88.180:80"}`,
		`{name: front-cam, port: 8090, to: "192.168.88.180:80", allow: `+frontAllow+`}`, 1)
	yaml += "allow_sets:\n  family: [198.51.100.0/24, 192.0.2.7, phone.example.net]\n"
	cfg := parseConfig(t, yaml)
	var buf bytes.Buffer
	b, err := fromConfig(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, r: r, cfg: cfg, b: b, logBuf: &buf, wanID: wanID}
	f.apply(f.desired())
	return f
}

func allowFlows(wan netip.Addr) []flow {
	stranger := netip.MustParseAddr("203.0.113.99")
	staysWithRouter := func(v rostest.Verdict, _ *rostest.Router) string {
		if !v.Local || v.DstNAT {
			return "forwarded to " + v.Dst.String()
		}
		return ""
	}
	return []flow{
		{"an allowed internet caller reaches the camera", tcp("ether1", caller, wan, 8090), reachesCamera(caller)},
		{"an allowed single address reaches the camera", tcp("ether1", netip.MustParseAddr("192.0.2.7"), wan, 8090), reachesCamera(netip.MustParseAddr("192.0.2.7"))},
		{"a stranger is not forwarded", tcp("ether1", stranger, wan, 8090), staysWithRouter},
		{"the laptop still reaches the camera (hairpin)", tcp("bridge", laptop, wan, 8090), reachesCamera(routerIP)},
		{"the router's own connection still reaches the camera", rostest.Packet{Dst: wan, Protocol: "tcp", SrcPort: 40000, DstPort: 8090},
			func(v rostest.Verdict, r *rostest.Router) string {
				if v.Local || v.Dst != frontCam || v.ReplyBypassesRouter(r) {
					return "does not reach the camera through the router"
				}
				return ""
			}},
		{"an open forward still takes the stranger", tcp("ether1", stranger, wan, 8091), func(v rostest.Verdict, _ *rostest.Router) string {
			if v.Local || v.Dst != netip.MustParseAddr("192.168.88.181") {
				return "not forwarded"
			}
			return ""
		}},
	}
}

// TestAllowListOnRouterOS: the allow list becomes an address list and a src-address-list on the forward's
// dst-nat rule, with a rule of its own for the LAN, accepted by the schema of the oldest and newest release;
// packets from the list reach the camera, others stay with the router, and the laptop and the router itself
// are not restricted.
func TestAllowListOnRouterOS(t *testing.T) { eachRelease(t, testAllowListOnRouterOS) }

func testAllowListOnRouterOS(t *testing.T) {
	f := allowFixture(t, "[family]")
	var entries []string
	for _, e := range f.ours(rostest.AddrList) {
		if e["list"] == ListAllowPrefix+"front-cam" {
			if e["comment"] != markAllow("front-cam") {
				t.Errorf("entry %v without the forward's marker", e)
			}
			entries = append(entries, e["address"])
		}
	}
	slices.Sort(entries)
	if want := []string{"192.0.2.7", "198.51.100.0/24", "phone.example.net"}; !slices.Equal(entries, want) {
		t.Errorf("allow list entries %v, want %v (a hostname as RouterOS resolves it itself)", entries, want)
	}
	var dnat, lanRule int
	for _, e := range f.ours(rostest.NAT) {
		switch {
		case strings.HasPrefix(e["comment"], MarkerPrefix+"dnat:front-cam:"):
			dnat++
			if e["src-address-list"] != ListAllowPrefix+"front-cam" {
				t.Errorf("front-cam's dst-nat rule lacks the allow list: %v", e)
			}
		case strings.HasPrefix(e["comment"], MarkerPrefix+"dnat-lan:front-cam:"):
			lanRule++
			if e["src-address-list"] != ListLAN {
				t.Errorf("front-cam's LAN rule must match the LAN list: %v", e)
			}
		case strings.HasPrefix(e["comment"], MarkerPrefix+"dnat:") && e["src-address-list"] != "":
			t.Errorf("an open forward got a source restriction: %v", e)
		}
	}
	if dnat != 1 || lanRule != 1 {
		t.Errorf("front-cam has %d dst-nat and %d LAN rules, want 1 and 1", dnat, lanRule)
	}
	// The hostname's addresses are the router's own dynamic entries; here one stands for them.
	f.r.Add(rostest.AddrList, rostest.Entry{"list": ListAllowPrefix + "front-cam", "address": "203.0.113.50", "dynamic": "true"})
	flows := append(allowFlows(netip.MustParseAddr("203.0.113.7")), flow{"the hostname's address reaches the camera",
		tcp("ether1", netip.MustParseAddr("203.0.113.50"), netip.MustParseAddr("203.0.113.7"), 8090), reachesCamera(netip.MustParseAddr("203.0.113.50"))})
	for _, msg := range runFlows(t, f.r, flows) {
		t.Error(msg)
	}
	// A second apply changes nothing.
	if _, writes := f.apply(f.desired()); writes != 0 {
		t.Errorf("a second apply wrote %d times", writes)
	}
}

// TestAllowListNegativeControls: without the allow list's source match the stranger reaches the camera, and
// with the source match copied onto the only rule (no LAN rule) hairpin from the LAN breaks.
func TestAllowListNegativeControls(t *testing.T) {
	wan := netip.MustParseAddr("203.0.113.7")
	for _, tt := range []struct {
		name   string
		change func(r *rostest.Router)
		fails  string
	}{
		{"no source match", func(r *rostest.Router) {
			for _, e := range r.Items(rostest.NAT) {
				if e["src-address-list"] == ListAllowPrefix+"front-cam" {
					r.Edit(rostest.NAT, e[".id"], rostest.Entry{"src-address-list": ""})
				}
			}
		}, "a stranger is not forwarded"},
		{"the source match on the one rule, as OPNsense's reflection does", func(r *rostest.Router) {
			removeComment(r, rostest.NAT, MarkerPrefix+"dnat-lan:front-cam:tcp")
		}, "the laptop still reaches the camera (hairpin)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := allowFixture(t, "[family]")
			tt.change(f.r)
			failed := runFlows(t, f.r, allowFlows(wan))
			if !slices.ContainsFunc(failed, func(s string) bool { return strings.HasPrefix(s, tt.fails+":") }) {
				t.Errorf("%q did not fail; failures: %v", tt.fails, failed)
			}
		})
	}
}

// TestAllowListRemovedAndDown: a forward that loses its allow list loses its address list entries and its LAN
// rule; down removes every entry.
func TestAllowListRemovedAndDown(t *testing.T) {
	f := allowFixture(t, "[family, 192.0.2.99]")
	f.r.Add(rostest.AddrList, rostest.Entry{"list": "blocklist", "address": "192.0.2.99"}) // the user's own
	f.cfg.Forwards[0].AllowOn, f.cfg.Forwards[0].Allow = false, nil
	f.apply(f.desired())
	for _, e := range f.r.Items(rostest.AddrList) {
		if strings.HasPrefix(e["list"], ListAllowPrefix) {
			t.Errorf("entry left after the allow list was removed: %v", e)
		}
	}
	for _, e := range f.ours(rostest.NAT) {
		if e["src-address-list"] != "" && e["src-address-list"] != ListLAN || strings.Contains(e["comment"], "dnat-lan") {
			t.Errorf("rule left restricted: %v", e)
		}
	}

	g := allowFixture(t, "[family]")
	if err := g.b.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := g.ours(rostest.AddrList); len(left) != 0 {
		t.Errorf("down left %v", left)
	}
	if got := len(f.foreign(rostest.AddrList)); got != 1 {
		t.Errorf("the user's own entry must stay: %d foreign entries", got)
	}
}

// TestLimitRefusedOnRouterOS: a limit the backend would not install is a config error, not silence.
func TestLimitRefusedOnRouterOS(t *testing.T) {
	_, err := config.Parse("t.yaml", []byte(`backend: routeros
routeros: {url: "https://192.0.2.1", username: u, password_env: P, tls_fingerprint: "`+strings.Repeat("ab", 32)+`"}
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: cam, port: 8090, to: 192.168.88.180, limit: {new_per_source: 10/minute}}
`))
	if err == nil || !strings.Contains(err.Error(), "connection limits are not supported by the routeros backend") {
		t.Errorf("want the limit refused, got %v", err)
	}
}
