package namecheap_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/namecheap"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

const password = "7a0354e9ae547b9d30ab0ea4ff0a30f7"

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
)

// answer is an interface-response as Namecheap sends it (the utf-16 declaration over plain ASCII included).
func answer(ip string, errs ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="utf-16"?>`+"\r\n<interface-response>\r\n  <Command>SETDNSHOST</Command>\r\n  <Language>eng</Language>\r\n")
	if ip != "" {
		fmt.Fprintf(&b, "  <IP>%s</IP>\r\n", ip)
	}
	fmt.Fprintf(&b, "  <ErrCount>%d</ErrCount>\r\n", len(errs))
	if len(errs) == 0 {
		b.WriteString("  <errors />\r\n  <ResponseCount>0</ResponseCount>\r\n  <responses />\r\n")
	} else {
		b.WriteString("  <errors>\r\n")
		for i, e := range errs {
			fmt.Fprintf(&b, "    <Err%d>%s</Err%d>\r\n", i+1, e, i+1)
		}
		fmt.Fprintf(&b, "  </errors>\r\n  <ResponseCount>1</ResponseCount>\r\n  <responses>\r\n    <response>\r\n      <Description>%s</Description>\r\n"+
			"      <ResponseNumber>304156</ResponseNumber>\r\n      <ResponseString>Validation error</ResponseString>\r\n    </response>\r\n  </responses>\r\n", errs[0])
	}
	b.WriteString("  <Done>true</Done>\r\n  <debug><![CDATA[]]></debug>\r\n</interface-response>")
	return []byte(b.String())
}

type fake struct {
	srv   *spectest.Server
	store *spectest.Store
	bad   atomic.Bool
}

// newFake serves testdata/namecheap.docs.json, written by hand from Namecheap's knowledge base, for the domain
// example.net. A request the page does not describe (another method or path, a parameter missing or unknown)
// is refused with 400; the service's own refusals are HTTP 200 with ErrCount 1, as Namecheap sends them.
func newFake(t *testing.T) *fake {
	spec, err := spectest.Load("testdata/namecheap.docs.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{store: spectest.NewStore("example.net"), srv: spectest.New(t, spec)}
	f.srv.Refusal = func(status int, msg string) any { return []byte(http.StatusText(status)) }
	f.srv.Handle = func(r *spectest.Request) spectest.Reply {
		q := r.Query
		xml := func(b []byte) spectest.Reply { return spectest.Reply{Status: 200, Body: b} }
		if f.bad.Load() || q.Get("password") != password {
			return xml(answer("", "Passwords do not match"))
		}
		if q.Get("domain") != "example.net" {
			return xml(answer("", "Domain name not found"))
		}
		name := "example.net"
		if h := q.Get("host"); h != "@" {
			name = h + ".example.net"
		}
		ip := q.Get("ip")
		if ip == "" {
			ip = "192.0.2.99" // the caller's address, as Namecheap takes it
		}
		have := f.store.List("example.net", name, "A")
		if len(have) == 0 {
			return xml(answer("", "No Records updated. A record not Found;"))
		}
		f.store.Update("example.net", have[0].ID, func(x *spectest.Rec) { x.Content = ip })
		return xml(answer(ip))
	}
	return f
}

func (f *fake) entry(t *testing.T, hostname string) provider.Entry {
	return provider.Entry{Provider: "namecheap", Hostname: hostname, Settings: &namecheap.Settings{
		Endpoint: f.srv.Endpoint(), PasswordFile: ddnstest.WriteSecret(t, password)}}
}

func (f *fake) engine(t *testing.T, hostname string, clock ddns.Clock) *ddns.Engine {
	t.Helper()
	opts := []ddns.Option{ddns.WithHTTPClient(webtest.ClientOf(f.srv))}
	if clock != nil {
		opts = append(opts, ddns.WithClock(clock))
	}
	e, err := ddns.New([]provider.Entry{f.entry(t, hostname)}, t.TempDir(), ddnstest.UserAgent, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// seed holds the host's "A + Dynamic DNS Record" (which the update needs) and records the update must keep.
func (f *fake) seed() []string {
	f.store.Add("example.net", "home.example.net", "A", "127.0.0.1", 300)
	f.store.Add("example.net", "home.example.net", "TXT", "\"keep me\"", 300)
	f.store.Add("example.net", "nas.example.net", "A", "192.0.2.7", 300)
	return slices.DeleteFunc(f.store.Dump("example.net"), func(s string) bool { return strings.Contains(s, "127.0.0.1") })
}

func (f *fake) a(name string) []string {
	var out []string
	for _, r := range f.store.List("example.net", name, "A") {
		out = append(out, r.Content)
	}
	return out
}

func (f *fake) noRefusals(t *testing.T) {
	t.Helper()
	if r := f.srv.Refusals(); len(r) > 0 {
		t.Errorf("the provider sent requests the documentation does not describe: %q", r)
	}
}

func TestNamecheap(t *testing.T) {
	t.Parallel()
	t.Run("first update, address change, other records kept", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		before := f.seed()
		e := f.engine(t, "home.example.net", nil)
		for _, a := range []netip.Addr{addrA, addrB} {
			e.SetAddress(a)
			if err := e.Update(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := f.a("home.example.net"); !slices.Equal(got, []string{a.String()}) {
				t.Errorf("A %q, want %s", got, a)
			}
		}
		for _, r := range before {
			if !slices.Contains(f.store.Dump("example.net"), r) {
				t.Errorf("record %q is gone", r)
			}
		}
		f.noRefusals(t)
	})
	t.Run("no change sends nothing", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.seed()
		e := f.engine(t, "home.example.net", nil)
		e.SetAddress(addrA)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.srv.ResetCalls()
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		if c := f.srv.Calls(); len(c) > 0 {
			t.Errorf("an unchanged address sent %q", c)
		}
	})
	t.Run("the apex is host @", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.store.Add("example.net", "example.net", "A", "127.0.0.1", 300)
		e := f.engine(t, "example.net", nil)
		e.SetAddress(addrA)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := f.a("example.net"); !slices.Equal(got, []string{addrA.String()}) {
			t.Errorf("A %q", got)
		}
		f.noRefusals(t)
	})
	t.Run("a record that does not exist yet is held with what to create", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		e := f.engine(t, "new.example.net", nil)
		e.SetAddress(addrA)
		err := e.Update(t.Context())
		if !provider.IsHold(err) || provider.IsAuth(err) || !strings.Contains(err.Error(), "A + Dynamic DNS Record") {
			t.Fatalf("err = %v, want a hold naming the record to add", err)
		}
		f.noRefusals(t)
	})
	t.Run("a domain Namecheap does not know is held with the zone: hint", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		p, err := namecheap.Def.Build(f.entry(t, "home.example.co.uk"), provider.Env{HTTP: webtest.ClientOf(f.srv), Secret: func(string, string) (string, error) { return password, nil }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Update(t.Context(), addrA)
		if !provider.IsHold(err) || !strings.Contains(err.Error(), "zone:") || !strings.Contains(err.Error(), "co.uk") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("auth failure held", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.seed()
		e := f.engine(t, "home.example.net", nil)
		f.bad.Store(true)
		e.SetAddress(addrA)
		if err := e.Update(t.Context()); !provider.IsAuth(err) {
			t.Fatalf("err = %v, want an auth hold", err)
		}
		n := len(f.srv.Calls())
		if err := e.Update(t.Context()); err == nil {
			t.Fatal("a held hostname updated")
		}
		if len(f.srv.Calls()) != n {
			t.Errorf("a held hostname sent again: %q", f.srv.Calls())
		}
	})
	for _, c := range []struct {
		name   string
		status int
		header http.Header
		wait   time.Duration
	}{
		{"rate limit backed off", http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}, time.Hour},
		{"server error retried", http.StatusInternalServerError, nil, provider.ServerTrouble},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.seed()
			var failing atomic.Bool
			failing.Store(true)
			f.srv.Fail = func(*http.Request) (int, http.Header) {
				if failing.Load() {
					return c.status, c.header
				}
				return 0, nil
			}
			clock := ddnstest.NewFakeClock()
			e := f.engine(t, "home.example.net", clock)
			e.SetAddress(addrA)
			err := e.Update(t.Context())
			var pe *provider.Error
			if !errors.As(err, &pe) || !provider.IsRetryLater(err) || pe.RetryAfter < c.wait {
				t.Fatalf("err = %v, want a pause of at least %v", err, c.wait)
			}
			failing.Store(false)
			if err := e.Update(t.Context()); err == nil {
				t.Fatal("updated during the pause")
			}
			clock.Advance(c.wait + time.Minute)
			if err := e.Update(t.Context()); err != nil {
				t.Fatalf("after the pause: %v", err)
			}
			if got := f.a("home.example.net"); !slices.Equal(got, []string{addrA.String()}) {
				t.Errorf("A %q after the retry", got)
			}
		})
	}
	t.Run("an IPv6 address is refused without a request", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		p, err := namecheap.Def.Build(f.entry(t, "home.example.net"), provider.Env{HTTP: webtest.ClientOf(f.srv), Secret: func(string, string) (string, error) { return password, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Update(t.Context(), netip.MustParseAddr("2001:db8::1")); !provider.IsHold(err) || len(f.srv.Calls()) != 0 {
			t.Fatalf("err = %v, calls %q", err, f.srv.Calls())
		}
	})
	// The negative controls: the double refuses what the page does not describe (a positive 400 and a
	// refusal logged), and the service refuses a wrong password in its own way (ErrCount 1).
	t.Run("negative controls", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.seed()
		for _, m := range []struct{ why, method, path string }{
			{"no password", "GET", "/update?host=home&domain=example.net&ip=192.0.2.1"},
			{"no host", "GET", "/update?domain=example.net&password=" + password + "&ip=192.0.2.1"},
			{"an unknown parameter (dyndns2's hostname)", "GET", "/update?hostname=home.example.net&host=home&domain=example.net&password=" + password},
			{"an IPv6 address", "GET", "/update?host=home&domain=example.net&password=" + password + "&ip=2001:db8::1"},
			{"a POST", "POST", "/update?host=home&domain=example.net&password=" + password},
			{"dyndns2's path", "GET", "/nic/update?host=home&domain=example.net&password=" + password},
		} {
			before := len(f.srv.Refusals())
			req, _ := http.NewRequest(m.method, f.srv.URL+m.path, nil)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 || len(f.srv.Refusals()) != before+1 {
				t.Errorf("%s: answered %d", m.why, resp.StatusCode)
			}
		}
		resp, err := f.srv.Client().Get(f.srv.URL + "/update?host=home&domain=example.net&password=wrong&ip=192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "<ErrCount>1</ErrCount>") || !strings.Contains(string(body), "Passwords do not match") {
			t.Errorf("a wrong password got %s", body)
		}
		if got := f.a("home.example.net"); !slices.Equal(got, []string{"127.0.0.1"}) {
			t.Errorf("refused requests changed the record: %q", got)
		}
	})
}
