package routeros

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

var ctx = context.Background()

func TestFreshApplyAndReapply(t *testing.T) { eachRelease(t, testFreshApplyAndReapply) }

func testFreshApplyAndReapply(t *testing.T) {
	f := newFixture(t)
	d := f.desired()
	reads, writes := f.apply(d)
	// Three reads (hairpin's address lists, the NAT and mangle tables); one write per item: WAN entry, LAN
	// entry, four dst-nat rules, four output-chain rules for the router's own connections, the masquerade,
	// the mangle mark.
	if reads != 3 || writes != 12 {
		t.Errorf("fresh apply: %d reads, %d writes; want 3 and 12 (%v)", reads, writes, f.r.Requests())
	}
	t.Logf("four cameras, fresh router: %d reads + %d writes = %d requests", reads, writes, reads+writes)

	want := []string{
		"action=dst-nat chain=dstnat comment=HAIRPIN:v1:dnat:back-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8091 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.181 to-ports=80",
		"action=dst-nat chain=dstnat comment=HAIRPIN:v1:dnat:driveway-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8093 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.183 to-ports=80",
		"action=dst-nat chain=dstnat comment=HAIRPIN:v1:dnat:front-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8090 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.180 to-ports=80",
		"action=dst-nat chain=dstnat comment=HAIRPIN:v1:dnat:pool-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8092 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.182 to-ports=80",
		"action=dst-nat chain=output comment=HAIRPIN:v1:dnat-out:back-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8091 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.181 to-ports=80",
		"action=dst-nat chain=output comment=HAIRPIN:v1:dnat-out:driveway-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8093 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.183 to-ports=80",
		"action=dst-nat chain=output comment=HAIRPIN:v1:dnat-out:front-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8090 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.180 to-ports=80",
		"action=dst-nat chain=output comment=HAIRPIN:v1:dnat-out:pool-cam:tcp disabled=false dst-address-list=hairpin-wan dst-port=8092 dynamic=false invalid=false log-prefix= log=false protocol=tcp to-addresses=192.168.88.182 to-ports=80",
		"action=mark-connection chain=prerouting comment=HAIRPIN:v1:mark:tcp connection-mark=no-mark disabled=false dst-address-list=hairpin-wan dst-port=8090,8091,8092,8093 dynamic=false invalid=false log-prefix= log=false new-connection-mark=hairpin-masq passthrough=true protocol=tcp src-address-list=hairpin-lan",
		"action=masquerade chain=srcnat comment=HAIRPIN:v1:masq connection-mark=hairpin-masq disabled=false dynamic=false invalid=false log-prefix= log=false",
		"address=192.168.88.0/24 comment=HAIRPIN:v1:lan disabled=false dynamic=false list=hairpin-lan",
		"address=203.0.113.7 comment=HAIRPIN:v1:wan disabled=false dynamic=false list=hairpin-wan",
	}
	if got := f.state(); !slices.Equal(got, want) {
		t.Errorf("router state:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	reads, writes = f.apply(f.desired())
	if writes != 0 {
		t.Errorf("re-apply wrote %d times: %v", writes, f.r.Requests())
	}
	if _, err := f.b.Counters(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.b.SetWANAddrs(ctx, f.desired().WANAddrs); err != nil {
		t.Fatal(err)
	}
	if got := f.r.ReadsWithoutProplist(); len(got) != 0 {
		t.Errorf("reads without .proplist download every property of every item: %v", got)
	}
	t.Logf("four cameras, unchanged: %d reads + %d writes", reads, writes)
}

func TestWANAddressChangeIsOneWrite(t *testing.T) { eachRelease(t, testWANAddressChangeIsOneWrite) }

func testWANAddressChangeIsOneWrite(t *testing.T) {
	f := newFixture(t)
	f.apply(f.desired())
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "198.51.100.20/24"})

	// The daemon's cheap path.
	obs, err := f.b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.r.ResetCounts()
	if err := f.b.SetWANAddrs(ctx, obs.WANAddrs); err != nil {
		t.Fatal(err)
	}
	if reads, writes := f.r.Counts(); reads != 1 || writes != 1 {
		t.Errorf("SetWANAddrs: %d reads, %d writes; want 1 and 1 (%v)", reads, writes, f.r.Requests())
	}
	wan := f.ours(rostest.AddrList)
	if !slices.ContainsFunc(wan, func(e rostest.Entry) bool { return e["address"] == "198.51.100.20" && e["list"] == ListWAN }) {
		t.Errorf("WAN list not updated: %v", wan)
	}

	// A full reconcile after another change also costs one write.
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "198.51.100.21/24"})
	if _, writes := f.apply(f.desired()); writes != 1 {
		t.Errorf("Apply after a WAN change: %d writes, want 1 (%v)", writes, f.r.Requests())
	}
}

func TestForeignItemsUntouched(t *testing.T) { eachRelease(t, testForeignItemsUntouched) }

func testForeignItemsUntouched(t *testing.T) {
	f := newFixture(t)
	seedForeign(f.r)
	beforeNAT, beforeList, beforeMangle := f.foreign(rostest.NAT), f.foreign(rostest.AddrList), f.foreign(rostest.Mangle)
	check := func(step string) {
		t.Helper()
		if got := f.foreign(rostest.Mangle); !slices.EqualFunc(got, beforeMangle, equalEntry) {
			t.Errorf("%s changed foreign mangle rules:\n got %v\nwant %v", step, got, beforeMangle)
		}
		if got := f.foreign(rostest.NAT); !slices.EqualFunc(got, beforeNAT, equalEntry) {
			t.Errorf("%s changed foreign NAT rules:\n got %v\nwant %v", step, got, beforeNAT)
		}
		if got := f.foreign(rostest.AddrList); !slices.EqualFunc(got, beforeList, equalEntry) {
			t.Errorf("%s changed foreign address-list entries:\n got %v\nwant %v", step, got, beforeList)
		}
	}
	f.apply(f.desired())
	check("apply")
	// The hand-made entry provides the WAN address: hairpin adds none of its own.
	for _, e := range f.ours(rostest.AddrList) {
		if e["list"] == ListWAN {
			t.Errorf("hairpin added a WAN entry next to the user's: %v", e)
		}
	}

	// front-cam (port 8090) goes above the article's rule for the same port, which would take its packets;
	// the other cameras' ports are not shadowed, so they are appended. The VPN exemption stays first.
	nat := f.r.Items(rostest.NAT)
	idx := func(comment string) int {
		return slices.IndexFunc(nat, func(e rostest.Entry) bool { return e["comment"] == comment })
	}
	if !(idx("vpn: no nat") < idx("HAIRPIN:v1:dnat:front-cam:tcp") && idx("HAIRPIN:v1:dnat:front-cam:tcp") < idx("front camera hairpin")) {
		t.Errorf("front-cam rule misplaced: %v", comments(nat))
	}
	if idx("HAIRPIN:v1:dnat:back-cam:tcp") < idx("front camera hairpin") {
		t.Errorf("back-cam rule needlessly placed above foreign rules: %v", comments(nat))
	}

	if _, writes := f.apply(f.desired()); writes != 0 {
		t.Errorf("re-apply with foreign rules wrote %d times: %v", writes, f.r.Requests())
	}
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "198.51.100.20/24"})
	f.apply(f.desired())
	check("WAN change")
	if err := f.b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	check("down")
	if ours := append(f.ours(rostest.NAT), f.ours(rostest.AddrList)...); len(ours) != 0 {
		t.Errorf("down left hairpin items: %v", ours)
	}
}

func equalEntry(a, b rostest.Entry) bool { return summary(a) == summary(b) && a[".id"] == b[".id"] }

func comments(es []rostest.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e["comment"]
	}
	return out
}

func findComment(es []rostest.Entry, c string) rostest.Entry {
	if i := slices.IndexFunc(es, func(e rostest.Entry) bool { return e["comment"] == c }); i >= 0 {
		return es[i]
	}
	return nil
}

func TestDriftRepaired(t *testing.T) { eachRelease(t, testDriftRepaired) }

func testDriftRepaired(t *testing.T) {
	const front = "HAIRPIN:v1:dnat:front-cam:tcp"
	tests := []struct {
		name       string
		drift      func(f *fixture, id string)
		wantWrites int
	}{
		{"edited target", func(f *fixture, id string) {
			f.r.Edit(rostest.NAT, id, rostest.Entry{"to-addresses": "192.168.88.99"})
		}, 1},
		{"disabled", func(f *fixture, id string) { f.r.Edit(rostest.NAT, id, rostest.Entry{"disabled": "true"}) }, 1},
		{"deleted", func(f *fixture, id string) { f.r.Remove(rostest.NAT, id) }, 1},
		{"matcher added", func(f *fixture, id string) {
			// PATCH cannot take a matcher away, so the rule is replaced: create, then delete.
			f.r.Edit(rostest.NAT, id, rostest.Entry{"src-address": "10.0.0.0/8"})
		}, 2},
		{"duplicated", func(f *fixture, id string) {
			e := f.r.Item(rostest.NAT, id)
			delete(e, ".id")
			f.r.Add(rostest.NAT, e)
		}, 1},
		{"WAN entry edited", func(f *fixture, _ string) {
			e := findComment(f.r.Items(rostest.AddrList), markWAN)
			f.r.Edit(rostest.AddrList, e[".id"], rostest.Entry{"address": "192.0.2.1"})
		}, 1},
		{"mark rule lost its no-mark guard", func(f *fixture, _ string) {
			// Without connection-mark=no-mark it would overwrite users' marks: one PATCH puts it back.
			e := findComment(f.r.Items(rostest.Mangle), markMark+":tcp")
			f.r.Edit(rostest.Mangle, e[".id"], rostest.Entry{"connection-mark": ""})
		}, 1},
		{"mark rule edited", func(f *fixture, _ string) {
			e := findComment(f.r.Items(rostest.Mangle), markMark+":tcp")
			f.r.Edit(rostest.Mangle, e[".id"], rostest.Entry{"new-connection-mark": "other", "passthrough": "false"})
		}, 1},
		{"mark rule deleted", func(f *fixture, _ string) {
			f.r.Remove(rostest.Mangle, findComment(f.r.Items(rostest.Mangle), markMark+":tcp")[".id"])
		}, 1},
		{"a user's mangle rule put above the mark", func(f *fixture, _ string) {
			// A QoS rule that ends mangle processing would keep the mark from ever running: hairpin moves its
			// mark back to the top (one write) and leaves the user's rule as it is.
			qos := f.r.Add(rostest.Mangle, rostest.Entry{"chain": "prerouting", "action": "mark-packet", "new-packet-mark": "voip", "passthrough": "false"})
			f.r.Move(rostest.Mangle, qos, f.r.Items(rostest.Mangle)[0][".id"])
		}, 1},
		{"masquerade deleted", func(f *fixture, _ string) {
			f.r.Remove(rostest.NAT, findComment(f.r.Items(rostest.NAT), markMasq)[".id"])
		}, 1},
		{"shadowed by a new foreign rule", func(f *fixture, id string) {
			// A user adds a forward of 8080-8090 and moves it to the top; hairpin moves its own rule
			// above it (one write) and leaves the user's rule as it is.
			catchAll := f.r.Add(rostest.NAT, rostest.Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "8080-8090", "to-addresses": "192.168.88.5"})
			f.r.Move(rostest.NAT, catchAll, f.r.Items(rostest.NAT)[0][".id"])
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			d := f.desired()
			f.apply(d)
			want := f.state()
			tt.drift(f, findComment(f.r.Items(rostest.NAT), front)[".id"])
			_, writes := f.apply(d)
			if writes != tt.wantWrites {
				t.Errorf("repair took %d writes, want %d: %v", writes, tt.wantWrites, f.r.Requests())
			}
			if got := f.state(); !slices.Equal(got, want) {
				t.Errorf("not repaired:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			nat := f.r.Items(rostest.NAT)
			if i := slices.IndexFunc(nat, func(e rostest.Entry) bool { return e["comment"] == front }); i < 0 || slices.ContainsFunc(nat[:i], func(e rostest.Entry) bool { return !owned(e["comment"]) && shadows(e, natItems(d)[0].props) }) {
				t.Errorf("front-cam rule is shadowed: %v", comments(nat))
			}
			if _, writes := f.apply(d); writes != 0 {
				t.Errorf("apply after repair wrote %d times: %v", writes, f.r.Requests())
			}
		})
	}
}

func TestFailureHalfwayConverges(t *testing.T) { eachRelease(t, testFailureHalfwayConverges) }

func testFailureHalfwayConverges(t *testing.T) {
	ref := newFixture(t)
	seedForeign(ref.r)
	ref.apply(ref.desired())
	want := ref.state()

	_, total := ref.r.Counts()
	if total < 10 {
		t.Fatalf("reference apply took only %d writes", total)
	}
	for _, status := range []int{400, 500, 0} {
		for n := 1; n <= total; n++ {
			f := newFixture(t)
			seedForeign(f.r)
			foreignBefore := f.foreign(rostest.NAT)
			d := f.desired()
			f.r.FailWrite(n, status, "simulated failure")
			err := f.b.Apply(ctx, d)
			if err == nil {
				t.Fatalf("status %d, write %d: Apply did not fail", status, n)
			}
			if status == 0 && !IsUnreachable(err) || status != 0 && !IsAPIError(err) {
				t.Errorf("status %d: error kind %v: %v", status, kindOf(err), err)
			}
			if got := f.foreign(rostest.NAT); !slices.EqualFunc(got, foreignBefore, equalEntry) {
				t.Errorf("status %d, write %d: failure changed foreign rules", status, n)
			}
			f.apply(d)
			if got := f.state(); !slices.Equal(got, want) {
				t.Errorf("status %d, write %d: did not converge:\n%s", status, n, strings.Join(got, "\n"))
			}
			if _, writes := f.apply(d); writes != 0 {
				t.Errorf("status %d, write %d: third apply wrote %d times", status, n, writes)
			}
		}
	}
}

func TestDownRemovesOnlyOurs(t *testing.T) { eachRelease(t, testDownRemovesOnlyOurs) }

func testDownRemovesOnlyOurs(t *testing.T) {
	f := newFixture(t)
	seedForeign(f.r)
	f.r.Add(rostest.Script, rostest.Entry{"name": "hairpin_update", "source": "/ip firewall nat set [find comment~\"hairpin\"] dst-address=$resolvedIP"})
	f.r.Add(rostest.Script, rostest.Entry{"name": "hairpin-update", "comment": markUpdater})
	f.r.Add(rostest.Scheduler, rostest.Entry{"name": "hairpin-update", "comment": markUpdater})
	// The export's hooks in the user's own DHCP client script and PPP profile: down cuts out exactly them.
	userScript := ":log info \"lease changed\"\n"
	dhcp := f.r.Add(rostest.DHCPClient, rostest.Entry{"interface": "ether1", "script": userScript + hookText("ether1")})
	ppp := f.r.Add(rostest.PPPProfile, rostest.Entry{"name": "isp", "on-up": hookText("pppoe-out1")})
	other := f.r.Add(rostest.DHCPClient, rostest.Entry{"interface": "ether5", "script": ":log info other"})
	// The export's DNS script and the state it keeps in address lists of its own.
	f.r.Add(rostest.Script, rostest.Entry{"name": DNSName, "comment": markDDNS})
	f.r.Add(rostest.AddrList, rostest.Entry{"list": dnsListPrefix + "0", "address": "203.0.113.7", "comment": markDDNS})
	f.r.Add(rostest.AddrList, rostest.Entry{"list": dnsListPrefix + "0-stop", "address": "203.0.113.7", "comment": markDDNS})
	f.apply(f.desired())
	before := map[string][]rostest.Entry{}
	for _, p := range []string{rostest.NAT, rostest.AddrList, rostest.Mangle} {
		before[p] = f.foreign(p)
	}
	f.r.ResetCounts()
	defer func() {
		if got := f.r.Item(rostest.DHCPClient, dhcp)["script"]; got != userScript {
			t.Errorf("the DHCP client's script after down: %q, want the user's own %q", got, userScript)
		}
		if got := f.r.Item(rostest.PPPProfile, ppp)["on-up"]; got != "" {
			t.Errorf("the PPP profile's on-up after down: %q, want it empty", got)
		}
		if got := f.r.Item(rostest.DHCPClient, other)["script"]; got != ":log info other" {
			t.Errorf("another DHCP client's script changed: %q", got)
		}
		for _, e := range f.r.Items(rostest.AddrList) {
			if e["comment"] == markDDNS {
				t.Errorf("down left the DNS script's state: %v", e)
			}
		}
	}()
	if err := f.b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	// The updater goes first (it would add list entries back), then the mark, the NAT rules, the lists.
	var order []string
	for _, req := range f.r.Requests() {
		if m, path, _ := strings.Cut(req, " "); m == "DELETE" {
			menu := path[:strings.LastIndex(path, "/")]
			if len(order) == 0 || order[len(order)-1] != menu {
				order = append(order, menu)
			}
		}
	}
	if want := []string{rostest.Scheduler, rostest.Script, rostest.Mangle, rostest.NAT, rostest.AddrList}; !slices.Equal(order, want) {
		t.Errorf("down removed in the order %v, want %v", order, want)
	}
	if got := f.r.ReadsWithoutProplist(); len(got) != 0 {
		t.Errorf("down read without .proplist: %v", got)
	}
	for p, es := range before {
		if got := f.r.Items(p); !slices.EqualFunc(got, es, equalEntry) {
			t.Errorf("%s after down:\n got %v\nwant %v", p, got, es)
		}
	}
	if s := f.r.Items(rostest.Script); len(s) != 1 || s[0]["name"] != "hairpin_update" {
		t.Errorf("scripts after down: %v (the user's hairpin_update must stay, ours must go)", s)
	}
	if s := f.r.Items(rostest.Scheduler); len(s) != 0 {
		t.Errorf("scheduler after down: %v", s)
	}
	f.r.ResetCounts()
	if err := f.b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if _, writes := f.r.Counts(); writes != 0 {
		t.Errorf("second down wrote %d times", writes)
	}
}

func TestCounters(t *testing.T) {
	f := newFixture(t, "  - {name: game, port: 27015, to: 192.168.88.50, protocol: both}\n")
	f.apply(f.desired())
	for _, e := range f.ours(rostest.NAT) {
		if e["chain"] != "dstnat" {
			continue
		}
		switch forwardOf(e["comment"]) {
		case "front-cam":
			f.r.Edit(rostest.NAT, e[".id"], rostest.Entry{"bytes": "1500", "packets": "3"})
		case "game":
			f.r.Edit(rostest.NAT, e[".id"], rostest.Entry{"bytes": "100", "packets": "1"})
		}
	}
	got, err := f.b.Counters(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := got["front-cam"]; c.Bytes != 1500 || c.Packets != 3 {
		t.Errorf("front-cam: %+v", c)
	}
	if c := got["game"]; c.Bytes != 200 || c.Packets != 2 { // tcp and udp rules summed
		t.Errorf("game: %+v", c)
	}
	if _, ok := got["pool-cam"]; !ok || len(got) != 5 {
		t.Errorf("counters: %v", got)
	}
}

func TestObserveAndDoubleNAT(t *testing.T) { eachRelease(t, testObserveAndDoubleNAT) }

func testObserveAndDoubleNAT(t *testing.T) {
	f := newFixture(t)
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "192.168.1.2/24"})
	f.r.Add(rostest.Address, rostest.Entry{"address": "192.168.1.3/24", "interface": "ether1", "disabled": "true"})
	f.r.SetSingleton(rostest.Cloud, rostest.Entry{"ddns-enabled": "true", "public-address": "198.51.100.7"})
	obs, err := f.b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Observed{
		WANAddrs: []netip.Addr{netip.MustParseAddr("192.168.1.2")},
		LANNets:  []netip.Prefix{netip.MustParsePrefix("192.168.88.0/24")},
		Public:   netip.MustParseAddr("198.51.100.7"),
	}
	if !slices.Equal(obs.WANAddrs, want.WANAddrs) || !slices.Equal(obs.LANNets, want.LANNets) || obs.Public != want.Public {
		t.Errorf("Observe = %+v, want %+v", obs, want)
	}
	d, _ := plan.Build(f.cfg, obs, plan.Options{})
	if !d.DoubleNAT {
		t.Fatal("plan did not detect double NAT")
	}
	_, writes := f.apply(d)
	if writes != 3+4+4+4+2 { // WAN and public address, LAN; dst-nat, output and WAN-interface rules; mark and masquerade
		t.Errorf("double NAT apply: %d writes (%v)", writes, f.r.Requests())
	}
	wanif := findComment(f.r.Items(rostest.NAT), "HAIRPIN:v1:dnat-wanif:front-cam:tcp")
	if wanif == nil || wanif["in-interface"] != "ether1" || wanif["dst-address-type"] != "local" || wanif["dst-address-list"] != "" {
		t.Errorf("WAN-interface rule: %v", wanif)
	}
	var wanList []string
	for _, e := range f.ours(rostest.AddrList) {
		if e["list"] == ListWAN {
			wanList = append(wanList, e["address"])
		}
	}
	slices.Sort(wanList)
	if !slices.Equal(wanList, []string{"192.168.1.2", "198.51.100.7"}) {
		t.Errorf("WAN list = %v", wanList)
	}
}

func TestPortRanges(t *testing.T) { eachRelease(t, testPortRanges) }

func testPortRanges(t *testing.T) {
	f := newFixture(t,
		"  - {name: same, port: 5000-5002, to: 192.168.88.10}\n",
		"  - {name: many-to-one, port: 6000-6001, to: \"192.168.88.11:22\"}\n",
		"  - {name: shifted, port: 7000-7001, to: \"192.168.88.12:9000-9001\"}\n")
	f.apply(f.desired())
	nat := f.r.Items(rostest.NAT)
	for _, c := range []struct{ comment, port, toPorts string }{
		{"HAIRPIN:v1:dnat:same:tcp", "5000-5002", ""},
		{"HAIRPIN:v1:dnat:many-to-one:tcp", "6000-6001", "22"},
		{"HAIRPIN:v1:dnat:shifted:tcp:7000", "7000", "9000"},
		{"HAIRPIN:v1:dnat:shifted:tcp:7001", "7001", "9001"},
	} {
		e := findComment(nat, c.comment)
		if e == nil || e["dst-port"] != c.port || e["to-ports"] != c.toPorts {
			t.Errorf("%s: %v", c.comment, e)
		}
	}
	if _, writes := f.apply(f.desired()); writes != 0 {
		t.Errorf("re-apply wrote %d times", writes)
	}
}

func TestPoll(t *testing.T) {
	f := newFixture(t)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 10)
	ch := f.b.poll(pctx, 5*time.Millisecond, func(err error) {
		select {
		case errs <- err:
		default:
		}
	})
	first := <-ch
	if len(first.WANAddrs) != 1 || first.WANAddrs[0] != netip.MustParseAddr("203.0.113.7") {
		t.Fatalf("first observation: %+v", first)
	}
	f.r.Edit(rostest.Address, f.wanID, rostest.Entry{"address": "198.51.100.20/24"})
	deadline := time.After(30 * time.Second)
	select {
	case obs := <-ch:
		if obs.WANAddrs[0] != netip.MustParseAddr("198.51.100.20") {
			t.Errorf("after the change: %+v", obs)
		}
	case <-deadline:
		t.Fatal("no observation after the WAN address changed")
	}
	f.r.Close()
	select {
	case err := <-errs:
		if !IsUnreachable(err) {
			t.Errorf("poll error: %v", err)
		}
	case <-deadline:
		t.Fatal("no error after the router went away")
	}
	cancel()
	for range ch {
	}
}

func TestRecommentedRuleBecomesTheUsers(t *testing.T) {
	eachRelease(t, testRecommentedRuleBecomesTheUsers)
}

func testRecommentedRuleBecomesTheUsers(t *testing.T) {
	f := newFixture(t)
	d := f.desired()
	f.apply(d)
	e := findComment(f.r.Items(rostest.NAT), "HAIRPIN:v1:dnat:back-cam:tcp")
	f.r.Edit(rostest.NAT, e[".id"], rostest.Entry{"comment": "back cam, mine now"})
	if _, writes := f.apply(d); writes != 1 {
		t.Errorf("recreating back-cam took %d writes", writes)
	}
	if got := f.r.Item(rostest.NAT, e[".id"]); got == nil || got["comment"] != "back cam, mine now" {
		t.Errorf("the user's rule was touched: %v", got)
	}
	if err := f.b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.r.Items(rostest.NAT); len(got) != 1 || got[0][".id"] != e[".id"] {
		t.Errorf("after down: %v", got)
	}
}

func TestObserveWithoutCloud(t *testing.T) {
	f := newFixture(t)
	f.b.cloud = false
	f.r.SetSingleton(rostest.Cloud, rostest.Entry{"public-address": "198.51.100.7"})
	f.r.ResetCounts()
	obs, err := f.b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if reads, _ := f.r.Counts(); reads != 1 || obs.Public.IsValid() {
		t.Errorf("ip_cloud off: %d reads, public %v", reads, obs.Public)
	}
}

// TestInterfaceNameWithSpaces: a RouterOS interface name with spaces and punctuation goes through Observe and
// into the rules unchanged.
func TestInterfaceNameWithSpaces(t *testing.T) {
	const wan = `ether1 - uplink "fibre" $1?`
	r := rostest.New(t, testUser, testPassword)
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.1.2/24", "interface": wan})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	r.SetSingleton(rostest.Cloud, rostest.Entry{"public-address": "198.51.100.7"})
	y := strings.Replace(fmt.Sprintf(camerasYAML, r.URL(), writeSecret(t, testPassword, 0o600), r.Fingerprint()),
		"wan: {interface: ether1}", "wan: {interface: 'ether1 - uplink \"fibre\" $1?'}", 1)
	cfg := parseConfig(t, y)
	b, err := fromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := b.Observe(ctx)
	if err != nil || len(obs.WANAddrs) != 1 {
		t.Fatalf("Observe: %+v, %v", obs, err)
	}
	d, _ := plan.Build(cfg, obs, plan.Options{})
	if err := b.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	if e := findComment(r.Items(rostest.NAT), "HAIRPIN:v1:dnat-wanif:front-cam:tcp"); e == nil || e["in-interface"] != wan {
		t.Errorf("WAN-interface rule: %v", e)
	}
}

// TestDownFailureHalfwayConverges: down failing at any write leaves foreign items alone, and the next down
// finishes the job.
func TestDownFailureHalfwayConverges(t *testing.T) {
	for n := 1; ; n++ {
		f := newFixture(t)
		seedForeign(f.r)
		f.r.Add(rostest.Scheduler, rostest.Entry{"name": "hairpin-update", "comment": markUpdater})
		f.apply(f.desired())
		before := map[string][]rostest.Entry{}
		for _, p := range []string{rostest.NAT, rostest.AddrList, rostest.Mangle} {
			before[p] = f.foreign(p)
		}
		f.r.FailWrite(n, 500, "simulated failure")
		if err := f.b.Down(ctx); err == nil {
			if n < 10 {
				t.Fatalf("down took only %d writes", n-1)
			}
			break // every write has failed once
		}
		if err := f.b.Down(ctx); err != nil {
			t.Fatalf("write %d: second down: %v", n, err)
		}
		for p, es := range before {
			if got := f.r.Items(p); !slices.EqualFunc(got, es, equalEntry) {
				t.Errorf("write %d: %s after down:\n got %v\nwant %v", n, p, got, es)
			}
		}
		if s := f.r.Items(rostest.Scheduler); len(s) != 0 {
			t.Errorf("write %d: scheduler left: %v", n, s)
		}
		if ours := append(f.ours(rostest.NAT), append(f.ours(rostest.AddrList), f.ours(rostest.Mangle)...)...); len(ours) != 0 {
			t.Errorf("write %d: down left %v", n, ours)
		}
	}
}

// TestConnectionReused: RouterOS is polled, and a TLS handshake costs a MikroTik's CPU far more than a REST
// request, so every request of an apply and the polls after it share one kept connection. The negative
// control is the same backend with keep-alive off: one connection per request.
func TestConnectionReused(t *testing.T) {
	f := newFixture(t)
	f.apply(f.desired())
	for range 3 {
		if _, err := f.b.Observe(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reads, writes := f.r.Counts()
	if n := f.r.Connections(); n != 1 {
		t.Errorf("%d requests over %d connections, want 1", reads+writes, n)
	}

	f.b.c.http.DisableKeepAlives = true
	f.b.c.http.CloseIdleConnections()
	before := f.r.Connections()
	f.r.ResetCounts()
	if _, err := f.b.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	reads, _ = f.r.Counts()
	if n := f.r.Connections() - before; reads < 2 || n != reads {
		t.Errorf("without keep-alive: %d reads over %d connections, want one each", reads, n)
	}
}
