package spectest

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// Fake is one provider's fake for the conformance tests: a spec Server over a Store.
type Fake struct {
	Server *Server
	Store  *Store
	Zone   string
	// Entry is the config entry of hostname (family "", "ipv6" or "both") pointing at the Server.
	Entry func(t *testing.T, hostname, family string) provider.Entry
	// BadCredentials makes the fake refuse the credentials the entry carries from now on.
	BadCredentials func()
	// Malformed are requests the spec does not allow, one per kind of mistake, each with the header that
	// authenticates it where the mistake is elsewhere.
	Malformed []Malformed
	// AAAA says the provider publishes IPv6 addresses.
	AAAA bool
	// Settle, when set, runs after each update before the store is read (asynchronous changes).
	Settle func(t *testing.T)
}

// Malformed is a request the fake must refuse.
type Malformed struct {
	Why, Method, Path, Body string
	Header                  http.Header
	// Sign, when set, authenticates the request the way the provider does (a signature over it).
	Sign func(req *http.Request, body []byte)
}

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
	addr6 = netip.MustParseAddr("2001:db8::10")
)

// Conformance runs the tests every API provider must pass against its fake: first update (the record does not
// exist yet), no change (nothing sent when hairpin's state suffices, no write after a read when it does not),
// address change, IPv6, other records kept, auth failure held, rate limit and server errors paused then
// retried, and the fake's refusal of each malformed request (the negative controls).
func Conformance(t *testing.T, newFake func(t *testing.T) *Fake) {
	host := func(f *Fake) string { return "home." + f.Zone }
	seed := func(f *Fake) []string {
		f.Store.Add(f.Zone, "home."+f.Zone, "TXT", "\"keep me\"", 300)
		f.Store.Add(f.Zone, "nas."+f.Zone, "A", "192.0.2.7", 300)
		f.Store.Add(f.Zone, "home."+f.Zone, "MX", "10 mail."+f.Zone, 300)
		return f.Store.Dump(f.Zone)
	}
	engine := func(t *testing.T, f *Fake, family string, clock ddns.Clock) *ddns.Engine {
		t.Helper()
		opts := []ddns.Option{ddns.WithHTTPClient(webtest.ClientOf(f.Server))}
		if clock != nil {
			opts = append(opts, ddns.WithClock(clock))
		}
		e, err := ddns.New([]provider.Entry{f.Entry(t, host(f), family)}, t.TempDir(), ddnstest.UserAgent, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	update := func(t *testing.T, f *Fake, e *ddns.Engine) error {
		t.Helper()
		err := e.Update(t.Context())
		if f.Settle != nil {
			f.Settle(t)
		}
		return err
	}
	// published is an engine that has put addrA in the record.
	published := func(t *testing.T, f *Fake) *ddns.Engine {
		t.Helper()
		e := engine(t, f, "", nil)
		e.SetAddress(addrA)
		if err := update(t, f, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	records := func(f *Fake, typ string) []string {
		var out []string
		for _, r := range f.Store.List(f.Zone, host(f), typ) {
			out = append(out, r.Content)
		}
		return out
	}
	noRefusals := func(t *testing.T, f *Fake) {
		t.Helper()
		if r := f.Server.Refusals(); len(r) > 0 {
			t.Errorf("the provider sent requests the spec does not allow: %q", r)
		}
	}
	kept := func(t *testing.T, f *Fake, before []string) {
		t.Helper()
		now := f.Store.Dump(f.Zone)
		for _, r := range before {
			if !slices.Contains(now, r) {
				t.Errorf("record %q is gone; the zone now holds %q", r, now)
			}
		}
	}

	t.Run("first update, other records kept", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		before := seed(f)
		published(t, f)
		if got := records(f, "A"); !slices.Equal(got, []string{addrA.String()}) {
			t.Errorf("A records %q, want %s", got, addrA)
		}
		kept(t, f, before)
		noRefusals(t, f)
	})
	t.Run("no change", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		e := published(t, f)
		f.Server.ResetCalls()
		if err := update(t, f, e); err != nil {
			t.Fatal(err)
		}
		if c := f.Server.Calls(); len(c) > 0 {
			t.Errorf("an unchanged address sent %q", c)
		}
		// A fresh state that does not know the record is right reads it and writes nothing.
		e2 := engine(t, f, "", nil)
		e2.SetAddress(addrA)
		if err := e2.ForceUpdate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := f.Server.Writes(); n != 0 {
			t.Errorf("a record already right got %d writes: %q", n, f.Server.Calls())
		}
		noRefusals(t, f)
	})
	t.Run("address change", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		before := seed(f)
		e := published(t, f)
		e.SetAddress(addrB)
		if err := update(t, f, e); err != nil {
			t.Fatal(err)
		}
		if got := records(f, "A"); !slices.Equal(got, []string{addrB.String()}) {
			t.Errorf("A records %q, want %s", got, addrB)
		}
		kept(t, f, before)
		noRefusals(t, f)
	})
	if f := newFake(t); f.AAAA {
		t.Run("IPv6", func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			before := seed(f)
			e := engine(t, f, "both", nil)
			e.SetAddress(addrA)
			e.SetAddress6(addr6)
			if err := update(t, f, e); err != nil {
				t.Fatal(err)
			}
			if a, aaaa := records(f, "A"), records(f, "AAAA"); !slices.Equal(a, []string{addrA.String()}) || !slices.Equal(aaaa, []string{addr6.String()}) {
				t.Errorf("A %q AAAA %q", a, aaaa)
			}
			kept(t, f, before)
			noRefusals(t, f)
		})
	}
	t.Run("auth failure held", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		e := engine(t, f, "", nil)
		f.BadCredentials()
		e.SetAddress(addrA)
		if err := update(t, f, e); !provider.IsAuth(err) {
			t.Fatalf("err = %v, want an auth hold", err)
		}
		n := len(f.Server.Calls())
		if err := update(t, f, e); err == nil {
			t.Fatal("a held hostname updated")
		}
		if len(f.Server.Calls()) != n {
			t.Errorf("a held hostname sent again: %q", f.Server.Calls())
		}
	})
	for _, c := range []struct {
		name   string
		status int
		header func() http.Header
		wait   time.Duration
	}{
		{"rate limit backed off", http.StatusTooManyRequests, func() http.Header { return http.Header{"Retry-After": {"3600"}} }, time.Hour},
		// The reset header DigitalOcean, Hetzner and Linode send: a Unix time two hours ahead.
		{"rate limit reset header honoured", http.StatusTooManyRequests, func() http.Header {
			return http.Header{"Ratelimit-Reset": {strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)}}
		}, 2*time.Hour - time.Minute},
		{"server error retried", http.StatusInternalServerError, func() http.Header { return nil }, provider.ServerTrouble},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			var failing atomic.Bool
			failing.Store(true)
			var failed atomic.Int32
			f.Server.Fail = func(*http.Request) (int, http.Header) {
				if failing.Load() {
					failed.Add(1)
					return c.status, c.header()
				}
				return 0, nil
			}
			clock := ddnstest.NewFakeClock()
			e := engine(t, f, "", clock)
			e.SetAddress(addrA)
			err := update(t, f, e)
			var pe *provider.Error
			if !errors.As(err, &pe) || !provider.IsRetryLater(err) || pe.RetryAfter < c.wait {
				t.Fatalf("err = %v, want a pause of at least %v", err, c.wait)
			}
			failing.Store(false)
			if err := update(t, f, e); err == nil || failed.Load() != 1 {
				t.Fatalf("during the pause: err %v, %d failed requests (want a refusal to send and 1)", err, failed.Load())
			}
			clock.Advance(c.wait + time.Minute)
			if err := update(t, f, e); err != nil {
				t.Fatalf("after the pause: %v", err)
			}
			if got := records(f, "A"); !slices.Equal(got, []string{addrA.String()}) {
				t.Errorf("A records %q after the retry", got)
			}
		})
	}
	t.Run("negative controls: the fake refuses malformed requests", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		if len(f.Malformed) == 0 {
			t.Fatal("no malformed requests to prove the fake strict")
		}
		for _, m := range f.Malformed {
			before := len(f.Server.Refusals())
			req, err := http.NewRequest(m.Method, f.Server.URL+m.Path, strings.NewReader(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range m.Header {
				req.Header[k] = v
			}
			if m.Sign != nil {
				m.Sign(req, []byte(m.Body))
			}
			resp, err := f.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || len(f.Server.Refusals()) != before+1 {
				t.Errorf("%s: answered %d %s, refusals %q", m.Why, resp.StatusCode, body, f.Server.Refusals())
			}
		}
	})
}

// TokenEntry is a Fake's Entry for a provider declared with provider.DefineToken: the Server as its endpoint,
// token in a file, and ttl.
func (s *Server) TokenEntry(name, token string, ttl int) func(t *testing.T, hostname, family string) provider.Entry {
	return func(t *testing.T, hostname, family string) provider.Entry {
		return provider.Entry{Provider: name, Hostname: hostname, Family: family, Settings: &provider.TokenSettings{
			Endpoint: s.Endpoint(), TokenFile: ddnstest.WriteSecret(t, token), TTL: ttl}}
	}
}

// Build makes def's provider for hostname (family IPv4) straight against the fake, without the engine: the
// tests that call Update step by step. Every secret it reads is secret.
func (f *Fake) Build(t *testing.T, def provider.Def, hostname, secret string) provider.Provider {
	t.Helper()
	p, err := def.Build(f.Entry(t, hostname, ""), provider.Env{HTTP: webtest.ClientOf(f.Server),
		Secret: func(string, string) (string, error) { return secret, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
