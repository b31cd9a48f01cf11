package dyndns2_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestDyndns2AAAA: with family both the A and AAAA addresses travel in one request, spelled as ipv6_param says;
// each change of either family is one request, a repeat is none, and a restart with the same addresses sends
// nothing, since each family's state is persisted.
func TestDyndns2AAAA(t *testing.T) {
	x1, x2 := netip.MustParseAddr("2001:db8:ffff::10"), netip.MustParseAddr("2001:db8:ffff::11")
	for _, tt := range []struct {
		param string
		want  []string
	}{
		{"myip", []string{"203.0.113.10,2001:db8:ffff::10", "203.0.113.10,2001:db8:ffff::11", "203.0.113.11,2001:db8:ffff::11"}},
		{"myipv6", []string{"203.0.113.10+2001:db8:ffff::10", "203.0.113.10+2001:db8:ffff::11", "203.0.113.11+2001:db8:ffff::11"}},
	} {
		t.Run(tt.param, func(t *testing.T) {
			s := ddnstest.NewDyndns2Setup(t)
			s.Entry.Family, s.Dyn().IPv6Param = "both", tt.param
			e := s.Engine(t)
			steps := []func(){
				func() { e.SetAddress(addrA); e.SetAddress6(x1) },
				func() { e.SetAddress6(x1) },
				func() { e.SetAddress6(x2) },
				func() { e.SetAddress(addrB) },
			}
			for _, step := range steps {
				step()
				if err := e.Update(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			e2 := s.Engine(t)
			e2.SetAddress(addrB)
			e2.SetAddress6(x2)
			if err := e2.Update(t.Context()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range s.Srv.Requests() {
				got = append(got, r.Sent())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("server saw %v, want %v", got, tt.want)
			}
			a, aaaa := s.Srv.Record(ddnstest.Dyndns2Host)
			if a != addrB.String() || aaaa != x2.String() {
				t.Errorf("records A %q AAAA %q", a, aaaa)
			}
			st := e2.Status()
			if len(st) != 2 || st[0].LastAddress != addrB.String() || st[1].Family != "ipv6" || st[1].LastAddress != x2.String() {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// TestDyndns2AAAAWaitsForA: while the A record is withheld (CGNAT) the AAAA does not go alone, since the
// provider would fill the A record with the caller's address, which is exactly what withholding avoids. The
// negative controls are requests naming one family alone: the server moves the A record to the caller, or
// deletes the AAAA record.
func TestDyndns2AAAAWaitsForA(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Entry.Family, s.Dyn().IPv6Param = "both", "myipv6"
	e := s.Engine(t)
	e.Withhold("cgnat")
	e.SetAddress(addrA)
	e.SetAddress6(netip.MustParseAddr("2001:db8:ffff::10"))
	if err := e.Update(t.Context()); err == nil || !strings.Contains(err.Error(), "beside the A record") {
		t.Errorf("err = %v, want the AAAA waiting for the A record", err)
	}
	if n := len(s.Srv.Requests()); n != 0 {
		t.Fatalf("%d requests while the A record is withheld", n)
	}
	e.Withhold("")
	if err := e.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := s.Srv.Requests(); len(r) != 1 || r[0].Sent() != "203.0.113.10+2001:db8:ffff::10" {
		t.Fatalf("requests = %+v, want one carrying both", r)
	}

	get := func(query string) {
		req, _ := http.NewRequest(http.MethodGet, s.Srv.URL+"/nic/update?hostname="+ddnstest.Dyndns2Host+query, nil)
		req.SetBasicAuth(ddnstest.Dyndns2User, ddnstest.Dyndns2Pass)
		resp, err := s.Srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	records := func() (string, string) { return s.Srv.Record(ddnstest.Dyndns2Host) }
	get("&myipv6=2001:db8:ffff::12")
	if a, _ := records(); a != "127.0.0.1" {
		t.Errorf("control: an AAAA-only request left A at %q, not the caller's", a)
	}
	get("&myip=203.0.113.10")
	if _, aaaa := records(); aaaa != "" {
		t.Errorf("control: an A-only request left AAAA at %q", aaaa)
	}
}

// TestDyndns2AAAAAloneRefused: an engine given family ipv6 for dyndns2 (config refuses it) holds rather than
// sending an AAAA without its A.
func TestDyndns2AAAAAloneRefused(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Entry.Family, s.Dyn().IPv6Param = "ipv6", "myip"
	e := s.Engine(t)
	e.SetAddress6(netip.MustParseAddr("2001:db8:ffff::10"))
	if err := e.Update(t.Context()); !provider.IsHold(err) || len(s.Srv.Requests()) != 0 {
		t.Errorf("err = %v after %d requests, want a hold and none", err, len(s.Srv.Requests()))
	}
}

// TestDyndns2AAAARunning: the two families' workers share one request at a time; a change of the IPv6 address
// alone is then exactly one request, carrying the A address unchanged beside it.
func TestDyndns2AAAARunning(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Entry.Family, s.Dyn().IPv6Param = "both", "myip"
	e := s.Engine(t)
	ddnstest.RunEngine(t, e)
	x1, x2 := netip.MustParseAddr("2001:db8:ffff::10"), netip.MustParseAddr("2001:db8:ffff::11")
	e.SetAddress(addrA)
	e.SetAddress6(x1)
	done := func(a, a6 netip.Addr) func() bool {
		return func() bool {
			st := e.Status()
			return st[0].LastAddress == a.String() && st[1].LastAddress == a6.String()
		}
	}
	poll.Wait(t, "both families recorded", done(addrA, x1))
	n := len(s.Srv.Requests())
	if n < 1 || n > 2 {
		t.Fatalf("%d requests for one address per family", n)
	}
	e.SetAddress6(x2)
	poll.Wait(t, "the new AAAA recorded", done(addrA, x2))
	r := s.Srv.Requests()
	if len(r) != n+1 || r[n].Sent() != "203.0.113.10,2001:db8:ffff::11" {
		t.Errorf("requests = %+v, want one more carrying both", r)
	}
}

// TestDyndns2AAAAPauseBindsBoth: a pause the provider asks for (dnserr: at least 30 minutes) and a hold
// (badauth) answer for the hostname, so the other family's change waits too instead of sending.
func TestDyndns2AAAAPauseBindsBoth(t *testing.T) {
	for _, code := range []string{"dnserr", "badauth"} {
		t.Run(code, func(t *testing.T) {
			s := ddnstest.NewDyndns2Setup(t)
			s.Entry.Family, s.Dyn().IPv6Param = "both", "myip"
			e := s.Engine(t)
			e.SetAddress(addrA)
			s.Srv.Queue(code)
			if err := e.Update(t.Context()); err == nil {
				t.Fatal("no error for " + code)
			}
			e.SetAddress6(netip.MustParseAddr("2001:db8:ffff::10"))
			_ = e.Update(t.Context())
			if n := len(s.Srv.Requests()); n != 1 {
				t.Errorf("%d requests after %s, want the one answered with it", n, code)
			}
			for _, st := range e.Status() {
				if st.NextRetry.IsZero() && !st.Held {
					t.Errorf("family %q neither waits nor holds: %+v", st.Family, st)
				}
			}
		})
	}
}
