package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// nsReceiver is a webhook receiver in a namespace: it records the generic JSON messages, or with hang holds every
// request until the test ends.
type nsReceiver struct {
	url  string
	mu   sync.Mutex
	msgs []notify.JSONMessage
	hits int
}

func newNSReceiver(t *testing.T, ns string, at netip.Addr, hang bool) *nsReceiver {
	t.Helper()
	l, err := netns.Listen(ns, "tcp4", netip.AddrPortFrom(at, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	r := &nsReceiver{url: "http://" + l.Addr().String() + "/hook"}
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m notify.JSONMessage
		_ = json.Unmarshal(body, &m)
		r.mu.Lock()
		r.hits++
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		if hang {
			select {
			case <-release:
			case <-req.Context().Done():
			}
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { close(release); srv.Close() })
	return r
}

func (r *nsReceiver) got(kind, contains string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.Event == kind && strings.Contains(m.Message, contains) {
			return true
		}
	}
	return false
}

func (r *nsReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

// chromiumIn starts a headless Chromium inside namespace ns (through `ip netns exec`; chromedp talks to it
// over a pipe, so the namespace does not matter to the test), or skips without chromium.
func chromiumIn(t *testing.T, ns string) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium to drive (apt install chromium, as scripts/deps-test.sh does)")
	}
	wrapper := filepath.Join(t.TempDir(), "chromium-in-ns")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, path)), 0o755); err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(wrapper), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium in %s: %v", ns, err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestStatusPageAndNotifyInNamespaces runs the real daemon in the lab's router with its status listener on the
// LAN address and three notify targets on the laptop (one that hangs), and a real Chromium on the laptop: the
// page shows the forwards and the WAN address, follows a WAN change without a reload while the change reaches
// the internet and the JSON target, refuses an action without the token, and says so when the daemon stops;
// the target that filters for dns_failed hears nothing of it all.
func TestStatusPageAndNotifyInNamespaces(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{})
	ctx := chromiumIn(t, topo.Laptop)
	plain := newNSReceiver(t, topo.Laptop, topo.LaptopAddr, false)
	onlyDNS := newNSReceiver(t, topo.Laptop, topo.LaptopAddr, false)
	hanging := newNSReceiver(t, topo.Laptop, topo.LaptopAddr, true)
	dir := t.TempDir()
	token := filepath.Join(dir, "control.token")
	if err := os.WriteFile(token, []byte("t0ken-in-the-lab\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := netip.AddrPortFrom(topo.RouterLAN, 9469).String()
	cfg := writeConfig(t, fmt.Sprintf("daemon: {status: \"%s\", control: true, control_token_file: %s}\nstate_dir: %s\nnotify:\n  - {url: %s}\n  - {url: %s, events: [dns_failed]}\n  - {url: %s}\n%s",
		listen, token, dir, hanging.url, onlyDNS.url, plain.url, topo.Config()))
	cmd, out, err := topo.Start(topo.Router, "run", "-c", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", out.String())
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: netns.Dialer(topo.Laptop)}}
	poll.Wait(t, "the daemon answers on the LAN", func() bool {
		resp, err := client.Get("http://" + listen + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st daemon.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Installed
	})
	page := "http://" + listen + "/?every=1"
	text := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitText := func(what, want string) {
		t.Helper()
		poll.Wait(t, what, func() bool { return strings.Contains(text(), want) })
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	waitText("the forwards", "front-cam")
	for _, want := range []string{"203.0.113.10", "back-cam", "tcp 8091", "ALL GOOD"} {
		if s := text(); !strings.Contains(s, want) {
			t.Errorf("the page lacks %q:\n%s", want, s)
		}
	}
	poll.Wait(t, "started, at the plain and the hanging target", func() bool { return plain.got("daemon", "started") && hanging.count() == 1 })

	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameDocument = true`)); err != nil {
		t.Fatal(err)
	}
	mustIP(t, topo, topo.Router, "addr del 203.0.113.10/24 dev wan0", "addr add 203.0.113.11/24 dev wan0", "route replace default via 203.0.113.1")
	reaches(t, topo.Internet, "203.0.113.11:8091", "back-cam") // while the hanging target holds its first message
	waitText("the new WAN address", "203.0.113.11")
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sameDocument === true`)); err != nil || !same {
		t.Errorf("the page reloaded to show the change (%v)", err)
	}
	poll.Wait(t, "wan_address at the plain target", func() bool { return plain.got("wan_address", "is now [203.0.113.11] (was [203.0.113.10])") })
	if n := hanging.count(); n != 1 {
		t.Errorf("the hanging target got %d requests, want 1 (the rest wait behind it)", n)
	}

	if err := chromedp.Do(ctx, chromedp.Click(`button[data-action="probe"]`)); err != nil {
		t.Fatal(err)
	}
	waitText("the refusal", "Re-probe now: refused (401)")

	// The command docs/page.md tells users to type reaches the action with the token (and is told that this
	// config has no probe: a 409 that only an authenticated request gets).
	doc, err := os.ReadFile("../docs/page.md")
	if err != nil {
		t.Fatal(err)
	}
	var curl string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "curl ") {
			curl = line
		}
	}
	if !strings.Contains(curl, "/etc/hairpin/control.token") || !strings.Contains(curl, "192.168.88.1:9469") {
		t.Fatalf("docs/page.md's curl command changed: %q", curl)
	}
	curl = strings.NewReplacer("/etc/hairpin/control.token", token, "192.168.88.1:9469", listen).Replace(curl)
	if got, err := exec.Command("ip", "netns", "exec", topo.Laptop, "sh", "-c", curl).CombinedOutput(); err != nil || !strings.Contains(string(got), "no probe configured (wan.probe)") {
		t.Errorf("%s: %v %s", curl, err, got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitText("the lost daemon", "Lost the daemon")
	poll.Wait(t, "stopped, at the plain target", func() bool { return plain.got("daemon", "stopped") })
	if n := onlyDNS.count(); n != 0 {
		t.Errorf("the target filtering for dns_failed got %d messages; the plain one got started, wan_address and stopped", n)
	}
}
