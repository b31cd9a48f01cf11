package cloudflare_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// TestCloudflareAAAA: with family both the A and the AAAA record are separate records, each created once and
// patched once per change of its own address; an IPv6 change leaves the A record alone.
func TestCloudflareAAAA(t *testing.T) {
	srv := newCloudflareServer(t, cfZone, cfToken)
	t.Setenv("HAIRPIN_TEST_CF_TOKEN", cfToken)
	logger, _ := ddnstest.NewLogger(t)
	entry := provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", Family: "both", Settings: &cloudflare.Settings{Server: srv.URL + "/client/v4", ZoneID: cfZone, TokenEnv: "HAIRPIN_TEST_CF_TOKEN", TTL: 60}}
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, logger, ddns.WithHTTPClient(webtest.ClientOf(srv)))
	if err != nil {
		t.Fatal(err)
	}
	e.SetAddress(addrA)
	for _, s := range []string{"2001:db8:ffff::10", "2001:db8:ffff::11", "2001:db8:ffff::11"} {
		e.SetAddress6(netip.MustParseAddr(s))
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"POST home.example.net 203.0.113.10", "POST home.example.net 2001:db8:ffff::10", "PATCH home.example.net 2001:db8:ffff::11"}
	if got := srv.Writes(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes = %v, want %v", got, want)
	}
	srv.mu.Lock()
	types := map[string]string{}
	for _, r := range srv.records {
		types[r.Type] = r.Content
	}
	srv.mu.Unlock()
	if types["A"] != addrA.String() || types["AAAA"] != "2001:db8:ffff::11" || len(types) != 2 {
		t.Errorf("records = %v", types)
	}
}
