package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestForwardsFromEverywhere: every camera over TCP (and the front camera over UDP) from the laptop, the
// internet and the router, each camera seeing the expected caller; then the negative control.
func TestForwardsFromEverywhere(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	ctx := context.Background()

	// Negative control first: before hairpin, nothing answers on the public address (the router resets).
	for _, c := range topo.ProveAll(ctx)[:3] {
		mustRefuse(t, fmt.Sprintf("before apply, %s from %s", c.Target, c.From), c.Answer)
	}

	mustApply(t, topo, cfg)
	checks := topo.ProveAll(ctx)
	if len(checks) != 15 {
		t.Fatalf("got %d checks, want 15 (4 TCP + 1 UDP forwards from 3 places)", len(checks))
	}
	for _, c := range checks {
		if !c.Pass() {
			t.Errorf("%s %s from %s: got %v, want %s seeing caller %s", c.Proto, c.Target, c.From, c.Answer, c.WantServer, c.Want)
		}
	}

	// Negative control for the rule under test: without the masquerade, hairpin from the LAN fails while
	// the internet still works.
	// The sign that it failed for that reason: each camera answers the laptop directly, from its own
	// address, and the laptop, which asked the public address, resets that answer.
	mustApply(t, topo, cfg, "--no-hairpin-masquerade")
	if err := lab.LoadNFT(ctx, topo.Laptop, "table ip observe {\n chain out {\n type filter hook output priority 0;\n tcp flags & rst == rst ip daddr "+
		topo.LANNet.String()+" counter\n }\n}\n"); err != nil {
		t.Fatal(err)
	}
	for _, c := range topo.ProveFromLAN(ctx) {
		if c.Answer.OK() {
			t.Errorf("without masquerade, %s from the laptop answered (%v): the test cannot tell hairpin from no hairpin", c.Target, c.Answer)
		}
	}
	if n := nftPackets(t, topo.Laptop, "list", "chain", "ip", "observe", "out"); n < len(topo.Cameras) {
		t.Errorf("without masquerade the laptop reset %d direct answers of the cameras, want at least %d: the probes failed for another reason", n, len(topo.Cameras))
	}
	for _, c := range topo.ProveAll(ctx) {
		if c.From == "internet" && !c.Pass() {
			t.Errorf("without masquerade, internet access to %s must still work: %v", c.Target, c.Answer)
		}
	}
}

// TestPortRange: a range maps 1:1, each port reaching its own server; the port after the range does not
// forward.
func TestPortRange(t *testing.T) {
	t.Parallel()
	topo := newLab(t, lab.Options{})
	ctx := context.Background()
	cam := topo.Cameras[0]
	for _, p := range []int{7000, 7001, 7002, 7003} {
		if _, _, err := topo.Start(cam.NS, "lab", "serve", "--name", fmt.Sprintf("port%d", p), "--tcp", fmt.Sprint(p), "--udp", fmt.Sprint(p)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, fmt.Sprintf(`wan: {interface: %s}
lan: {interface: %s}
forwards:
  - name: range
    port: "9000-9002"
    to: %s:7000-7002
    protocol: both
`, topo.WANIf, topo.LANIf, cam.Addr))
	if err := poll.Until(ctx, 10*time.Second, func() bool {
		return lab.HTTPGet(ctx, topo.Laptop, fmt.Sprintf("http://%s:7002/", cam.Addr), lab.ProbeTimeout).OK()
	}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, topo, cfg)
	for i := 0; i < 3; i++ {
		url := fmt.Sprintf("http://%s:%d/", topo.PublicAddr, 9000+i)
		want := fmt.Sprintf("port%d", 7000+i)
		for _, from := range []string{topo.Laptop, topo.Internet} {
			if a := lab.HTTPGet(ctx, from, url, lab.ProbeTimeout); !a.OK() || a.Server != want {
				t.Errorf("%s from %s: got %v, want %s", url, from, a, want)
			}
		}
		if a := lab.UDPAsk(ctx, topo.Laptop, fmt.Sprintf("%s:%d", topo.PublicAddr, 9000+i), lab.ProbeTimeout); !a.OK() || a.Server != want {
			t.Errorf("udp %d from laptop: got %v, want %s", 9000+i, a, want)
		}
	}
	mustRefuse(t, "port 9003, outside the range,", lab.HTTPGet(ctx, topo.Internet, fmt.Sprintf("http://%s:9003/", topo.PublicAddr), lab.ProbeTimeout))
}

// TestApplyIsIdempotent: a second apply leaves the table byte for byte the same, counters included.
func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	ctx := context.Background()
	mustApply(t, topo, cfg)
	for i := 0; i < 3; i++ {
		if a := lab.HTTPGet(ctx, topo.Laptop, fmt.Sprintf("http://%s:8090/", topo.PublicAddr), lab.ProbeTimeout); !a.OK() {
			t.Fatal(a)
		}
	}
	before := tableText(t, topo)
	if !regexp.MustCompile(`count_tcp[^}]*8090 counter packets [1-9]`).MatchString(before) {
		t.Fatalf("front-cam's counter did not count the traffic:\n%s", before)
	}
	mustApply(t, topo, cfg)
	if after := tableText(t, topo); after != before {
		t.Errorf("second apply changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Without a daemon, hairpin status reads the counters from the kernel.
	out, code := hairpin(t, topo, "status", "-c", cfg, "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != 0 || !regexp.MustCompile(`front-cam\s+both\s+8090\s+192\.168\.88\.180:80\s+[1-9]\d*\s+[1-9]`).MatchString(out) ||
		!regexp.MustCompile(`back-cam\s+tcp\s+8091\s+192\.168\.88\.181:80\s+0\s+0`).MatchString(out) {
		t.Errorf("status without a daemon: exit %d\n%s", code, out)
	}
}

// foreignRules is what the user had before hairpin: a table of their own, and even one in another family
// named hairpin. Neither may be touched.
const foreignRules = `table ip user_nat {
	chain pre { type nat hook prerouting priority dstnat; tcp dport 2222 dnat to 192.168.88.181:22; }
}
table inet hairpin {
	chain c { type filter hook input priority 0; tcp dport 9 counter; }
}
`

// TestForeignTablesUntouched: apply and down change nothing outside hairpin's table, and down leaves no trace.
func TestForeignTablesUntouched(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	ctx := context.Background()
	if err := lab.LoadNFT(ctx, topo.Router, foreignRules); err != nil {
		t.Fatal(err)
	}
	before := ruleset(t, topo)
	mustApply(t, topo, cfg)
	during := ruleset(t, topo)
	for _, table := range splitTables(before) {
		if !strings.Contains(during, table) {
			t.Errorf("apply changed a foreign table:\n%s\nruleset after apply:\n%s", table, during)
		}
	}
	if out, code := hairpin(t, topo, "down", "-c", cfg); code != 0 {
		t.Fatalf("down exited %d: %s", code, out)
	}
	if after := ruleset(t, topo); after != before {
		t.Errorf("down did not restore the ruleset exactly:\nbefore:\n%s\nafter down:\n%s", before, after)
	}
	mustRefuse(t, "after down the forward", lab.HTTPGet(ctx, topo.Internet, fmt.Sprintf("http://%s:8090/", topo.PublicAddr), lab.ProbeTimeout))
}

// TestRefusesForeignTableNamedHairpin: a table ip hairpin that hairpin did not create is never changed.
func TestRefusesForeignTableNamedHairpin(t *testing.T) {
	t.Parallel()
	topo := newLab(t, lab.Options{})
	cfg := writeConfig(t, topo.Config())
	if err := lab.LoadNFT(context.Background(), topo.Router, "table ip hairpin {\n set mine { type ipv4_addr; elements = { 192.0.2.1 }; }\n}\n"); err != nil {
		t.Fatal(err)
	}
	before := ruleset(t, topo)
	for _, cmd := range []string{"apply", "down"} {
		out, code := hairpin(t, topo, cmd, "-c", cfg)
		if code != 1 || !strings.Contains(out, "not created by hairpin") {
			t.Errorf("%s: exit %d, output %q; want exit 1 naming the foreign table", cmd, code, out)
		}
	}
	if after := ruleset(t, topo); after != before {
		t.Errorf("the foreign table changed:\n%s", after)
	}
}

// TestBadInputChangesNothing: a broken config (exit 2) and a missing interface (exit 1) leave the running
// rules exactly as they were.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	mustApply(t, topo, cfg)
	before := tableText(t, topo)

	bad := writeConfig(t, strings.Replace(topo.Config(), "port: 8091", "port: 70000", 1)+"  - name: front-cam\n    port: 8090\n    to: 192.168.88.300\n")
	out, code := hairpin(t, topo, "apply", "-c", bad)
	if code != 2 {
		t.Errorf("bad config: exit %d, want 2: %s", code, out)
	}
	for _, want := range []string{"hairpin.yaml:11:", "forwards[1].port", "out of range", "duplicate name", "forwards[4].to"} {
		if !strings.Contains(out, want) {
			t.Errorf("bad config output lacks %q:\n%s", want, out)
		}
	}
	missing := writeConfig(t, strings.Replace(topo.Config(), "interface: wan0", "interface: ppp0", 1))
	out, code = hairpin(t, topo, "apply", "-c", missing)
	if code != 1 || !strings.Contains(out, `"ppp0"`) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("missing interface: exit %d, output %q; want exit 1 and one line naming ppp0", code, out)
	}
	if after := tableText(t, topo); after != before {
		t.Errorf("rules changed after bad input:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if a := lab.HTTPGet(context.Background(), topo.Laptop, fmt.Sprintf("http://%s:8090/", topo.PublicAddr), lab.ProbeTimeout); !a.OK() {
		t.Errorf("forwards stopped working after bad input: %v", a)
	}
}

// TestCallerAddress pins the camera's view: the router's LAN address for hairpinned callers, the real address
// from the internet. (Also covered in TestForwardsFromEverywhere; this one names the property.)
func TestCallerAddress(t *testing.T) {
	t.Parallel()
	topo, cfg := labWithCameras(t, lab.Options{})
	mustApply(t, topo, cfg)
	ctx := context.Background()
	url := fmt.Sprintf("http://%s:8091/", topo.PublicAddr)
	for _, tc := range []struct {
		ns   string
		want netip.Addr
	}{{topo.Laptop, topo.RouterLAN}, {topo.Internet, topo.InternetAddr}} {
		if a := lab.HTTPGet(ctx, tc.ns, url, lab.ProbeTimeout); a.Caller != tc.want {
			t.Errorf("from %s the camera saw %v, want %s", tc.ns, a, tc.want)
		}
	}
}

// splitTables cuts an `nft list ruleset` text into its tables.
func splitTables(ruleset string) []string {
	var out []string
	for _, part := range strings.Split(ruleset, "\ntable ") {
		part = strings.TrimPrefix(part, "table ")
		out = append(out, "table "+strings.TrimSpace(part))
	}
	return out
}

// TestDoctor: all green on a working router; with forwarding off it names the problem and the fix.
func TestDoctor(t *testing.T) {
	t.Parallel()
	topo := newLab(t, lab.Options{})
	cfg := writeConfig(t, topo.Config()+"daemon: {status: /nonexistent/hairpin.sock}\n")
	mustApply(t, topo, cfg)
	out, code := hairpin(t, topo, "doctor", "-c", cfg)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "owned by hairpin") {
		t.Errorf("doctor on a working router: exit %d\n%s", code, out)
	}
	if _, err := lab.Exec(context.Background(), topo.Router, "sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	out, code = hairpin(t, topo, "doctor", "-c", cfg)
	if code != 1 || !strings.Contains(out, "FAIL  IPv4 forwarding is off") || !strings.Contains(out, "sysctl -w net.ipv4.ip_forward=1") {
		t.Errorf("doctor with forwarding off: exit %d\n%s", code, out)
	}
}

// TestLabDemo runs `hairpin lab --ipv6` as `make lab` does, so the README's demo command keeps working, over
// IPv6 and across a prefix change too.
func TestLabDemo(t *testing.T) {
	t.Parallel()
	needRoot(t)
	prefix := lab.RandomPrefix()
	t.Cleanup(func() { _ = exec.Command(bin, "lab", "down", "--prefix", prefix).Run() })
	out, err := exec.Command(bin, "lab", "--ipv6", "--prefix", prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("hairpin lab: %v\n%s", err, out)
	}
	for _, want := range []string{"All 4 forwards (15 checks) work from LAN, WAN and router", "fails, as expected", "after the change",
		"not forwarded (no to6), as expected", "the daemon moved front-cam to [2001:db8:1:2::180]:80",
		"All IPv6 forwards work from LAN, WAN and router, before and after the prefix change",
		"home.example.net AAAA [2001:db8:ffff::10]", "home.example.net AAAA [2001:db8:ffff::11]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lab output lacks %q:\n%s", want, out)
		}
	}
	if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), prefix) {
		t.Errorf("the lab left namespaces behind:\n%s", list)
	}
}

// TestLabDemoDoubleNAT runs `hairpin lab --double-nat --keep`, checks the kept lab still forwards with its
// daemon running, and that `hairpin lab down` removes it all.
func TestLabDemoDoubleNAT(t *testing.T) {
	t.Parallel()
	needRoot(t)
	prefix := lab.RandomPrefix()
	t.Cleanup(func() { _ = exec.Command(bin, "lab", "down", "--prefix", prefix).Run() })
	out, err := exec.Command(bin, "lab", "--double-nat", "--keep", "--prefix", prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("hairpin lab --double-nat: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Behind double NAT all 4 forwards (15 checks) work") {
		t.Errorf("lab output:\n%s", out)
	}
	if a := lab.HTTPGet(context.Background(), prefix+"-laptop", "http://203.0.113.10:8091/", lab.ProbeTimeout); a.Server != "back-cam" {
		t.Errorf("the kept lab does not forward: %v", a)
	}
	if out, err := exec.Command(bin, "lab", "down", "--prefix", prefix).CombinedOutput(); err != nil {
		t.Fatalf("lab down: %v\n%s", err, out)
	}
	if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), prefix) {
		t.Errorf("lab down left namespaces behind:\n%s", list)
	}
}
