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

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// cameras6YAML is the cameras with IPv6: front-cam at a literal ULA, back-cam by interface identifier, which
// the routeros backend does not follow.
const cameras6YAML = `backend: routeros
routeros:
  url: %s
  username: hairpin
  password_file: %s
  tls_fingerprint: %s
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80", to6: "[fd00::180]:80"}
  - {name: back-cam, port: 8091, to: "192.168.88.181:80", to6: "::21a:2bff:fe3c:4d5e"}
  - {name: pool-cam, port: 8092, to: "192.168.88.182:80"}
`

var (
	wan6      = netip.MustParseAddr("2001:db8:ffff::7")
	laptop6   = netip.MustParseAddr("2001:db8:1::10")
	routerLAN = netip.MustParseAddr("2001:db8:1::1")
	frontCam6 = netip.MustParseAddr("fd00::180")
	caller6   = netip.MustParseAddr("2001:db8:beef::50")
	otherLAN6 = netip.MustParseAddr("fd00::99")
)

// newFixture6 is a router with IPv4 as in newFixture plus a global IPv6 address on the WAN, a global and a
// ULA prefix on the LAN, and link-local addresses on both.
func newFixture6(t testing.TB) *fixture {
	t.Helper()
	var opts []rostest.Option
	if simVersion != "" {
		opts = append(opts, rostest.WithVersion(simVersion))
	}
	r := rostest.New(t, testUser, testPassword, opts...)
	wanID := r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1", "dynamic": "true"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	r.Add(rostest.Address6, rostest.Entry{"address": "fe80::1/64", "interface": "ether1", "dynamic": "true"})
	r.Add(rostest.Address6, rostest.Entry{"address": wan6.String() + "/64", "interface": "ether1", "dynamic": "true"})
	r.Add(rostest.Address6, rostest.Entry{"address": "fe80::2/64", "interface": "bridge", "dynamic": "true"})
	r.Add(rostest.Address6, rostest.Entry{"address": routerLAN.String() + "/64", "interface": "bridge"})
	r.Add(rostest.Address6, rostest.Entry{"address": "fd00::1/64", "interface": "bridge"})
	r.SetDefaultRoute("ether1")
	cfg := parseConfig(t, fmt.Sprintf(cameras6YAML, r.URL(), writeSecret(t, testPassword, 0o600), r.Fingerprint()))
	var buf bytes.Buffer
	b, err := fromConfig(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, r: r, cfg: cfg, b: b, logBuf: &buf, wanID: wanID}
}

func (f *fixture) summaries(paths ...string) []string {
	var out []string
	for _, p := range paths {
		for _, e := range f.ours(p) {
			out = append(out, p+" "+summary(e))
		}
	}
	slices.Sort(out)
	return out
}

// TestIPv6Apply: a literal to6 becomes /ipv6 firewall rules (dst-nat to to-address, the router's own
// connections, the hairpin mark and masquerade) and the WAN's global address in /ipv6 firewall address-list;
// the interface-identifier forward gets none. A second apply writes nothing; a new WAN address is one write.
func TestIPv6Apply(t *testing.T) { eachRelease(t, testIPv6Apply) }

func testIPv6Apply(t *testing.T) {
	f := newFixture6(t)
	d := f.desired()
	if d.V6 == nil || len(d.V6.Rules) != 1 || d.V6.Rules[0].Name != "front-cam" {
		t.Fatalf("IPv6 plan = %+v", d.V6)
	}
	if !slices.Contains(d.V6.Off, plan.Off6{Name: "back-cam", Reason: plan.OffIIDRouterOS}) {
		t.Errorf("back-cam is not off for its interface identifier: %+v", d.V6.Off)
	}
	f.apply(d)
	got := strings.Join(f.summaries(rostest.AddrList6, rostest.NAT6, rostest.Mangle6), "\n")
	for _, want := range []string{
		"address=2001:db8:ffff::7 comment=HAIRPIN:v1:wan disabled=false dynamic=false list=hairpin-wan",
		"action=dst-nat chain=dstnat comment=HAIRPIN:v1:dnat:front-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8090",
		"action=dst-nat chain=output comment=HAIRPIN:v1:dnat-out:front-cam:tcp",
		"to-address=fd00::180 to-ports=80",
		"action=masquerade chain=srcnat comment=HAIRPIN:v1:masq connection-mark=hairpin-masq",
		"action=mark-connection chain=prerouting comment=HAIRPIN:v1:mark:tcp connection-mark=no-mark disabled=false dst-address-list=hairpin-wan dst-port=8090 dynamic=false in-interface=bridge",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the router lacks %q; it holds:\n%s", want, got)
		}
	}
	if strings.Contains(got, "back-cam") || len(f.ours(rostest.NAT6)) != 3 {
		t.Errorf("IPv6 NAT rules:\n%s", got)
	}
	if _, writes := f.apply(f.desired()); writes != 0 {
		t.Errorf("re-apply wrote %d times: %v", writes, f.r.Requests())
	}
	for _, e := range f.r.Items(rostest.Address6) {
		if e["address"] == wan6.String()+"/64" {
			f.r.Edit(rostest.Address6, e[".id"], rostest.Entry{"address": "2001:db8:eeee::7/64"})
		}
	}
	if _, writes := f.apply(f.desired()); writes != 1 {
		t.Errorf("a new WAN address took %d writes, want 1: %v", writes, f.r.Requests())
	}
	if l := f.ours(rostest.AddrList6); len(l) != 1 || l[0]["address"] != "2001:db8:eeee::7" {
		t.Errorf("IPv6 WAN list = %v", l)
	}
	if err := f.b.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := f.summaries(rostest.AddrList6, rostest.NAT6, rostest.Mangle6, rostest.AddrList, rostest.NAT, rostest.Mangle); len(left) != 0 {
		t.Errorf("Down left %v", left)
	}
}

func hairpinFlows6() []flow {
	reaches := func(wantSrc netip.Addr) func(rostest.Verdict, *rostest.Router) string {
		return func(v rostest.Verdict, r *rostest.Router) string {
			switch {
			case v.Local:
				return "ends at the router; no forward took it"
			case v.Dst != frontCam6 || v.DstPort != 80:
				return "reaches " + v.Dst.String() + " instead of the camera"
			case v.Src != wantSrc:
				return "the camera sees " + v.Src.String() + ", want " + wantSrc.String()
			case v.ReplyBypassesRouter(r):
				return "the camera answers " + v.Src.String() + " directly, bypassing the router"
			}
			return ""
		}
	}
	return []flow{
		{"laptop to the router's global address", tcp("bridge", laptop6, wan6, 8090), reaches(routerLAN)},
		{"internet caller keeps its address", tcp("ether1", caller6, wan6, 8090), reaches(caller6)},
		{"the router's own connection", rostest.Packet{Dst: wan6, Protocol: "tcp", SrcPort: 40000, DstPort: 8090},
			func(v rostest.Verdict, r *rostest.Router) string {
				if v.Local || v.Dst != frontCam6 || v.DstPort != 80 || v.ReplyBypassesRouter(r) {
					return "does not reach the camera through the router"
				}
				return ""
			}},
		{"plain LAN-to-LAN is untouched", tcp("bridge", laptop6, otherLAN6, 80), untouched},
		{"the interface-identifier forward is not forwarded", tcp("ether1", caller6, wan6, 8091), func(v rostest.Verdict, _ *rostest.Router) string {
			if !v.Local || v.DstNAT {
				return "forwarded"
			}
			return ""
		}},
	}
}

// TestIPv6HairpinFlows runs the /ipv6 rules as the simulated router holds them after Apply over the flows:
// a LAN client reaches the camera on the router's global address and the camera sees the router; an
// internet caller keeps its address; the router's own connection is forwarded; LAN-to-LAN is untouched. The
// negative controls: without the mark rule the camera answers the laptop directly (broken hairpin), and
// with only the /ip rules no IPv6 connection is forwarded at all.
func TestIPv6HairpinFlows(t *testing.T) { eachRelease(t, testIPv6HairpinFlows) }

func testIPv6HairpinFlows(t *testing.T) {
	f := newFixture6(t)
	f.apply(f.desired())
	for _, msg := range runFlows(t, f.r, hairpinFlows6()) {
		t.Error(msg)
	}

	for _, e := range f.ours(rostest.Mangle6) {
		f.r.Remove(rostest.Mangle6, e[".id"])
	}
	failed := runFlows(t, f.r, hairpinFlows6())
	if len(failed) != 1 || !strings.Contains(failed[0], "laptop") {
		t.Errorf("without the mark rule: %v, want the laptop's flow alone to fail", failed)
	}
	if v, err := f.r.Evaluate(tcp("bridge", laptop6, wan6, 8090)); err != nil || !v.ReplyBypassesRouter(f.r) {
		t.Errorf("without the mark rule the camera still answers through the router: %+v (%v)", v, err)
	}

	for _, path := range []string{rostest.NAT6, rostest.AddrList6} {
		for _, e := range f.ours(path) {
			f.r.Remove(path, e[".id"])
		}
	}
	if v, err := f.r.Evaluate(tcp("ether1", caller6, wan6, 8090)); err != nil || v.DstNAT || !v.Local {
		t.Errorf("with only the /ip rules an IPv6 caller got %+v (%v), want the router itself", v, err)
	}
}

// defconfForward6 is the forward chain of RouterOS's default IPv6 firewall, without the rules on matchers
// the evaluator does not model (hop-limit, ipsec-policy; none of them matches a TCP connection to a forward).
var defconfForward6 = []rostest.Entry{
	{"chain": "forward", "action": "accept", "connection-state": "established,related,untracked", "comment": "defconf: accept established,related,untracked"},
	{"chain": "forward", "action": "drop", "connection-state": "invalid", "comment": "defconf: drop invalid"},
	{"chain": "forward", "action": "drop", "src-address-list": "bad_ipv6", "comment": "defconf: drop packets with bad src ipv6"},
	{"chain": "forward", "action": "drop", "dst-address-list": "bad_ipv6", "comment": "defconf: drop packets with bad dst ipv6"},
	{"chain": "forward", "action": "accept", "protocol": "icmpv6", "comment": "defconf: accept ICMPv6"},
	{"chain": "forward", "action": "drop", "in-interface-list": "!LAN", "comment": "defconf: drop everything else not coming from LAN"},
}

// TestIPv6DefaultConfigFilter: on a router with the default IPv6 firewall, internet callers reach an IPv6
// forward through hairpin's accept, which sits right before the final drop. Without it (the negative control)
// the final drop takes them.
func TestIPv6DefaultConfigFilter(t *testing.T) { eachRelease(t, testIPv6DefaultConfigFilter) }

func testIPv6DefaultConfigFilter(t *testing.T) {
	f := newFixture6(t)
	// The default configuration's interface lists: hairpin's mark and accept match them.
	f.r.Add(rostest.ListMember, rostest.Entry{"list": "WAN", "interface": "ether1"})
	f.r.Add(rostest.ListMember, rostest.Entry{"list": "LAN", "interface": "bridge"})
	for _, e := range defconfForward6 {
		f.r.Add(rostest.Filter6, e)
	}
	f.apply(f.desired())
	reads := 0
	for _, r := range f.r.Requests() {
		if strings.HasPrefix(r, "GET "+rostest.ListMember) {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("the apply read the interface lists %d times, want once", reads)
	}
	var order []string
	for _, e := range f.r.Items(rostest.Filter6) {
		order = append(order, e["comment"])
	}
	if n := len(order); n != len(defconfForward6)+1 || order[n-2] != markAccept || order[n-1] != "defconf: drop everything else not coming from LAN" {
		t.Errorf("the forward chain is %q, want hairpin's accept right before the final drop", order)
	}
	for _, msg := range runFlows(t, f.r, hairpinFlows6()) {
		t.Error(msg)
	}
	if e := findComment(f.r.Items(rostest.Filter6), markAccept); e["in-interface-list"] != IfListWAN {
		t.Errorf("the accept does not match list WAN: %v", e)
	}
	if e := findComment(f.r.Items(rostest.Mangle6), markMark+":tcp"); e["in-interface-list"] != IfListLAN {
		t.Errorf("the mark does not match list LAN: %v", e)
	}
	removeComment(f.r, rostest.Filter6, markAccept)
	v, err := f.r.Evaluate(tcp("ether1", caller6, wan6, 8090))
	if err != nil || !v.Dropped || v.Rules[len(v.Rules)-1] != "defconf: drop everything else not coming from LAN" {
		t.Errorf("without the accept an internet caller got %+v (%v), want the final drop", v, err)
	}
}

// TestIPv6SchemaRefusesIPv4Spelling is the negative control of the simulator's IPv6 schema: /ipv6 firewall
// nat has to-address, not /ip's to-addresses, in every release checked.
func TestIPv6SchemaRefusesIPv4Spelling(t *testing.T) {
	eachRelease(t, func(t *testing.T) {
		f := newFixture6(t)
		body := map[string]string{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "8090", "to-addresses": "fd00::180"}
		_, err := f.b.c.do(context.Background(), "PUT", pathNAT6, nil, body)
		if err == nil || !strings.Contains(err.Error(), "unknown parameter to-addresses") {
			t.Errorf("PUT with to-addresses: %v", err)
		}
		body["to-address"] = body["to-addresses"]
		delete(body, "to-addresses")
		if _, err := f.b.c.do(context.Background(), "PUT", pathNAT6, nil, body); err != nil {
			t.Errorf("PUT with to-address: %v", err)
		}
	})
}

// TestScriptAndRESTAgreeIPv6: the /ipv6 rules the exported script adds are the rules the REST backend
// creates, and the script's updater fills the same list from the same addresses.
func TestScriptAndRESTAgreeIPv6(t *testing.T) {
	f := newFixture6(t)
	f.apply(f.desired())
	rest := map[string]map[string]string{}
	for _, path := range []string{rostest.NAT6, rostest.Mangle6} {
		for _, e := range f.ours(path) {
			props := map[string]string{}
			for k, v := range e {
				switch k {
				case ".id", "bytes", "packets", "dynamic", "invalid", "log", "log-prefix", "disabled", "comment":
					continue
				}
				props[k] = v
			}
			rest[path+" "+e["comment"]] = props
		}
	}
	script := map[string]map[string]string{}
	for _, line := range strings.Split(Script(f.cfg), "\n") {
		// A rule on an interface is written for a router with the interface list and one without; this router
		// has none.
		if i := strings.Index(line, "} else={ "); strings.HasPrefix(line, ":if ([:len [/interface list member find") && i > 0 {
			line = strings.TrimSuffix(line[i+len("} else={ "):], " }")
		}
		var path string
		switch {
		case strings.HasPrefix(line, "/ipv6 firewall nat add "):
			path = rostest.NAT6
		case strings.HasPrefix(line, "/ipv6 firewall mangle add "):
			path = rostest.Mangle6
		default:
			continue
		}
		props := map[string]string{}
		for _, tok := range tokenize(line)[4:] {
			k, v, _ := strings.Cut(tok, "=")
			v = unquote(v)
			switch v {
			case "yes":
				v = "true"
			case "no":
				v = "false"
			}
			props[k] = v
		}
		c := props["comment"]
		delete(props, "comment")
		script[path+" "+c] = props
	}
	if len(rest) != 4 || len(script) != len(rest) {
		t.Fatalf("REST created %d IPv6 rules, the script adds %d: %v / %v", len(rest), len(script), rest, script)
	}
	for c, want := range rest {
		if got := script[c]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: script %v, REST %v", c, got, want)
		}
	}
}

// TestIPv6RemovedFromConfig: when no forward has a literal to6 any more, the next apply of the same backend
// removes every /ipv6 item hairpin made, and leaves the user's own.
func TestIPv6RemovedFromConfig(t *testing.T) {
	f := newFixture6(t)
	f.r.Add(rostest.NAT6, rostest.Entry{"chain": "srcnat", "action": "masquerade", "out-interface": "ether1", "comment": "mine"})
	f.apply(f.desired())
	if len(f.ours(rostest.NAT6)) == 0 {
		t.Fatal("no IPv6 rules to remove")
	}
	d := f.desired()
	d.V6.Rules = nil
	f.apply(d)
	if left := f.summaries(rostest.AddrList6, rostest.NAT6, rostest.Mangle6); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	if n := len(f.foreign(rostest.NAT6)); n != 1 {
		t.Errorf("the user's own IPv6 rule: %d left", n)
	}
}
