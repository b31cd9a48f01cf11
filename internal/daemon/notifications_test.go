package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/notify"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// hookServer records the generic JSON messages it gets; with hang it holds every request until the test ends.
type hookServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []notify.JSONMessage
}

func newHook(t *testing.T, hang bool) *hookServer {
	h := &hookServer{}
	release := make(chan struct{})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m notify.JSONMessage
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
		if hang {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(func() { close(release); h.srv.Close() })
	return h
}

func (h *hookServer) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.msgs {
		out = append(out, m.Event+":"+m.Message)
	}
	return out
}

func (h *hookServer) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.msgs {
		out = append(out, m.Event)
	}
	return out
}

// The daemon tells the notify targets what happened: a target that hangs holds its own messages only, the WAN
// change is applied and reaches the other targets meanwhile, and a target filtering events gets only its own.
func TestDaemonNotifies(t *testing.T) {
	hang, all, onlyDNS := newHook(t, true), newHook(t, false), newHook(t, false)
	cfg := baseConfig + fmt.Sprintf("notify:\n  - {url: %s}\n  - {url: %s}\n  - {url: %s, events: [dns_failed]}\n", hang.srv.URL, all.srv.URL, onlyDNS.srv.URL)
	be := &backend.Fake{}
	h := startWithDeps(t, cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be, func(d *Deps) {
		d.NotifyOptions = notify.Options{Timeout: time.Minute, Window: time.Minute, Settle: 10 * time.Millisecond, StopWait: 50 * time.Millisecond}
	})
	h.be = be
	poll.Wait(t, "started, at both the hanging and the plain target", func() bool {
		return slices.Equal(all.kinds(), []string{"daemon"}) && len(hang.kinds()) == 1
	})
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN change applied while a target hangs", func() bool { return len(h.be.Calls()) == 2 })
	poll.Wait(t, "the WAN change notified", func() bool { return len(all.kinds()) == 2 })
	if got := all.events()[1]; got != "wan_address:WAN address of wan0 is now [203.0.113.11] (was [203.0.113.10])" {
		t.Errorf("message %q", got)
	}
	h.d.ddnsResult(ddns.Result{Hostname: "home.duckdns.org", Provider: "duckdns", Address: wan2, Error: "KO", NextRetry: time.Now().Add(time.Minute)})
	poll.Wait(t, "dns_failed at the filtering target", func() bool { return len(onlyDNS.kinds()) == 1 })
	// The negative control: the filtering target got the one event it wants, and none of the others the plain
	// target got before it.
	if got := onlyDNS.kinds(); !slices.Equal(got, []string{"dns_failed"}) {
		t.Errorf("filtering target got %v, want only dns_failed", got)
	}
	if got := len(hang.kinds()); got != 1 {
		t.Errorf("hanging target got %d requests, want 1 (the rest wait behind it)", got)
	}
	poll.Wait(t, "status counts the messages sent", func() bool {
		st := h.d.Status(t.Context())
		return len(st.Notify) == 3 && st.Notify[1].Sent == 3 && st.Notify[2].Sent == 1 && st.Notify[0].Sent == 0
	})
}

// A reload that replaces the notify: list first sends what the old targets still held (here a WAN change
// waiting for its burst to settle), without holding up the reload.
func TestReloadSendsPendingNotifications(t *testing.T) {
	hook := newHook(t, false)
	be := &backend.Fake{}
	h := startWithDeps(t, baseConfig+fmt.Sprintf("notify:\n  - {url: %s, events: [wan_address]}\n", hook.srv.URL),
		plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan1}, LANNets: []netip.Prefix{lan}}, netip.Addr{}, be, func(d *Deps) {
			d.NotifyOptions = notify.Options{Settle: time.Hour, StopWait: 5 * time.Second}
		})
	h.obs <- plan.Observed{WANExists: true, WANAddrs: []netip.Addr{wan2}, LANNets: []netip.Prefix{lan}}
	poll.Wait(t, "the WAN change applied", func() bool { return len(be.Calls()) == 2 })
	if n := len(hook.kinds()); n != 0 {
		t.Fatalf("%d messages before the burst settled", n)
	}
	cfg := mustConfig(t, baseConfig)
	h.load = func() (*config.Config, error) { return cfg, nil }
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll.Wait(t, "the pending message sent after the reload", func() bool { return slices.Equal(hook.kinds(), []string{"wan_address"}) })
	if st := h.d.Status(context.Background()); len(st.Notify) != 0 {
		t.Errorf("status still lists %d notify targets after the reload removed them", len(st.Notify))
	}
}
