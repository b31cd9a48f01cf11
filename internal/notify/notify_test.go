package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// got is one request a receiver saw.
type got struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// receiver records requests and answers with status (200 by default); hang makes it wait until the test ends.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []got
	status int
	hang   chan struct{}
}

func newReceiver(t *testing.T, status int, hang bool) *receiver {
	r := &receiver{status: status}
	if hang {
		r.hang = make(chan struct{})
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, got{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
		r.mu.Unlock()
		if r.hang != nil {
			select {
			case <-r.hang:
			case <-req.Context().Done():
			}
			return
		}
		if r.status != 0 {
			w.WriteHeader(r.status)
			_, _ = io.WriteString(w, "refused: "+req.URL.String())
		}
	}))
	t.Cleanup(func() {
		if r.hang != nil {
			close(r.hang)
		}
		r.srv.Close()
	})
	return r
}

func (r *receiver) requests() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.reqs...)
}

func start(t *testing.T, entries []config.Notify, o Options) *Notifier {
	t.Helper()
	if o.Hostname == "" {
		o.Hostname = "router1"
	}
	if o.Settle == 0 {
		o.Settle = -1
	}
	n, err := New(entries, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.Start(ctx)
	t.Cleanup(func() { cancel(); n.Wait() })
	return n
}

var wanEvent = Event{Kind: WANAddress, Message: "WAN address of wan0 changed from [203.0.113.10] to [203.0.113.11]",
	Details: map[string]string{"old": "[203.0.113.10]", "new": "[203.0.113.11]"}}

// Each format as its service documents its webhook: the fields the service requires, of the right type, at the
// path and with the method it takes.
func TestFormatsAsTheServicesDocumentThem(t *testing.T) {
	t.Parallel()
	decode := func(t *testing.T, g got) map[string]any {
		t.Helper()
		if g.Method != http.MethodPost || !strings.HasPrefix(g.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s with Content-Type %q, want a JSON POST", g.Method, g.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.Unmarshal(g.Body, &m); err != nil {
			t.Fatalf("body %q: %v", g.Body, err)
		}
		return m
	}
	str := func(t *testing.T, m map[string]any, k string) string {
		t.Helper()
		s, ok := m[k].(string)
		if !ok || s == "" {
			t.Fatalf("%q = %#v in %v, want a non-empty string", k, m[k], m)
		}
		return s
	}
	for _, tc := range []struct {
		format, path, chat string
		check              func(t *testing.T, g got)
	}{
		{"json", "/hook", "", func(t *testing.T, g got) {
			var m JSONMessage
			if err := json.Unmarshal(g.Body, &m); err != nil {
				t.Fatal(err)
			}
			raw := decode(t, g)
			for _, k := range []string{"event", "time", "hostname", "message", "details"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("generic JSON lacks %q: %s", k, g.Body)
				}
			}
			if m.Event != WANAddress || m.Hostname != "router1" || m.Time.IsZero() || m.Details["new"] != "[203.0.113.11]" {
				t.Errorf("generic JSON = %+v", m)
			}
		}},
		// ntfy: POST to the topic URL, the message as the body, title and priority as headers.
		{"ntfy", "/hairpin-alerts", "", func(t *testing.T, g got) {
			if g.Method != http.MethodPost || !strings.Contains(string(g.Body), "203.0.113.11") {
				t.Errorf("ntfy got %s %q", g.Method, g.Body)
			}
			if g.Header.Get("Title") == "" || !strings.Contains("min low default high urgent 1 2 3 4 5", g.Header.Get("Priority")) {
				t.Errorf("ntfy headers %v", g.Header)
			}
		}},
		// gotify: POST /message?token=APPTOKEN with message (required), title and an integer priority.
		{"gotify", "/message", "", func(t *testing.T, g got) {
			m := decode(t, g)
			str(t, m, "message")
			str(t, m, "title")
			if p, ok := m["priority"].(float64); !ok || p != float64(int(p)) {
				t.Errorf("gotify priority = %#v, want an integer", m["priority"])
			}
			if !strings.Contains(g.Query, "token=") {
				t.Errorf("gotify query %q lost the app token", g.Query)
			}
		}},
		// Discord: content of at most 2,000 characters; no mention is parsed.
		{"discord", "/api/webhooks/123456789/abcdefghijklmnop", "", func(t *testing.T, g got) {
			m := decode(t, g)
			if c := str(t, m, "content"); len([]rune(c)) > 2000 {
				t.Errorf("discord content is %d characters", len([]rune(c)))
			}
			am, _ := m["allowed_mentions"].(map[string]any)
			if p, ok := am["parse"].([]any); !ok || len(p) != 0 {
				t.Errorf("discord allowed_mentions = %#v, want parse: []", m["allowed_mentions"])
			}
		}},
		{"slack", "/services/T000/B000/XXXXXXXXXXXXXXXX", "", func(t *testing.T, g got) { str(t, decode(t, g), "text") }},
		// Telegram: POST /bot<token>/sendMessage with chat_id and text.
		{"telegram", "/bot123456:ABCDEFGHIJKLMNOP/sendMessage", "-1001234567890", func(t *testing.T, g got) {
			m := decode(t, g)
			if str(t, m, "chat_id") != "-1001234567890" || !strings.Contains(str(t, m, "text"), "203.0.113.11") {
				t.Errorf("telegram body %s", g.Body)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t, 0, false)
			u := r.srv.URL + tc.path
			if tc.format == "gotify" {
				u += "?token=AbCdEfGhIjKl"
			}
			n := start(t, []config.Notify{{URL: u, Format: tc.format, ChatID: tc.chat}}, Options{})
			n.Send(wanEvent)
			poll.Wait(t, tc.format+" receiver got a message", func() bool { return len(r.requests()) == 1 })
			g := r.requests()[0]
			if g.Path != tc.path {
				t.Errorf("path %q, want %q", g.Path, tc.path)
			}
			tc.check(t, g)
		})
	}
}

// healthchecks is pinged while all is well and told /fail with the reason when something is red; an Uptime Kuma
// push URL gets status=up or status=down.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	hc := newReceiver(t, 0, false)
	kuma := newReceiver(t, 0, false)
	n := start(t, []config.Notify{{URL: hc.srv.URL + "/ping/uuid-1", Format: "healthchecks"}, {URL: kuma.srv.URL + "/api/push/PUSHTOKEN1", Format: "healthchecks"}},
		Options{Window: time.Millisecond})
	n.Send(wanEvent) // events are not for heartbeat targets
	n.Heartbeat(false, "")
	poll.Wait(t, "healthy pings", func() bool { return len(hc.requests()) == 1 && len(kuma.requests()) == 1 })
	n.Heartbeat(true, "no answer from the internet: web (timeout)")
	poll.Wait(t, "red pings", func() bool { return len(hc.requests()) == 2 && len(kuma.requests()) == 2 })
	h, k := hc.requests(), kuma.requests()
	if h[0].Method != http.MethodGet || h[0].Path != "/ping/uuid-1" {
		t.Errorf("healthy ping %s %s, want GET /ping/uuid-1", h[0].Method, h[0].Path)
	}
	if h[1].Method != http.MethodPost || h[1].Path != "/ping/uuid-1/fail" || !strings.Contains(string(h[1].Body), "web (timeout)") {
		t.Errorf("red ping %s %s %q, want POST /ping/uuid-1/fail with the reason", h[1].Method, h[1].Path, h[1].Body)
	}
	if !strings.Contains(k[0].Query, "status=up") || !strings.Contains(k[1].Query, "status=down") || !strings.Contains(k[1].Query, "msg=no+answer") {
		t.Errorf("kuma queries %q, %q", k[0].Query, k[1].Query)
	}
}

// A receiver that hangs and one that answers 500 delay neither the caller nor the other targets; the 500 is
// retried with backoff and then counted as failed, with the URL's token nowhere in status or the log.
func TestSlowAndFailingReceiversDelayNothingElse(t *testing.T) {
	t.Parallel()
	hang := newReceiver(t, 0, true)
	fail := newReceiver(t, 500, false)
	good := newReceiver(t, 0, false)
	var logBuf syncBuffer
	n := start(t, []config.Notify{{URL: hang.srv.URL + "/hook"}, {URL: fail.srv.URL + "/bot999:SECRETTOKENVALUE/sendMessage", Format: "telegram", ChatID: "1"},
		{URL: good.srv.URL + "/hook"}},
		Options{Retries: 2, Backoff: 5 * time.Millisecond, Timeout: time.Minute, Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	n.Send(wanEvent)
	poll.Wait(t, "the hanging receiver holds the first message", func() bool { return len(hang.requests()) == 1 })
	n.Send(Event{Kind: DNSFailed, Subject: "home.example.org", Message: "home.example.org: update failed", Severe: true})
	poll.Wait(t, "the good receiver got both messages while the other hangs", func() bool { return n.Status()[2].Sent == 2 })
	poll.Wait(t, "the failing receiver was tried 3 times per message", func() bool {
		st := n.Status()
		return st[1].Failed == 2 && len(fail.requests()) == 6
	})
	st := n.Status()
	if st[2].Sent != 2 || st[0].Sent != 0 {
		t.Errorf("status %+v", st)
	}
	b, _ := json.Marshal(st)
	for _, text := range []string{string(b), logBuf.String()} {
		if strings.Contains(text, "SECRETTOKENVALUE") || strings.Contains(text, "/bot999") {
			t.Errorf("the token leaked: %s", text)
		}
	}
	if !strings.Contains(st[1].LastError, "500") {
		t.Errorf("last error %q, want the 500", st[1].LastError)
	}
}

// A flapping WAN sends one message at once and one more at the end of the window that says how many changes
// it sums up; then nothing is pending. Other subjects are not held back by it.
func TestBurstsCoalesce(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 0, false)
	n := start(t, []config.Notify{{URL: r.srv.URL}}, Options{Window: 300 * time.Millisecond})
	for i := range 20 {
		ev := wanEvent
		ev.Message = "change " + string(rune('a'+i))
		n.Send(ev)
		if i == 0 {
			poll.Wait(t, "the first change at once", func() bool { return len(r.requests()) == 1 })
		}
	}
	n.Send(Event{Kind: ForwardDown, Subject: "web", Message: "web down"})
	poll.Wait(t, "three messages", func() bool { return n.Status()[0].Sent == 3 })
	var msgs []JSONMessage
	for _, g := range r.requests() {
		var m JSONMessage
		_ = json.Unmarshal(g.Body, &m)
		msgs = append(msgs, m)
	}
	if msgs[0].Message != "change a" || msgs[1].Event != ForwardDown || !strings.HasPrefix(msgs[2].Message, "change t (the latest of 19 changes") || msgs[2].Details["changes"] != "19" {
		t.Errorf("messages %+v", msgs)
	}
	n.targets[0].mu.Lock()
	pending := len(n.targets[0].pending)
	n.targets[0].mu.Unlock()
	if pending != 0 || n.Status()[0].Sent != 3 {
		t.Errorf("pending %d, sent %d after the burst; want 0 and 3", pending, n.Status()[0].Sent)
	}
}

// An entry's events filter what it gets: the negative control is the same target receiving the event it wants.
func TestEventsFilter(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 0, false)
	n := start(t, []config.Notify{{URL: r.srv.URL, Events: []string{DNSFailed}}}, Options{})
	n.Send(wanEvent)
	n.Send(Event{Kind: DNSFailed, Subject: "home.example.org", Message: "held"})
	poll.Wait(t, "the wanted event", func() bool { return n.Status()[0].Sent == 1 })
	var m JSONMessage
	_ = json.Unmarshal(r.requests()[0].Body, &m)
	if m.Event != DNSFailed || n.Status()[0].Sent != 1 {
		t.Errorf("first message %+v, sent %d: want only dns_failed", m, n.Status()[0].Sent)
	}
}

// URLs from a file and the environment are checked like inline ones; a bad one is refused with its entry's
// line and never echoed.
func TestURLSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hook.url")
	if err := os.WriteFile(file, []byte("http://198.51.100.7/hook/TOKENTOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HAIRPIN_TEST_HOOK", "https://hooks.example.net/x")
	_, err := New([]config.Notify{{URLFile: file, ConfigDir: dir, Line: 7}, {URLEnv: "HAIRPIN_TEST_HOOK", Line: 9}, {URLEnv: "HAIRPIN_TEST_UNSET", Line: 11}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "line 7: plain http goes only to a loopback or LAN address") || !strings.Contains(err.Error(), "line 11: environment variable HAIRPIN_TEST_UNSET") ||
		strings.Contains(err.Error(), "line 9") || strings.Contains(err.Error(), "TOKENTOKEN") {
		t.Errorf("New = %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A WAN change is usually two: the old address goes, then the new one comes. Within Settle they are one
// message, which says the state before the first and after the last; a daemon that stops sends what is pending
// without waiting for it to settle.
func TestBurstSettles(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 0, false)
	n := start(t, []config.Notify{{URL: r.srv.URL}}, Options{Settle: 200 * time.Millisecond, StopWait: 5 * time.Second})
	n.Send(Event{Kind: WANAddress, Message: "WAN address of wan0 is now none", From: "[203.0.113.10]"})
	n.Send(Event{Kind: WANAddress, Message: "WAN address of wan0 is now [203.0.113.11]", From: "none"})
	poll.Wait(t, "one message", func() bool { return n.Status()[0].Sent == 1 })
	var m JSONMessage
	_ = json.Unmarshal(r.requests()[0].Body, &m)
	if !strings.HasPrefix(m.Message, "WAN address of wan0 is now [203.0.113.11] (was [203.0.113.10]) (the latest of 2 changes") || m.Details["previous"] != "[203.0.113.10]" {
		t.Errorf("message %+v", m)
	}
	n.Send(Event{Kind: Daemon, Subject: "stopped", Message: "hairpin stopped"})
	n.Flush()
	if n.Status()[0].Sent != 2 {
		t.Errorf("after Flush: %d sent, want the stop message too", n.Status()[0].Sent)
	}
}
