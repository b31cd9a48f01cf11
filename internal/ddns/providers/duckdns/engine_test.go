package duckdns_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/duckdns"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// duckServer follows the DuckDNS spec (https://www.duckdns.org/spec.jsp): GET
// /update?domains={subdomains}&token={token}[&ip={address}][&ipv6={address}] answers the plain text OK, or KO
// when the token or a domain is wrong. It keeps the A and AAAA record as the spec describes them: ip may hold
// either family; a blank ip is the caller's IPv4 address unless ipv6 is given; only clear=true clears.
type duckServer struct {
	*httptest.Server
	token, domain string

	mu      sync.Mutex
	ips     []string // the ip parameter of every accepted update
	queries []string // ip=...&ipv6=... of every accepted update
	uas     []string
	a, aaaa string
}

func newDuckServer(t *testing.T, token, domain string) *duckServer {
	s := &duckServer{token: token, domain: domain}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.uas = append(s.uas, r.UserAgent())
		if r.URL.Path != "/update" || q.Get("token") != s.token || q.Get("domains") != s.domain {
			fmt.Fprint(w, "KO")
			return
		}
		s.ips = append(s.ips, q.Get("ip"))
		s.queries = append(s.queries, "ip="+q.Get("ip")+"&ipv6="+q.Get("ipv6"))
		ip, v6 := q.Get("ip"), q.Get("ipv6")
		if q.Get("clear") == "true" {
			s.a, s.aaaa = "", ""
			fmt.Fprint(w, "OK")
			return
		}
		if ip == "" && v6 == "" {
			host, _, _ := strings.Cut(r.RemoteAddr, ":")
			ip = host
		}
		for _, v := range []string{ip, v6} {
			if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
				s.a = v
			} else if err == nil {
				s.aaaa = v
			} else if v != "" {
				fmt.Fprint(w, "KO")
				return
			}
		}
		fmt.Fprint(w, "OK")
	}))
	t.Cleanup(s.Close)
	return s
}

const duckToken = "a7c4d0ad-114e-40ef-ba1d-d217904a50f2"

func newDuckEngine(t *testing.T, srv *duckServer, server, token, hostname string) (*ddns.Engine, *ddnstest.LogBuf) {
	t.Helper()
	logger, lb := ddnstest.NewLogger(t)
	entry := provider.Entry{Provider: "duckdns", Hostname: hostname, Settings: &duckdns.Settings{Server: server, TokenFile: ddnstest.WriteSecret(t, token)}}
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, logger, ddns.WithHTTPClient(webtest.ClientOf(srv)), ddns.WithClock(ddnstest.NewFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddnstest.AssertNoSecret(t, lb, e, token) })
	return e, lb
}

func TestDuckDNS(t *testing.T) {
	cases := []struct {
		name, token, hostname string
		ok                    bool
	}{
		{"full name", duckToken, "myhome.duckdns.org", true},
		{"bare subdomain", duckToken, "myhome", true},
		{"wrong token", "00000000-0000-0000-0000-000000000000", "myhome.duckdns.org", false},
		{"wrong domain", duckToken, "other.duckdns.org", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newDuckServer(t, duckToken, "myhome")
			e, _ := newDuckEngine(t, srv, srv.URL, c.token, c.hostname)
			err := ddnstest.Force(t, e, addrA)
			if c.ok {
				if err != nil || len(srv.ips) != 1 || srv.ips[0] != addrA.String() || e.Status()[0].Answer != "OK" {
					t.Fatalf("err = %v, server saw %v, status %+v", err, srv.ips, e.Status()[0])
				}
				if srv.uas[0] != ddnstest.UserAgent {
					t.Errorf("User-Agent = %q", srv.uas[0])
				}
				return
			}
			if !provider.IsHold(err) || !e.Status()[0].Held || !strings.Contains(err.Error(), "KO") {
				t.Fatalf("err = %v, status %+v; want held on KO", err, e.Status()[0])
			}
		})
	}
}

// TestDuckDNSTokenNotInNetworkErrors: net/http puts the request URL, token included, in its errors; none of
// it may reach the log or the status.
func TestDuckDNSTokenNotInNetworkErrors(t *testing.T) {
	srv := newDuckServer(t, duckToken, "myhome")
	url := srv.URL
	srv.Close()
	e, lb := newDuckEngine(t, srv, url, duckToken, "myhome")
	if err := ddnstest.Force(t, e, netip.MustParseAddr("192.0.2.1")); err == nil || strings.Contains(err.Error(), duckToken) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(lb.String(), "backing off") {
		t.Errorf("network failure not logged: %s", lb.String())
	}
}

var addrA = netip.MustParseAddr("203.0.113.10")
