package daemon

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// TestReachabilityFollowsTheWAN: the classification is in status, /metrics and events, and dynamic DNS is
// withheld exactly while it is cgnat; a public address (the control) lifts the hold.
func TestReachabilityFollowsTheWAN(t *testing.T) {
	cgn := netip.MustParseAddr("100.64.7.9")
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{cgn}, LANNets: []netip.Prefix{lan}})
	poll.Wait(t, "cgnat classified", func() bool { return h.d.Verdict().Class == reach.CGNAT })
	if w := h.ddns.withholding(); !strings.Contains(w, "cgnat") || !strings.Contains(w, "100.64.0.0/10") {
		t.Errorf("DDNS not withheld under CGNAT: %q", w)
	}
	st := h.d.Status(context.Background())
	if len(st.Reachability) != 1 || st.Reachability[0].Class != reach.CGNAT || !strings.Contains(st.Reachability[0].Advice, "IPv6") {
		t.Errorf("status reachability = %+v", st.Reachability)
	}
	if !hasEvent(st.Events, "class=cgnat", "withheld") {
		t.Errorf("no cgnat event: %+v", st.Events)
	}
	sock := filepath.Join(t.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.d.Serve(ctx, sock) }()
	poll.Wait(t, "status answers", func() bool { _, err := Fetch(ctx, sock); return err == nil })
	client, base := httpClientFor(sock)
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `hairpin_reachability{class="cgnat",family="ipv4",upstream=""} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}

	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "public classified", func() bool { return h.d.Verdict().Class == reach.Public })
	if w := h.ddns.withholding(); w != "" {
		t.Errorf("DDNS still withheld on a public address: %q", w)
	}
	poll.Wait(t, "DDNS gets the public address", func() bool {
		got := h.ddns.got()
		return len(got) > 0 && got[len(got)-1] == wan1
	})
}

// TestReachabilityDSLiteAndDoubleNAT: the DS-Lite detector wins over the address; behind a private WAN address
// the verdict is double-nat with the upstream state from the config.
func TestReachabilityDSLiteAndDoubleNAT(t *testing.T) {
	private := netip.MustParseAddr("192.168.1.2")
	manual := strings.Replace(baseConfig, "wan: {interface: wan0}", "wan: {interface: wan0, upstream: manual}", 1)
	h := start(t, manual, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{private}, LANNets: []netip.Prefix{lan}})
	poll.Wait(t, "double-nat manual", func() bool {
		v := h.d.Verdict()
		return v.Class == reach.DoubleNAT && v.Upstream == reach.Manual
	})
	if w := h.ddns.withholding(); w != "" {
		t.Errorf("DDNS withheld behind a plain double NAT: %q", w)
	}

	h.d.deps.DetectDSLite = func() (bool, string, error) { return true, "the IPv4 default route goes through ds0", nil }
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{netip.MustParseAddr("192.0.0.2")}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "ds-lite", func() bool { return h.d.Verdict().Class == reach.DSLite })
	if w := h.ddns.withholding(); !strings.Contains(w, "ds-lite") {
		t.Errorf("DDNS not withheld under DS-Lite: %q", w)
	}
}

func hasEvent(events []Event, parts ...string) bool {
	for _, e := range events {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.Message, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestReachabilityIPv6: with global IPv6 on the WAN the status has an ipv6 verdict next to the ipv4 one, and
// the cgnat advice says that forwards with to6 work over IPv6 today. Without IPv6 (the control) there is no
// ipv6 verdict and the advice does not mention it.
func TestReachabilityIPv6(t *testing.T) {
	cgn := netip.MustParseAddr("100.64.7.9")
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{cgn}, LANNets: []netip.Prefix{lan}})
	poll.Wait(t, "cgnat", func() bool { return h.d.Verdict().Class == reach.CGNAT })
	if st := h.d.Status(context.Background()); len(st.Reachability) != 1 || strings.Contains(st.Reachability[0].Advice, "now") {
		t.Fatalf("without IPv6: %+v", st.Reachability)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{cgn}, LANNets: []netip.Prefix{lan}, WAN6: []netip.Addr{netip.MustParseAddr("2001:db8:7::2")}}
	poll.Wait(t, "an ipv6 verdict", func() bool { return len(h.d.Status(context.Background()).Reachability) == 2 })
	st := h.d.Status(context.Background())
	if v6 := st.Reachability[1]; v6.Family != "ipv6" || v6.Class != reach.Public || !strings.Contains(v6.Advice, "to6") {
		t.Errorf("ipv6 verdict %+v", v6)
	}
	if !strings.Contains(st.Reachability[0].Advice, "reachable over IPv6 now") {
		t.Errorf("cgnat advice does not name the IPv6 way out: %q", st.Reachability[0].Advice)
	}
}
