package daemon

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

type fakeUpstream struct {
	mu    sync.Mutex
	st    upstream.Status
	ext   netip.Addr
	local netip.Addr
	gw    netip.Addr
	wants []upstream.Want
	ch    chan struct{}
}

func (f *fakeUpstream) Run(ctx context.Context) { <-ctx.Done() }
func (f *fakeUpstream) Set(local, gw netip.Addr, wants []upstream.Want, _ int) {
	f.mu.Lock()
	f.local, f.gw, f.wants = local, gw, wants
	f.mu.Unlock()
}
func (f *fakeUpstream) Changed() <-chan struct{} { return f.ch }
func (f *fakeUpstream) Status() upstream.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}
func (f *fakeUpstream) External() netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ext
}
func (f *fakeUpstream) report(st upstream.Status, ext netip.Addr) {
	f.mu.Lock()
	f.st, f.ext = st, ext
	f.mu.Unlock()
	f.ch <- struct{}{}
}

func mappings(state string) []upstream.MappingStatus {
	return []upstream.MappingStatus{{Forward: "front-cam", Protocol: "tcp", Port: 8090, State: state}}
}

// TestUpstreamFeedsClassification: what the box answers decides the verdict. A box that cannot map from outside
// (PCP NO_RESOURCES) is cgnat and DNS is withheld; a box that maps everything is double-nat (mapped), and its
// external address becomes the public address sent to DNS.
func TestUpstreamFeedsClassification(t *testing.T) {
	private := netip.MustParseAddr("192.168.1.2")
	gw := netip.MustParseAddr("192.168.1.1")
	up := &fakeUpstream{ch: make(chan struct{}, 1)}
	cfg := strings.Replace(baseConfig, "wan: {interface: wan0}", "wan: {interface: wan0, upstream: auto, upstream_gateway: 192.168.1.1}", 1)
	h := startWithDeps(t, cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{private}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, &backend.Fake{},
		func(d *Deps) { d.NewUpstream = func(*config.Config) (Upstream, error) { return up, nil } })
	poll.Wait(t, "the mapper told the WAN address, gateway and ports", func() bool {
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.local == private && up.gw == gw && slices.Equal(up.wants, []upstream.Want{{Forward: "front-cam", Protocol: "tcp", Port: 8090}})
	})
	if v := h.d.Verdict(); v.Class != reach.DoubleNAT || !strings.Contains(v.Reason, "asking the box") {
		t.Errorf("before the box answers: %+v", v)
	}

	up.report(upstream.Status{Mode: "auto", Protocol: "pcp", CGNAT: "PCP NO_RESOURCES: the gateway cannot create mappings from outside", Mappings: mappings(upstream.StateError)}, netip.Addr{})
	poll.Wait(t, "cgnat from the box's answer", func() bool { return h.d.Verdict().Class == reach.CGNAT })
	if w := h.ddns.withholding(); !strings.Contains(w, "NO_RESOURCES") {
		t.Errorf("DDNS withheld = %q", w)
	}

	ext := netip.MustParseAddr("198.51.100.20")
	up.report(upstream.Status{Mode: "auto", Protocol: "pcp", Mappings: mappings(upstream.StateMapped)}, ext)
	poll.Wait(t, "double-nat (mapped)", func() bool {
		v := h.d.Verdict()
		return v.Class == reach.DoubleNAT && v.Upstream == reach.Mapped
	})
	poll.Wait(t, "DDNS gets the box's external address", func() bool {
		got := h.ddns.got()
		return len(got) > 0 && got[len(got)-1] == ext && h.ddns.withholding() == ""
	})
	st := h.d.Status(context.Background())
	if st.Public != ext.String() || !strings.Contains(st.PublicFrom, "box in front") || st.Upstream == nil || st.Upstream.Protocol != "pcp" {
		t.Errorf("status: public %s from %q, upstream %+v", st.Public, st.PublicFrom, st.Upstream)
	}

	up.report(upstream.Status{Mode: "auto", Protocol: "upnp", Mappings: mappings(upstream.StateMapped)}, netip.MustParseAddr("100.72.0.9"))
	poll.Wait(t, "cgnat from a shared external address", func() bool { return h.d.Verdict().Class == reach.CGNAT })
}

type fakeProber struct {
	mu     sync.Mutex
	calls  int
	expect []netip.Addr
}

func (f *fakeProber) Probe(_ context.Context, expect netip.Addr, ports []probe.Port) (*probe.Answer, error) {
	f.mu.Lock()
	f.calls++
	f.expect = append(f.expect, expect)
	f.mu.Unlock()
	a := &probe.Answer{Address: expect.String()}
	for _, p := range ports {
		a.Results = append(a.Results, probe.PortResult{Port: p, Result: probe.ResultRefused})
	}
	return a, nil
}

// TestProbeAfterChange: the daemon probes after start and after a WAN change (debounced), and the results are
// in status and /metrics by forward name.
func TestProbeAfterChange(t *testing.T) {
	defer func(d time.Duration) { probeDebounce = d }(probeDebounce)
	probeDebounce = 10 * time.Millisecond
	pr := &fakeProber{}
	cfg := strings.Replace(baseConfig, "wan: {interface: wan0}", "wan: {interface: wan0, probe: {url: \"https://probe.example.net/\", secret_env: PROBE}}", 1)
	h := startWithDeps(t, cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, &backend.Fake{},
		func(d *Deps) { d.NewProber = func(*config.Config) (Prober, error) { return pr, nil } })
	poll.Wait(t, "a probe after start", func() bool { st := h.d.Status(context.Background()); return st.Probe != nil })
	st := h.d.Status(context.Background())
	if len(st.Probe.Results) != 1 || st.Probe.Results[0].Forward != "front-cam" || st.Probe.Unreachable() != 1 {
		t.Fatalf("probe status %+v", st.Probe)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "a probe after the WAN change", func() bool { pr.mu.Lock(); defer pr.mu.Unlock(); return pr.calls >= 2 })
	pr.mu.Lock()
	if len(pr.expect) < 2 || pr.expect[0] != wan1 || pr.expect[len(pr.expect)-1] != wan2 {
		t.Errorf("the probe expected %v, want the WAN address of the moment (%s, then %s)", pr.expect, wan1, wan2)
	}
	pr.mu.Unlock()

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
	if want := `hairpin_probe_reachable{forward="front-cam",result="refused"} 0`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// TestProbeNeedsPublicAddress: behind another NAT with no public address learned, the daemon does not probe at
// all (an answer could not be checked against anything) and says why; the control is the same daemon once its
// WAN address is public, which probes for it.
func TestProbeNeedsPublicAddress(t *testing.T) {
	defer func(d time.Duration) { probeDebounce = d }(probeDebounce)
	probeDebounce = 10 * time.Millisecond
	pr := &fakeProber{}
	cfg := strings.Replace(baseConfig, "wan: {interface: wan0}", "wan: {interface: wan0, double_nat: off, probe: {url: \"https://probe.example.net/\", secret_env: PROBE}}", 1)
	private := netip.MustParseAddr("192.168.1.2")
	h := startWithDeps(t, cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{private}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, &backend.Fake{},
		func(d *Deps) { d.NewProber = func(*config.Config) (Prober, error) { return pr, nil } })
	poll.Wait(t, "a probe that says why it did not ask", func() bool {
		st := h.d.Status(context.Background())
		return st.Probe != nil && strings.Contains(st.Probe.Error, "public address is not known")
	})
	pr.mu.Lock()
	if pr.calls != 0 {
		t.Errorf("the probe server was asked %d times without an address to expect", pr.calls)
	}
	pr.mu.Unlock()
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "a probe once the WAN address is public", func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return pr.calls == 1 && pr.expect[0] == wan1
	})
}
