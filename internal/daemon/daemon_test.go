package daemon

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/backends"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/nft/nftfake"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"sigs.k8s.io/knftables"
)

// newFakeNft is the nft backend over knftables' fake, and the fake of table ip hairpin.
func newFakeNft() (*nft.Backend, *knftables.Fake) {
	t := nftfake.New(nft.Table)
	return nft.NewFakeOver(t), t.V4
}

const baseConfig = `wan: {interface: wan0}
lan: {interface: lan0}
ddns: [{provider: duckdns, hostname: home.duckdns.org, token_env: HAIRPIN_TEST_TOKEN}]
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
`

func mustConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// harness runs a daemon over a fake backend and a hand-fed observer.
type harness struct {
	t    *testing.T
	d    *Daemon
	be   *backend.Fake
	obs  chan plan.Observed
	ddns *fakeDDNS
	disc *fakeDiscoverer
	done chan error
	load func() (*config.Config, error)
	// reload, when set, is load given the running config (config.Reload).
	reload func(prev *config.Config) (*config.Config, error)
	ready  chan struct{}
	// ddnsBuilt counts DDNS engines built: one at start, one per reload that changes DDNS settings.
	ddnsBuilt atomic.Int32
}

type fakeDDNS struct {
	mu       sync.Mutex
	addrs    []netip.Addr
	addrs6   []netip.Addr
	withheld string
}

func (f *fakeDDNS) Withhold(reason string) {
	f.mu.Lock()
	f.withheld = reason
	f.mu.Unlock()
}

func (f *fakeDDNS) withholding() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.withheld
}

func (f *fakeDDNS) Run(ctx context.Context) { <-ctx.Done() }
func (f *fakeDDNS) SetAddress(a netip.Addr) {
	f.mu.Lock()
	f.addrs = append(f.addrs, a)
	f.mu.Unlock()
}
func (f *fakeDDNS) Status() []ddns.HostStatus { return nil }

func (f *fakeDDNS) SetAddress6(a netip.Addr) {
	f.mu.Lock()
	f.addrs6 = append(f.addrs6, a)
	f.mu.Unlock()
}

func (f *fakeDDNS) got6() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs6)
}
func (f *fakeDDNS) got() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs)
}

type fakeDiscoverer struct {
	mu    sync.Mutex
	addr  netip.Addr
	err   error
	calls int
}

func (f *fakeDiscoverer) Forget() {}

func (f *fakeDiscoverer) Discover(context.Context) (netip.Addr, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.addr, "fake", f.err
}

func start(t *testing.T, cfgText string, first plan.Observed) *harness {
	return startPublic(t, cfgText, first, netip.Addr{})
}

// startPublic starts a daemon over a recording fake backend whose discoverer answers public.
func startPublic(t *testing.T, cfgText string, first plan.Observed, public netip.Addr) *harness {
	t.Helper()
	be := &backend.Fake{}
	h := startWith(t, cfgText, first, public, be)
	h.be = be
	return h
}

// startWith starts a daemon over the backend be.
func startWith(t *testing.T, cfgText string, first plan.Observed, public netip.Addr, be backend.Backend) *harness {
	t.Helper()
	return startWithDeps(t, cfgText, first, public, be, nil)
}

// startWithDeps is startWith with a last change to the daemon's Deps.
func startWithDeps(t *testing.T, cfgText string, first plan.Observed, public netip.Addr, be backend.Backend, change func(*Deps)) *harness {
	t.Helper()
	cfg := mustConfig(t, cfgText)
	h := &harness{t: t, obs: make(chan plan.Observed, 8), ddns: &fakeDDNS{}, disc: &fakeDiscoverer{addr: public},
		done: make(chan error, 1), ready: make(chan struct{})}
	h.load = func() (*config.Config, error) { return cfg, nil }
	h.obs <- first
	deps := Deps{
		Backend:       be,
		Observe:       func(ctx context.Context, _ *config.Config) (<-chan plan.Observed, error) { return h.obs, nil },
		NewDiscoverer: func(*config.Config) (Discoverer, error) { return h.disc, nil },
		NewDDNS:       func(*config.Config) (DDNS, error) { h.ddnsBuilt.Add(1); return h.ddns, nil },
		Load: func(prev *config.Config) (*config.Config, error) {
			if h.reload != nil {
				return h.reload(prev)
			}
			return h.load()
		},
		Ready:  func() { close(h.ready) },
		Lookup: harnessLookup,
	}
	if change != nil {
		change(&deps)
	}
	h.d = New(cfg, deps)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- h.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	select {
	case <-h.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("daemon never became ready")
	}
	return h
}

func methods(calls []backend.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

var (
	wan1 = netip.MustParseAddr("203.0.113.10")
	wan2 = netip.MustParseAddr("203.0.113.11")
	lan  = netip.MustParsePrefix("192.168.88.0/24")
)

func TestStartAppliesOnceAndIsReadyAfter(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	calls := h.be.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"Apply"}) {
		t.Fatalf("calls at start = %v, want one Apply", got)
	}
	if !slices.Equal(calls[0].Plan.WANAddrs, []netip.Addr{wan1}) || len(calls[0].Plan.Rules) != 1 {
		t.Errorf("start plan = %+v", calls[0].Plan)
	}
	poll.Wait(t, "DDNS fed the WAN address", func() bool { return slices.Equal(h.ddns.got(), []netip.Addr{wan1}) })
}

func TestAddressChangeTouchesOnlyTheWANSet(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "SetWANAddrs", func() bool { return len(h.be.Calls()) == 2 })
	c := h.be.Calls()[1]
	if c.Method != "SetWANAddrs" || !slices.Equal(c.Addrs, []netip.Addr{wan2}) {
		t.Errorf("second call = %s %v, want SetWANAddrs [%s]", c.Method, c.Addrs, wan2)
	}
	poll.Wait(t, "DDNS fed the new address", func() bool { return slices.Contains(h.ddns.got(), wan2) })

	// The same observation again changes nothing.
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	// A LAN change needs the whole plan.
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	poll.Wait(t, "full apply after a LAN change", func() bool { return len(h.be.Calls()) == 3 })
	if got := methods(h.be.Calls()); !slices.Equal(got, []string{"Apply", "SetWANAddrs", "Apply"}) {
		t.Errorf("calls = %v", got)
	}
}

// The same change over the nft backend's fake: the daemon's hot path runs the production code down to the
// kernel seam. A table removed behind the daemon's back makes the fast path refuse, and a full apply puts
// everything back.
func TestAddressChangeOverTheNftFastPath(t *testing.T) {
	be, fake := newFakeNft()
	h := startWith(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be)
	wanSet := func() []string {
		elems, _ := fake.ListElements(context.Background(), "set", "wan_addrs")
		var out []string
		for _, e := range elems {
			out = append(out, e.Key...)
		}
		return out
	}
	lastTx := func() string {
		fake.RLock()
		defer fake.RUnlock()
		return fake.LastTransaction.String()
	}
	if got := wanSet(); !slices.Equal(got, []string{wan1.String()}) {
		t.Fatalf("wan_addrs at start = %v, want [%s]", got, wan1)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the fast path to move the set", func() bool { return slices.Equal(wanSet(), []string{wan2.String()}) })
	// The last transaction retired the old address; it, like the one that added the new one, touches
	// nothing but the set's elements.
	for _, line := range strings.Split(strings.TrimSpace(lastTx()), "\n") {
		if !strings.HasPrefix(line, "delete element ip hairpin wan_addrs ") {
			t.Errorf("an address change ran more than the WAN set update: %q", line)
		}
	}

	tx := fake.NewTransaction()
	tx.Delete(&knftables.Table{})
	if err := fake.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "a full apply after the fast path failed", func() bool { return slices.Equal(wanSet(), []string{wan1.String()}) })
	if tx := lastTx(); !strings.Contains(tx, "add table ip hairpin") {
		t.Errorf("the table came back without a full apply:\n%s", tx)
	}
}

func TestWANAppearsLater(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: false, LANNets: []netip.Prefix{lan}})
	if p := h.be.Calls()[0].Plan; len(p.WANAddrs) != 0 {
		t.Fatalf("start without WAN must install an empty WAN set, got %v", p.WANAddrs)
	}
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN set filled in", func() bool {
		h.be.Calls()
		st := h.d.Status(context.Background())
		return strings.Join(st.ForwardSet, ",") == wan1.String() && st.WANExists
	})
}

func TestReloadRejectsBadConfigAndKeepsRunningOne(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	h.load = func() (*config.Config, error) {
		return config.Parse("test.yaml", []byte(baseConfig+"  - {name: front-cam, port: 0, to: x}\n"))
	}
	err := h.d.Reload(context.Background())
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) < 2 {
		t.Fatalf("Reload = %v, want every config error", err)
	}
	if n := len(h.be.Calls()); n != 1 {
		t.Errorf("a rejected reload must not touch the backend; calls = %v", methods(h.be.Calls()))
	}
	h.load = func() (*config.Config, error) {
		return mustConfig(t, baseConfig+"  - {name: back-cam, port: 8091, to: \"192.168.88.181:80\"}\n"), nil
	}
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := h.be.Calls()[len(h.be.Calls())-1]
	if last.Method != "Apply" || len(last.Plan.Rules) != 2 {
		t.Errorf("after a good reload: %s with %d rules, want Apply with 2", last.Method, len(last.Plan.Rules))
	}
}

func TestDoubleNATAddsPublicAddress(t *testing.T) {
	private := netip.MustParseAddr("192.168.1.2")
	public := netip.MustParseAddr("198.51.100.7")
	cfgText := strings.Replace(baseConfig, "wan: {interface: wan0}", `wan: {interface: wan0, public_ip: ["http://198.51.100.53/ip"]}`, 1)
	h := startPublic(t, cfgText, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{private}, LANNets: []netip.Prefix{lan}}, public)
	poll.Wait(t, "public address in the WAN set", func() bool {
		st := h.d.Status(context.Background())
		return st.DoubleNAT && strings.Join(st.ForwardSet, ",") == "192.168.1.2,198.51.100.7"
	})
	poll.Wait(t, "DDNS gets the public address, not the private one", func() bool {
		got := h.ddns.got()
		return len(got) > 0 && got[len(got)-1] == public && !slices.Contains(got, private)
	})
	if calls := methods(h.be.Calls()); !slices.Equal(calls, []string{"Apply", "SetWANAddrs"}) {
		t.Errorf("calls = %v, want the start Apply then one WAN set update for the public address", calls)
	}
}

func TestStatusServerOverUnixSocket(t *testing.T) {
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	sock := filepath.Join(t.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.d.Serve(ctx, sock) }()
	var st *Status
	poll.Wait(t, "status answers", func() bool {
		var err error
		st, err = Fetch(ctx, sock)
		return err == nil
	})
	if len(st.Forwards) != 1 || st.Forwards[0].Name != "front-cam" || st.WANAddrs[0] != wan1.String() {
		t.Errorf("status = %+v", st)
	}
	client, base := httpClientFor(sock)
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`hairpin_forward_packets_total{forward="front-cam"} 0`, `hairpin_rule_changes_total{kind="full",result="ok"} 1`, "hairpin_rules_installed 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if _, err := Fetch(ctx, filepath.Join(t.TempDir(), "nobody.sock")); err == nil || !strings.Contains(err.Error(), "hairpin run") {
		t.Errorf("fetch from no daemon: %v, want a hint to start hairpin run", err)
	}
}

func TestReloadRejectsBackendChange(t *testing.T) {
	be := &backend.Fake{}
	h := startWithDeps(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be,
		func(d *Deps) { d.SameBackend = backends.Same })
	h.be = be
	h.load = func() (*config.Config, error) {
		return mustConfig(t, "backend: routeros\nrouteros: {url: \"https://192.0.2.1\", username: u, password_env: P, tls_fingerprint: \"sha256:"+strings.Repeat("AB:", 31)+"AB\"}\n"+baseConfig), nil
	}
	if err := h.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Reload to another backend = %v, want a restart hint", err)
	}
	if n := len(h.be.Calls()); n != 1 {
		t.Errorf("the rejected reload touched the backend: %v", methods(h.be.Calls()))
	}
}

func TestSecondDaemonCannotListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := start(t, baseConfig, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.d.ServeListener(ctx, l) }()
	poll.Wait(t, "first listener answers", func() bool { _, err := Fetch(ctx, sock); return err == nil })
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("a second daemon on the same socket: %v, want a refusal", err)
	}
}
