package duckdns_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/duckdns"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

func newDuckFamilyEngine(t *testing.T, srv *duckServer, family, stateDir, tokenFile string) *ddns.Engine {
	t.Helper()
	logger, lb := ddnstest.NewLogger(t)
	entry := provider.Entry{Provider: "duckdns", Hostname: "myhome", Family: family, Settings: &duckdns.Settings{Server: srv.URL, TokenFile: tokenFile}}
	e, err := ddns.New([]provider.Entry{entry}, stateDir, ddnstest.UserAgent, logger, ddns.WithHTTPClient(webtest.ClientOf(srv)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddnstest.AssertNoSecret(t, lb, e, duckToken) })
	return e
}

// TestDuckDNSAAAA: with family both, each family's change sends one request naming only that family's address
// (ip= for the A record, ipv6= for the AAAA record); a repeat sends nothing, and neither does a restart with
// the same addresses, since each family's state is persisted.
func TestDuckDNSAAAA(t *testing.T) {
	srv := newDuckServer(t, duckToken, "myhome")
	dir, tok := t.TempDir(), ddnstest.WriteSecret(t, duckToken)
	e := newDuckFamilyEngine(t, srv, "both", dir, tok)
	e.SetAddress(addrA)
	for _, s := range []string{"2001:db8:ffff::10", "2001:db8:ffff::10", "2001:db8:ffff::11"} {
		e.SetAddress6(netip.MustParseAddr(s))
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	e2 := newDuckFamilyEngine(t, srv, "both", dir, tok)
	e2.SetAddress(addrA)
	e2.SetAddress6(netip.MustParseAddr("2001:db8:ffff::11"))
	if err := e2.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	want := []string{"ip=203.0.113.10&ipv6=", "ip=&ipv6=2001:db8:ffff::10", "ip=&ipv6=2001:db8:ffff::11"}
	if strings.Join(srv.queries, " ") != strings.Join(want, " ") {
		t.Errorf("requests = %v, want %v", srv.queries, want)
	}
	if srv.a != addrA.String() || srv.aaaa != "2001:db8:ffff::11" {
		t.Errorf("records A %q AAAA %q", srv.a, srv.aaaa)
	}
	st := e2.Status()
	if len(st) != 2 || st[0].Family != "" || st[1].Family != "ipv6" || st[1].LastAddress != "2001:db8:ffff::11" {
		t.Errorf("status = %+v", st)
	}
}

// TestDuckDNSAAAAOnlyKeepsA: family ipv6 alone never moves the A record, which DuckDNS would otherwise fill in
// with the caller's IPv4 address. The negative control is the same server given an update without ipv6: it
// does move the A record to the caller.
func TestDuckDNSAAAAOnlyKeepsA(t *testing.T) {
	srv := newDuckServer(t, duckToken, "myhome")
	srv.a = "198.51.100.7" // set by something else: hairpin publishes only the AAAA record here
	e := newDuckFamilyEngine(t, srv, "ipv6", t.TempDir(), ddnstest.WriteSecret(t, duckToken))
	e.SetAddress(addrA)
	e.SetAddress6(netip.MustParseAddr("2001:db8:ffff::10"))
	if err := e.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	a, aaaa, n := srv.a, srv.aaaa, len(srv.queries)
	srv.mu.Unlock()
	if a != "198.51.100.7" || aaaa != "2001:db8:ffff::10" || n != 1 {
		t.Fatalf("A %q AAAA %q after %d requests", a, aaaa, n)
	}

	resp, err := srv.Client().Get(srv.URL + "/update?domains=myhome&token=" + duckToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if resp.StatusCode != http.StatusOK || srv.a != "127.0.0.1" {
		t.Errorf("control: an update without ipv6 left A at %q; the test server does not detect the caller", srv.a)
	}
}
