package routeros

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

var (
	laptop   = netip.MustParseAddr("192.168.88.10")
	frontCam = netip.MustParseAddr("192.168.88.180")
	routerIP = netip.MustParseAddr("192.168.88.1")
	caller   = netip.MustParseAddr("198.51.100.50")
	otherLAN = netip.MustParseAddr("10.10.0.5")
)

// flow is one connection and what must become of it for hairpin to be right.
type flow struct {
	name  string
	p     rostest.Packet
	check func(v rostest.Verdict, r *rostest.Router) string // "" when right
}

func tcp(in string, src, dst netip.Addr, port uint16) rostest.Packet {
	return rostest.Packet{InInterface: in, Src: src, Dst: dst, Protocol: "tcp", SrcPort: 40000, DstPort: port}
}

// reachesCamera: the camera gets the connection on port 80, from wantSrc, and its answer goes back through
// the router.
func reachesCamera(wantSrc netip.Addr) func(rostest.Verdict, *rostest.Router) string {
	return func(v rostest.Verdict, r *rostest.Router) string {
		switch {
		case v.Dropped:
			return "dropped by the filter (" + v.Rules[len(v.Rules)-1] + ")"
		case v.Local:
			return "ends at the router; no forward took it"
		case v.Dst != frontCam || v.DstPort != 80:
			return "reaches " + v.Dst.String() + " instead of the camera"
		case v.Src != wantSrc:
			return "the camera sees " + v.Src.String() + ", want " + wantSrc.String()
		case v.ReplyBypassesRouter(r):
			return "the camera answers " + v.Src.String() + " directly, bypassing the router: the client drops the answer"
		}
		return ""
	}
}

// untouched: the connection passes the router with neither address rewritten.
func untouched(v rostest.Verdict, _ *rostest.Router) string {
	if v.DstNAT || v.SrcNAT || v.Local {
		return "rewritten (dst-nat " + boolWord(v.DstNAT) + ", src-nat " + boolWord(v.SrcNAT) + ")"
	}
	return ""
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func hairpinFlows(public, wan netip.Addr) []flow {
	return []flow{
		{"laptop to the public address", tcp("bridge", laptop, public, 8090), reachesCamera(routerIP)},
		{"internet caller keeps its address", tcp("ether1", caller, wan, 8090), reachesCamera(caller)},
		{"the router's own connection", rostest.Packet{Dst: public, Protocol: "tcp", SrcPort: 40000, DstPort: 8090},
			func(v rostest.Verdict, r *rostest.Router) string {
				if v.Local || v.Dst != frontCam || v.DstPort != 80 || v.ReplyBypassesRouter(r) {
					return "does not reach the camera through the router"
				}
				return ""
			}},
		{"plain LAN-to-LAN is untouched", tcp("bridge", laptop, otherLAN, 80), untouched},
		{"a port no forward has stays with the router", tcp("ether1", caller, wan, 22), func(v rostest.Verdict, _ *rostest.Router) string {
			if !v.Local || v.DstNAT {
				return "forwarded"
			}
			return ""
		}},
	}
}

// evalFixture applies the cameras to a simulated router with a second LAN subnet (so LAN-to-LAN traffic is
// routed) and returns it.
func evalFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.r.Add(rostest.Address, rostest.Entry{"address": "10.10.0.1/16", "interface": "bridge"})
	f.r.SetDefaultRoute("ether1")
	f.apply(f.desired())
	return f
}

func runFlows(t *testing.T, r *rostest.Router, flows []flow) (failed []string) {
	t.Helper()
	for _, fl := range flows {
		v, err := r.Evaluate(fl.p)
		if err != nil {
			t.Fatalf("%s: %v", fl.name, err)
		}
		if msg := fl.check(v, r); msg != "" {
			failed = append(failed, fl.name+": "+msg+" (rules "+strings.Join(v.Rules, ", ")+")")
		}
	}
	return failed
}

// TestHairpinFlows runs hairpin's rules, as the simulated router holds them after Apply, over the article's
// flows: a laptop on the LAN reaches the camera on the public address and the camera sees the router; an
// internet caller keeps its address; the router's own connection is forwarded; LAN-to-LAN traffic is
// untouched.
func TestHairpinFlows(t *testing.T) { eachRelease(t, testHairpinFlows) }

func testHairpinFlows(t *testing.T) {
	f := evalFixture(t)
	wan := netip.MustParseAddr("203.0.113.7")
	for _, msg := range runFlows(t, f.r, hairpinFlows(wan, wan)) {
		t.Error(msg)
	}
}

// TestHairpinFlowsDoubleNAT: behind an ISP box the LAN uses the public address /ip cloud found, and
// internet callers arrive on the router's private WAN address.
func TestHairpinFlowsDoubleNAT(t *testing.T) { eachRelease(t, testHairpinFlowsDoubleNAT) }

func testHairpinFlowsDoubleNAT(t *testing.T) {
	f := newFixture(t)
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "192.168.1.2/24"})
	f.r.Add(rostest.Address, rostest.Entry{"address": "10.10.0.1/16", "interface": "bridge"})
	f.r.SetSingleton(rostest.Cloud, rostest.Entry{"ddns-enabled": "true", "public-address": "198.51.100.7"})
	f.r.SetDefaultRoute("ether1")
	d := f.desired()
	if !d.DoubleNAT {
		t.Fatal("no double NAT")
	}
	f.apply(d)
	for _, msg := range runFlows(t, f.r, hairpinFlows(netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.168.1.2"))) {
		t.Error(msg)
	}
}

// TestHairpinFlowsKeepUsersMarks: a connection the user marks (policy routing) keeps the user's mark; only
// connections to a forward through the public address take hairpin's, which comes first in prerouting.
func TestHairpinFlowsKeepUsersMarks(t *testing.T) {
	f := evalFixture(t)
	vpnUser := netip.MustParseAddr("192.168.88.20")
	f.r.Add(rostest.Mangle, rostest.Entry{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": "via-vpn",
		"src-address": vpnUser.String(), "connection-mark": "no-mark", "passthrough": "true"})
	v, err := f.r.Evaluate(tcp("bridge", vpnUser, caller, 443))
	if err != nil {
		t.Fatal(err)
	}
	if v.ConnMark != "via-vpn" {
		t.Errorf("the user's connection mark became %q", v.ConnMark)
	}
	if msg := reachesCamera(routerIP)(mustEval(t, f.r, tcp("bridge", vpnUser, netip.MustParseAddr("203.0.113.7"), 8090)), f.r); msg != "" {
		t.Errorf("hairpin from the marked user's laptop: %s", msg)
	}
}

func mustEval(t *testing.T, r *rostest.Router, p rostest.Packet) rostest.Verdict {
	t.Helper()
	v, err := r.Evaluate(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHairpinFlowsUsersMangleFirst: a rule of the user's that ends mangle processing (QoS marking with
// passthrough=no) no longer breaks hairpin, because the marks go first in prerouting, also when the rule was
// there before hairpin; put above them (where an appended mark used to end up) it breaks the laptop's flow.
func TestHairpinFlowsUsersMangleFirst(t *testing.T) {
	wan := netip.MustParseAddr("203.0.113.7")
	f := newFixture(t)
	f.r.Add(rostest.Address, rostest.Entry{"address": "10.10.0.1/16", "interface": "bridge"})
	f.r.SetDefaultRoute("ether1")
	qos := f.r.Add(rostest.Mangle, rostest.Entry{"chain": "prerouting", "action": "mark-packet", "new-packet-mark": "bulk",
		"in-interface": "bridge", "passthrough": "false", "comment": "QoS"})
	f.apply(f.desired())
	if first := f.r.Items(rostest.Mangle)[0]["comment"]; first != markMark+":tcp" {
		t.Fatalf("the first mangle rule is %q, want hairpin's mark", first)
	}
	for _, msg := range runFlows(t, f.r, hairpinFlows(wan, wan)) {
		t.Error(msg)
	}
	// Negative control: the user's rule above the mark.
	f.r.Move(rostest.Mangle, qos, f.r.Items(rostest.Mangle)[0][".id"])
	failed := runFlows(t, f.r, hairpinFlows(wan, wan))
	if !slices.ContainsFunc(failed, func(s string) bool { return strings.HasPrefix(s, "laptop to the public address:") }) {
		t.Errorf("with the QoS rule above the mark the laptop still works: %v", failed)
	}
}

// TestHairpinFlowsUsersOwnDstNAT: the user's own dst-nat (DNS forced to a Pi-hole on another LAN subnet) is
// not masqueraded: the Pi-hole sees the laptop. The postrouting mark hairpin used to write (connection-nat-state
// dstnat, LAN to LAN) is the negative control: it masquerades the user's connection too.
func TestHairpinFlowsUsersOwnDstNAT(t *testing.T) {
	piHole := netip.MustParseAddr("10.10.0.53")
	dns := rostest.Packet{InInterface: "bridge", Src: laptop, Dst: caller, Protocol: "udp", SrcPort: 40000, DstPort: 53}
	for _, old := range []bool{false, true} {
		f := evalFixture(t)
		f.r.Add(rostest.NAT, rostest.Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "udp", "dst-port": "53",
			"in-interface": "bridge", "to-addresses": piHole.String(), "comment": "force DNS to the Pi-hole"})
		if old {
			for _, e := range f.ours(rostest.Mangle) {
				f.r.Remove(rostest.Mangle, e[".id"])
			}
			f.r.Add(rostest.Mangle, rostest.Entry{"chain": "postrouting", "action": "mark-connection", "new-connection-mark": ConnMark,
				"passthrough": "true", "connection-nat-state": "dstnat", "connection-mark": "no-mark",
				"src-address-list": ListLAN, "dst-address-list": ListLAN, "comment": markMark})
		}
		v := mustEval(t, f.r, dns)
		if !v.DstNAT || v.Dst != piHole {
			t.Fatalf("old=%v: the user's DNS rule did not apply: %+v", old, v)
		}
		masqueraded := v.SrcNAT || v.Src != laptop
		switch {
		case old && !masqueraded:
			t.Errorf("negative control: the old mark left the user's connection alone: %+v", v)
		case !old && masqueraded:
			t.Errorf("the user's dst-nat to %s was masqueraded: the Pi-hole sees %s (rules %v)", piHole, v.Src, v.Rules)
		}
	}
}

// TestHairpinFlowsNegativeControls shows each flow fails without the rule that makes it work, and that the
// article's plain LAN masquerade, which also makes the laptop work, rewrites LAN-to-LAN traffic.
func TestHairpinFlowsNegativeControls(t *testing.T) {
	wan := netip.MustParseAddr("203.0.113.7")
	for _, tt := range []struct {
		name   string
		change func(r *rostest.Router)
		fails  string
	}{
		{"no masquerade", func(r *rostest.Router) { removeComment(r, rostest.NAT, markMasq) }, "laptop to the public address"},
		{"no mark", func(r *rostest.Router) { removeComment(r, rostest.Mangle, markMark+":tcp") }, "laptop to the public address"},
		{"the article's LAN masquerade instead of the mark", func(r *rostest.Router) {
			removeComment(r, rostest.NAT, markMasq)
			removeComment(r, rostest.Mangle, markMark+":tcp")
			r.Add(rostest.NAT, rostest.Entry{"chain": "srcnat", "action": "masquerade", "src-address-list": ListLAN,
				"dst-address-list": ListLAN, "out-interface": "bridge", "comment": "hairpin"})
		}, "plain LAN-to-LAN is untouched"},
		{"no output-chain forwards", func(r *rostest.Router) {
			for _, e := range r.Items(rostest.NAT) {
				if strings.HasPrefix(e["comment"], MarkerPrefix+"dnat-out:") {
					r.Remove(rostest.NAT, e[".id"])
				}
			}
		}, "the router's own connection"},
		{"no dst-nat forwards", func(r *rostest.Router) {
			for _, e := range r.Items(rostest.NAT) {
				if strings.HasPrefix(e["comment"], MarkerPrefix+"dnat:") {
					r.Remove(rostest.NAT, e[".id"])
				}
			}
		}, "internet caller keeps its address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := evalFixture(t)
			tt.change(f.r)
			failed := runFlows(t, f.r, hairpinFlows(wan, wan))
			if !slices.ContainsFunc(failed, func(s string) bool { return strings.HasPrefix(s, tt.fails+":") }) {
				t.Errorf("%q did not fail; failures: %v", tt.fails, failed)
			}
			t.Logf("failures: %v", failed)
		})
	}

	// The rule hairpin used to write cannot be installed: the router refuses it, and the evaluator refuses a
	// rule set holding it.
	f := evalFixture(t)
	old := map[string]string{"chain": "srcnat", "action": "masquerade", "src-address-list": ListLAN,
		"dst-address-list": ListLAN, "connection-nat-state": "dstnat", "comment": "old"}
	if _, err := f.b.c.do(ctx, "PUT", pathNAT, nil, old); !IsAPIError(err) || !strings.Contains(err.Error(), "unknown parameter connection-nat-state") {
		t.Errorf("router accepted the old masquerade: %v", err)
	}
	f.r.Add(rostest.NAT, old)
	if _, err := f.r.Evaluate(tcp("bridge", laptop, wan, 8090)); err == nil || !strings.Contains(err.Error(), "connection-nat-state") {
		t.Errorf("evaluator ran the old masquerade: %v", err)
	}
}

func removeComment(r *rostest.Router, path, comment string) {
	for _, e := range r.Items(path) {
		if e["comment"] == comment {
			r.Remove(path, e[".id"])
		}
	}
}

// TestDoubleNATWithoutIPCloud: behind an ISP box with IP Cloud off nothing tells the router its public
// address, so the laptop's connection to it leaves for the ISP box (the article's FiOS failure); the export
// says what is missing and how to turn IP Cloud on (doing it only when the config asks), and the REST backend
// logs it. With IP Cloud's address the same rules work (the positive control).
func TestDoubleNATWithoutIPCloud(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.7")
	f := newFixture(t)
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "192.168.1.2/24"})
	f.r.Add(rostest.Address, rostest.Entry{"address": "10.10.0.1/16", "interface": "bridge"})
	f.r.SetDefaultRoute("ether1")
	f.apply(f.desired())
	v := mustEval(t, f.r, tcp("bridge", laptop, public, 8090))
	if v.DstNAT || v.OutInterface != "ether1" {
		t.Fatalf("without IP Cloud the laptop's connection was forwarded: %+v", v)
	}
	if !strings.Contains(f.logBuf.String(), "IP Cloud is off") {
		t.Errorf("the REST backend did not say IP Cloud is off:\n%s", f.logBuf)
	}
	f.r.SetSingleton(rostest.Cloud, rostest.Entry{"ddns-enabled": "true", "public-address": public.String()})
	f.apply(f.desired())
	if msg := reachesCamera(routerIP)(mustEval(t, f.r, tcp("bridge", laptop, public, 8090)), f.r); msg != "" {
		t.Errorf("with IP Cloud's address: %s", msg)
	}

	base := "wan: {interface: ether1, double_nat: auto}\nlan: {interface: bridge}\nforwards: [{name: cam, port: 8090, to: \"192.168.88.180:80\"}]\n"
	ros := func(extra string) string {
		return "backend: routeros\nrouteros: {url: https://192.168.88.1, username: u, password_env: P" + extra + "}\n" + base
	}
	for _, tt := range []struct {
		name, yaml string
		want       []string
		turnsOn    bool
	}{
		{"default", ros(""), []string{"IP Cloud is off on a new router and this script does not turn it on", "run /ip cloud set ddns-enabled=yes yourself",
			"the WAN address is private and /ip cloud has no public address"}, false},
		{"public_address: ip-cloud", ros(", public_address: ip-cloud"), []string{"which this turns on"}, true},
		{"public_address: off", ros(", public_address: off"), []string{"add it to list hairpin-wan yourself"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := Script(parseConfig(t, tt.yaml))
			for _, want := range tt.want {
				if !strings.Contains(script, want) {
					t.Errorf("the export does not say %q", want)
				}
			}
			if got := strings.Contains(script, "\n/ip cloud set ddns-enabled=yes\n"); got != tt.turnsOn {
				t.Errorf("the export turns IP Cloud on: %v, want %v", got, tt.turnsOn)
			}
			for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
				c := checkScript(rostest.MustSchema(v), script)
				for _, p := range c.problems {
					t.Errorf("RouterOS %s: %s", v, p)
				}
				if tt.turnsOn && !slices.Contains(c.seen, "ip/cloud set") {
					t.Errorf("the check never saw ip/cloud set")
				}
			}
		})
	}
}

// TestInterfaceLists: on a router with the default configuration's interface lists, the rules on the WAN
// match list WAN, so an ISP box's forwards arriving on a second WAN in that list (an LTE backup) reach the
// camera; without the list (the negative control) the rules name ether1 and the same packet stays with the
// router.
func TestInterfaceLists(t *testing.T) {
	lte := netip.MustParseAddr("10.20.0.2")
	for _, withList := range []bool{true, false} {
		f := newFixture(t)
		f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "192.168.1.2/24"})
		f.r.Add(rostest.Address, rostest.Entry{"address": "10.20.0.2/24", "interface": "lte1"})
		f.r.SetDefaultRoute("ether1")
		if withList {
			f.r.Add(rostest.ListMember, rostest.Entry{"list": "WAN", "interface": "ether1"})
			f.r.Add(rostest.ListMember, rostest.Entry{"list": "WAN", "interface": "lte1"})
		}
		d := f.desired()
		if !d.DoubleNAT {
			t.Fatal("no double NAT")
		}
		f.apply(d)
		byList := 0
		for _, e := range f.ours(rostest.NAT) {
			if e["in-interface-list"] == IfListWAN {
				byList++
			}
		}
		v := mustEval(t, f.r, tcp("lte1", caller, lte, 8090))
		switch {
		case withList && (byList == 0 || reachesCamera(caller)(v, f.r) != ""):
			t.Errorf("with list WAN: %d rules by list; the LTE caller got %+v", byList, v)
		case !withList && (byList != 0 || v.DstNAT):
			t.Errorf("negative control: without the list %d rules by list and the LTE caller got %+v", byList, v)
		}
	}
}
