package nft

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/nft/script"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// guardedPlan is the cameras plan with the front camera behind an allowlist (a prefix set and a hostname) and
// a limit, and the back camera behind a limit only.
func guardedPlan(t *testing.T, hostAddrs map[string][]netip.Addr, frontLimit *config.Limit) *plan.Desired {
	t.Helper()
	cfg := &config.Config{
		WAN: config.WAN{Interface: "ether1", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "bridge-local"},
		AllowSets: []config.AllowSet{
			{ID: "fwd-front-cam", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, Hosts: []string{"phone.example.net"}},
			{ID: "set-family", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.200/32")}},
		},
	}
	for i, name := range []string{"front-cam", "back-cam", "pool-cam"} {
		cfg.Forwards = append(cfg.Forwards, config.Forward{
			Name: name, Protocol: config.TCP,
			Port: config.PortRange{First: uint16(8090 + i), Last: uint16(8090 + i)},
			To:   netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}), ToPort: config.PortRange{First: 80, Last: 80},
		})
	}
	cfg.Forwards[0].AllowOn, cfg.Forwards[0].Allow, cfg.Forwards[0].Limit = true, []string{"fwd-front-cam", "set-family"}, frontLimit
	cfg.Forwards[1].Limit = &config.Limit{Count: 10, Unit: "minute", Burst: 10}
	d, _ := plan.Build(cfg, plan.Observed{
		WANAddrs:  []netip.Addr{netip.MustParseAddr("203.0.113.7")},
		LANNets:   []netip.Prefix{netip.MustParsePrefix("192.168.88.1/24")},
		HostAddrs: hostAddrs,
	}, plan.Options{})
	return d
}

func TestGuardsGolden(t *testing.T) {
	b, fake := NewFake()
	d := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77"), netip.MustParseAddr("203.0.113.99")}},
		&config.Limit{Count: 10, Unit: "minute", Burst: 20})
	if err := b.Apply(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	golden(t, "guards.nft", fake.Dump())
}

// TestGuardsInKernel applies guarded plans to a real kernel in a namespace of its own: the kernel accepts
// the rules, a change of the plan removes what it no longer needs (and only that), a hostname update touches
// only its set, and the drop counters are read.
func TestGuardsInKernel(t *testing.T) {
	ns := netnstest.New(t, "guard")
	in := func(fn func() error) {
		t.Helper()
		if err := netns.Do(ns, fn); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", Table).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v %s", err, out)
		}
		return string(out)
	}
	ctx := context.Background()
	var b *Backend
	in(func() (err error) { b, err = New(); return err })
	phone := map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}
	full := guardedPlan(t, phone, &config.Limit{Count: 10, Unit: "minute", Burst: 20})
	in(func() error { return b.Apply(ctx, full) })
	got := list()
	for _, want := range []string{"chain guard {", "chain guard_front-cam", "chain limit_front-cam", "chain limit_back-cam",
		"set meter_front-cam_10_m_20", "set allow_fwd-front-cam", "set allowhosts_fwd-front-cam", "set allow_set-family",
		"counter drop_allow_front-cam", "counter drop_limit_back-cam", "198.51.100.77"} {
		if !strings.Contains(got, want) {
			t.Errorf("after the first apply the table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "guard_back-cam") || strings.Contains(got, "pool-cam") {
		t.Errorf("a forward without allow has no allowlist chain, and an open one no guard at all:\n%s", got)
	}
	// An older hairpin's interval set of a list's name, beside the record of that name, goes.
	if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "add", "set", "ip", Table, "allow_set-family", "{ type ipv4_addr ; flags interval ; }").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	in(func() error { return b.Apply(ctx, full) })
	if got := list(); strings.Contains(got, "set allow_set-family {") || !strings.Contains(got, "counter allow_set-family {") {
		t.Errorf("the interval set of the list's name must go and its record stay:\n%s", got)
	}

	// The hostname moves: only its set changes.
	moved := guardedPlan(t, map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("203.0.113.99")}}, &config.Limit{Count: 10, Unit: "minute", Burst: 20})
	if !plan.SameGuards(full, moved) {
		t.Fatal("a host address change must keep the guards the same")
	}
	in(func() error { return b.SetAllowHosts(ctx, plan.ChangedHostSets(full, moved)) })
	if got := list(); strings.Contains(got, "198.51.100.77") || !strings.Contains(got, "203.0.113.99") {
		t.Errorf("after SetAllowHosts the host set must hold only the new address:\n%s", got)
	}

	// The front camera's limit changes: a new meter, the old one goes.
	in(func() error {
		return b.Apply(ctx, guardedPlan(t, phone, &config.Limit{Count: 5, Unit: "second", Burst: 5}))
	})
	if got := list(); strings.Contains(got, "meter_front-cam_10_m_20") || !strings.Contains(got, "meter_front-cam_5_s_5") {
		t.Errorf("a changed limit must replace the meter:\n%s", got)
	}
	// The family's prefixes change, and the apply starts from nothing but the kernel (hairpin apply): the set
	// in place is not recorded as holding the new list, so the list is loaded under its other name before the
	// transaction that points the rules at it, and the old set and its record go in that transaction.
	changed := guardedPlan(t, phone, &config.Limit{Count: 5, Unit: "second", Burst: 5})
	changed.AllowSets[1].Prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("203.0.113.0/25")}
	in(func() error { return b.Apply(ctx, changed) })
	if got := list(); strings.Contains(got, "set allow_set-family_2") || strings.Contains(got, "counter allow_set-family {") ||
		!strings.Contains(got, "set allow_set-family_b_24 {") || !strings.Contains(got, "set allow_set-family_b_25 {") ||
		!strings.Contains(got, "counter allow_set-family_b {") || !strings.Contains(got, "ip saddr & 255.255.255.128 == @allow_set-family_b_25") {
		t.Errorf("a changed list must be loaded under its other name, the old set going:\n%s", got)
	}
	// No limit on the front camera any more.
	in(func() error { return b.Apply(ctx, guardedPlan(t, phone, nil)) })
	if got := list(); strings.Contains(got, "limit_front-cam") || strings.Contains(got, "meter_front-cam") || strings.Contains(got, "drop_limit_front-cam") {
		t.Errorf("a removed limit must leave nothing behind:\n%s", got)
	}

	in(func() error {
		c, err := b.Counters(ctx, guardedPlan(t, phone, nil))
		if err != nil {
			return err
		}
		if _, ok := c["front-cam"]; !ok {
			return fmt.Errorf("no counters for front-cam: %v", c)
		}
		return nil
	})

	// 0.0.0.0/0 is a set of its own length behind the mask 0.0.0.0, which nft and the kernel take.
	everyone := guardedPlan(t, phone, nil)
	everyone.AllowSets[1].Prefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	in(func() error { return b.Apply(ctx, everyone) })
	if got := list(); !strings.Contains(got, "ip saddr & 0.0.0.0 == @allow_set-family") || !strings.Contains(got, "elements = { 0.0.0.0 }") {
		t.Errorf("a list of 0.0.0.0/0:\n%s", got)
	}

	// Without any guard nothing of them stays, and the rest of the table is what an unguarded plan makes.
	in(func() error { return b.Apply(ctx, camerasPlan(t)) })
	got = list()
	for _, p := range guardPrefixes {
		for _, line := range strings.Split(got, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && slices.Contains([]string{"chain", "set", "map", "counter"}, f[0]) && strings.HasPrefix(f[1], p) {
				t.Errorf("%s left after the guards were removed:\n%s", line, got)
			}
		}
	}
}

// TestPrefixSetNetlinkMatchesNft loads the same prefixes into one list's sets over netlink (as Apply does) and
// into others with nft -f, one per length, as `hairpin show` declares them: the kernel must hold the same
// elements in each, and a lookup of an address masked to each length must find exactly the addresses the
// prefixes hold (a prefix at 0.0.0.0, one ending at 255.255.255.255, adjacent prefixes).
func TestPrefixSetNetlinkMatchesNft(t *testing.T) {
	ns := netnstest.New(t, "pset")
	var prefixes []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "10.0.0.0/25", "10.0.0.128/25", "10.0.1.7/32", "192.0.2.0/24", "198.51.100.0/22", "255.255.255.255/32"} {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	for i := range 3000 {
		prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24+i%9))
	}
	prefixes = config.NormalizePrefixes(prefixes)
	tx := ipv4.newTx()
	tx.Add(&script.Table{})
	declarePrefixSet(tx, plan.AllowSet{ID: "viaNft", Prefixes: prefixes})
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(tx.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v %s", err, out)
	}
	if err := netns.Do(ns, func() error { return loadPrefixSetNetlink("viaNetlink", prefixes) }); err != nil {
		t.Fatal(err)
	}
	elements := func(set string) string {
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-j", "list", "set", "ip", Table, set).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v %s", err, out)
		}
		s := string(out)
		return s[strings.Index(s, `"elem"`):]
	}
	for _, bits := range prefixLengths(prefixes) {
		if a, b := elements(lengthSet("viaNetlink", bits)), elements(lengthSet(setAllowBase+"viaNft", bits)); a != b {
			t.Errorf("/%d: the netlink-loaded set differs from nft's:\nnetlink %.500s\nnft     %.500s", bits, a, b)
		}
	}
	for _, probe := range []string{"0.1.2.3", "9.255.255.255", "10.0.0.200", "10.0.1.7", "10.0.1.8", "255.255.255.255", "255.255.255.254", "100.0.5.1", "100.0.6.1"} {
		a := netip.MustParseAddr(probe)
		found := false
		for _, bits := range prefixLengths(prefixes) {
			masked := netip.PrefixFrom(a, bits).Masked().Addr().String()
			found = found || exec.Command("ip", "netns", "exec", ns, "nft", "get", "element", "ip", Table, lengthSet("viaNetlink", bits), "{ "+masked+" }").Run() == nil
		}
		want := slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		if found != want {
			t.Errorf("%s: in the netlink sets %v, in the list %v", probe, found, want)
		}
	}
}
