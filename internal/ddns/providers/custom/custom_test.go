package custom_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	_ "github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// receiver records what arrives and answers with status and body.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []string // "METHOD URI | header | body"
	status int
	body   string
	header http.Header
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200, body: "good"}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		u, p, _ := req.BasicAuth()
		r.mu.Lock()
		r.got = append(r.got, req.Method+" "+req.URL.RequestURI()+" | "+req.Header.Get("X-Key")+" "+u+":"+p+" | "+string(b))
		status, body, h := r.status, r.body, r.header
		r.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func engine(t *testing.T, r *receiver, entry string) *ddns.Engine {
	t.Helper()
	text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - " + strings.ReplaceAll(strings.TrimSpace(entry), "\n", "\n    ") + "\n"
	text = strings.ReplaceAll(text, "RECEIVER", r.URL)
	cfg, err := config.Parse("hairpin.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ddns.New(cfg.DDNS, t.TempDir(), ddnstest.UserAgent, nil, ddns.WithHTTPClient(webtest.ClientOf(r)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var (
	v4  = netip.MustParseAddr("203.0.113.10")
	v4b = netip.MustParseAddr("203.0.113.11")
	v6  = netip.MustParseAddr("2001:db8::10")
)

func TestCustom(t *testing.T) {
	t.Setenv("HAIRPIN_TEST_CUSTOM_TOKEN", "t0ken")
	t.Run("GET with the address in the query, then nothing while it holds", func(t *testing.T) {
		r := newReceiver(t)
		e := engine(t, r, `provider: custom
hostname: home.example.net
url: RECEIVER/update?host={hostname}&ip={ip}&key={token}
token_env: HAIRPIN_TEST_CUSTOM_TOKEN
success_regexp: ^good`)
		e.SetAddress(v4)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.SetAddress(v4b)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := []string{"GET /update?host=home.example.net&ip=203.0.113.10&key=t0ken |  : | ", "GET /update?host=home.example.net&ip=203.0.113.11&key=t0ken |  : | "}
		if got := r.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("POST with headers, basic auth and both families in one request", func(t *testing.T) {
		r := newReceiver(t)
		r.body = `{"status":"ok"}`
		pw := ddnstest.WriteSecret(t, "pa55")
		e := engine(t, r, `provider: custom
hostname: home.example.net
family: both
method: POST
url: RECEIVER/records
headers:
  X-Key: "{token}"
  Content-Type: application/json
body: '{"name":"{hostname}","a":"{ip}","aaaa":"{ip6}"}'
username: me
password_file: `+pw+`
token_env: HAIRPIN_TEST_CUSTOM_TOKEN
success_status: 200
success_regexp: '"ok"'`)
		e.SetAddress(v4)
		e.SetAddress6(v6)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := `POST /records | t0ken me:pa55 | {"name":"home.example.net","a":"203.0.113.10","aaaa":"2001:db8::10"}`
		if got := r.requests(); len(got) != 1 || got[0] != want {
			t.Errorf("requests %q, want [%q]", got, want)
		}
	})
	for _, c := range []struct {
		name   string
		status int
		body   string
		header http.Header
		check  func(error) bool
	}{
		{"401 holds", 401, "", nil, provider.IsAuth},
		{"404 holds", 404, "no such host", nil, provider.IsHold},
		{"429 pauses for Retry-After", 429, "", http.Header{"Retry-After": {"7200"}}, func(err error) bool {
			var pe *provider.Error
			return errors.As(err, &pe) && pe.RetryAfter.Hours() == 2
		}},
		{"503 pauses", 503, "", nil, provider.IsRetryLater},
		{"a 200 that does not match pauses", 200, "badauth", nil, provider.IsRetryLater},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReceiver(t)
			r.status, r.body, r.header = c.status, c.body, c.header
			e := engine(t, r, `provider: custom
hostname: home.example.net
url: RECEIVER/update?ip={ip}
success_regexp: ^good`)
			e.SetAddress(v4)
			err := e.Update(t.Context())
			if !c.check(err) {
				t.Fatalf("err = %v", err)
			}
			// Held or paused: a second update sends nothing.
			_ = e.Update(t.Context())
			if n := len(r.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// Config errors, each with its line: plain http to another host (the control: http to loopback is fine), an
// unknown placeholder, a body on GET, {token} without a token.
func TestCustomConfig(t *testing.T) {
	t.Parallel()
	for entry, want := range map[string]string{
		"url: http://dyn.example.net/u?ip={ip}":                   "plain http to dyn.example.net",
		"url: https://dyn.example.net/u?ip={addr}":                "{addr} is not a placeholder",
		"url: https://dyn.example.net/u\n    body: 'ip={ip}'":     "a GET request carries no body",
		"url: https://dyn.example.net/u?ip={ip}&key={token}":      "no token is given",
		"url: http://127.0.0.1:8080/u?ip={ip}":                    "",
		"url: https://dyn.example.net/u\n    headers: [a, b]":     "expected a mapping",
		"url: https://dyn.example.net/u\n    success_regexp: '('": "missing closing )",
	} {
		text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - provider: custom\n    hostname: home.example.net\n    " + entry + "\n"
		_, err := config.Parse("hairpin.yaml", []byte(text))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", entry, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "hairpin.yaml:")):
			t.Errorf("%s: %v, want %q with its line", entry, err, want)
		}
	}
}
