package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/probe"
)

// browser starts one headless Chromium for the whole test (its tabs are the subtests), or skips without one.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("HAIRPIN_CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Skip("no chromium to drive (apt install chromium, as scripts/deps-test.sh does, or set HAIRPIN_CHROMIUM)")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab of the shared browser for one subtest.
func tab(t *testing.T, bctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pageText is what a person reads on the page now.
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.body.innerText`)
}

// ddnsWithStatus is the fake engine with one hostname to show.
type ddnsWithStatus struct{ *fakeDDNS }

func (f ddnsWithStatus) Status() []ddns.HostStatus {
	addrs := f.got()
	st := ddns.HostStatus{Hostname: "home.example.org", Provider: "cloudflare", Answer: "success"}
	t0 := time.Now().Add(-72 * time.Hour)
	st.History = []ddns.Move{{Address: netip.MustParseAddr("198.51.100.23"), Time: t0}}
	for i, a := range slices.Compact(addrs) {
		st.LastAddress, st.LastSent = a.String(), time.Now()
		st.History = append(st.History, ddns.Move{Address: a, Time: t0.Add(time.Duration(i+1) * time.Hour)})
	}
	return []ddns.HostStatus{st}
}

type openProber struct{}

func (openProber) Probe(_ context.Context, expect netip.Addr, ports []probe.Port) (*probe.Answer, error) {
	a := &probe.Answer{Address: expect.String()}
	for _, p := range ports {
		a.Results = append(a.Results, probe.PortResult{Port: p, Result: probe.ResultOpen, TookMS: 23})
	}
	return a, nil
}

// TestPageInBrowser drives the status page in a real Chromium: it shows the forwards, the WAN address and a DNS
// row, follows a WAN change without a reload, refuses an action without the token, says so when the daemon is
// gone, and leaves screenshots (light and dark, phone and desktop) in $HAIRPIN_SCREENSHOTS or the test's
// temporary directory.
func TestPageInBrowser(t *testing.T) {
	bctx := browser(t)
	defer func(d time.Duration) { probeDebounce = d }(probeDebounce)
	probeDebounce = 10 * time.Millisecond
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "control.token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "daemon: {control: true, status: \"127.0.0.1:9469\", control_token_file: " + tokenFile + "}\n" + `wan: {interface: wan0, probe: {url: "https://probe.example.net/", secret_env: PROBE}}
lan: {interface: lan0}
ddns: [{provider: duckdns, hostname: home.duckdns.org, token_env: HAIRPIN_TEST_TOKEN}]
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
  - {name: nas, port: 443, to: "192.168.88.20"}
  - {name: game, port: 27015, protocol: udp, to: "192.168.88.50"}
`
	h := startWithDeps(t, cfg, statusObs, netip.Addr{}, &backend.Fake{}, func(d *Deps) {
		d.NewProber = func(*config.Config) (Prober, error) { return openProber{}, nil }
		d.NewDDNS = func(*config.Config) (DDNS, error) { return ddnsWithStatus{&fakeDDNS{}}, nil }
	})
	h.d.mu.Lock()
	h.d.hostname = "router" // the screenshots show this name, not the test machine's
	h.d.mu.Unlock()

	// The negative control first: no listener, no page (the browser sees the connection refused).
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx := tab(t, bctx)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err == nil || !strings.Contains(err.Error(), "ERR_CONNECTION_REFUSED") {
		t.Fatalf("a page without the status listener: %v, want ERR_CONNECTION_REFUSED", err)
	}

	sl, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopServing := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = h.d.ServeListener(sctx, sl); close(served) }()
	t.Cleanup(func() { stopServing(); <-served })
	url := "http://" + addr + "/?every=1" // the page asks every second instead of every three
	waitFor := func(t *testing.T, ctx context.Context, what string, cond func(string) bool) string {
		t.Helper()
		var text string
		poll.Wait(t, what, func() bool { text = pageText(t, ctx); return cond(text) })
		return text
	}

	t.Run("renders", func(t *testing.T) {
		ctx := tab(t, bctx)
		run(t, ctx, chromedp.Navigate(url))
		text := waitFor(t, ctx, "the probe result", func(s string) bool { return strings.Contains(s, "answers") })
		for _, want := range []string{"front-cam", "tcp 8090", "192.168.88.180:80", "nas", "game", "203.0.113.10", "home.example.org", "198.51.100.23", "ALL GOOD", "hairpin on router"} {
			if !strings.Contains(text, want) {
				t.Errorf("the page lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("follows a WAN change without a reload", func(t *testing.T) {
		ctx := tab(t, bctx)
		run(t, ctx, chromedp.Navigate(url))
		waitFor(t, ctx, "the first address", func(s string) bool { return strings.Contains(s, "203.0.113.10") })
		eval[bool](t, ctx, `window.sameDocument = true`)
		h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
		waitFor(t, ctx, "the new WAN address", func(s string) bool { return strings.Contains(s, "203.0.113.11") })
		if !eval[bool](t, ctx, `window.sameDocument === true`) {
			t.Error("the page was reloaded to show the change")
		}
	})

	t.Run("an action without the token is refused", func(t *testing.T) {
		ctx := tab(t, bctx)
		run(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible("#actions"), chromedp.Click(`button[data-action="reload"]`))
		text := waitFor(t, ctx, "the refusal", func(s string) bool { return strings.Contains(s, "refused (401)") })
		if !strings.Contains(text, "Reload config: refused (401)") {
			t.Errorf("action result: %s", text)
		}
		before := reloads(h.d)
		run(t, ctx, chromedp.SendKeys("#token", "t0ken-for-tests"), chromedp.Click(`button[data-action="reload"]`))
		waitFor(t, ctx, "the reload with the token", func(s string) bool { return strings.Contains(s, "Reload config: reloaded") })
		if got := reloads(h.d); got != before+1 {
			t.Errorf("%d reloads after the accepted one, want %d", got, before+1)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		out := os.Getenv("HAIRPIN_SCREENSHOTS")
		if out == "" {
			out = filepath.Join(dir, "screenshots")
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"light", "dark"} {
			for _, size := range []struct {
				name          string
				width, height int64
				mobile        bool
			}{{"desktop", 1200, 900, false}, {"phone", 390, 844, true}} {
				ctx := tab(t, bctx)
				emulate := chromedp.EmulateViewport(size.width, size.height)
				if size.mobile {
					emulate = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateMobile)
				}
				run(t, ctx, emulate, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
					return err
				}), chromedp.Navigate(url))
				waitFor(t, ctx, "the page drawn", func(s string) bool { return strings.Contains(s, "answers") })
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(out, fmt.Sprintf("page-%s-%s.png", size.name, scheme))
				if err := os.WriteFile(file, png, 0o644); err != nil {
					t.Fatal(err)
				}
				bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
				if dark := bg == "rgb(21, 22, 20)"; dark != (scheme == "dark") {
					t.Errorf("%s scheme: background %s", scheme, bg)
				}
			}
		}
		t.Logf("screenshots in %s", out)
	})

	t.Run("says when the daemon is gone", func(t *testing.T) {
		ctx := tab(t, bctx)
		run(t, ctx, chromedp.Navigate(url))
		waitFor(t, ctx, "the page drawn", func(s string) bool { return strings.Contains(s, "front-cam") })
		stopServing()
		<-served
		text := waitFor(t, ctx, "the lost daemon", func(s string) bool { return strings.Contains(s, "Lost the daemon") })
		if !strings.Contains(text, "no answer") {
			t.Errorf("the page says: %s", text)
		}
	})
}
