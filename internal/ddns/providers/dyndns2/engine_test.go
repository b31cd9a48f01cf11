package dyndns2_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
)

// TestDyndns2ReturnCodes sends one update per return code and checks what the engine makes of it.
func TestDyndns2ReturnCodes(t *testing.T) {
	hold := []string{"!donator", "notfqdn", "nohost", "numhost", "abuse", "badagent", "good 127.0.0.1"}
	type want struct {
		ok, held, auth, retryLater bool
		wait                       time.Duration
	}
	cases := map[string]want{
		"good 203.0.113.10":  {ok: true},
		"nochg 203.0.113.10": {ok: true},
		"badauth":            {held: true, auth: true},
		"dnserr":             {retryLater: true, wait: 30 * time.Minute},
		"911":                {retryLater: true, wait: 30 * time.Minute},
		"HTTP500":            {retryLater: true, wait: 30 * time.Minute},
		"surprise":           {retryLater: true, wait: 30 * time.Minute},
	}
	for _, h := range hold {
		cases[h] = want{held: true}
	}
	for answer, w := range cases {
		t.Run(answer, func(t *testing.T) {
			s := ddnstest.NewDyndns2Setup(t)
			e := s.Engine(t)
			s.Srv.Queue(answer)
			err := ddnstest.Force(t, e, addrA)
			st := e.Status()[0]
			if (err == nil) != w.ok || provider.IsHold(err) != w.held || provider.IsAuth(err) != w.auth ||
				errors.Is(err, provider.ErrRetryLater) != w.retryLater {
				t.Fatalf("err = %v; want %+v", err, w)
			}
			if st.Held != w.held {
				t.Errorf("status held = %v, want %v (%+v)", st.Held, w.held, st)
			}
			if w.ok && st.LastAddress != addrA.String() {
				t.Errorf("last address = %q, want %s", st.LastAddress, addrA)
			}
			if !w.ok && st.LastAddress != "" {
				t.Errorf("a failed update recorded last address %q", st.LastAddress)
			}
			if got := st.NextRetry.Sub(s.Clock.Now()); w.wait != 0 && got != w.wait {
				t.Errorf("next retry in %v, want %v", got, w.wait)
			}
			if w.held && !strings.Contains(s.Log.String(), "UPDATES HELD") {
				t.Errorf("a hold was not logged loudly")
			}
			// A second forced update must not reach the server while held or asked to wait.
			if !w.ok {
				n := len(s.Srv.Requests())
				if err := ddnstest.Force(t, e, addrB); err == nil {
					t.Errorf("forced update after %q succeeded", answer)
				}
				if got := len(s.Srv.Requests()); got != n {
					t.Errorf("forced update after %q reached the server", answer)
				}
			}
		})
	}
}

// TestDyndns2Request checks what goes on the wire: path, parameters, basic auth and the User-Agent.
func TestDyndns2Request(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	if err := ddnstest.Force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	reqs := s.Srv.Requests()
	want := ddnstest.Dyndns2Request{Host: ddnstest.Dyndns2Host, MyIP: addrA.String(), UA: ddnstest.UserAgent, AuthOK: true}
	if len(reqs) == 1 {
		reqs[0].Remote = ""
	}
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("requests = %+v, want [%+v]", reqs, want)
	}
	if st := e.Status()[0]; st.Answer != "good 203.0.113.10" || st.LastSent != s.Clock.Now() {
		t.Errorf("status = %+v", st)
	}
}

// TestDyndns2RetryLaterWaits30Minutes: after dnserr the worker sends nothing for 30 minutes, whatever the
// address does, then sends once.
func TestDyndns2RetryLaterWaits30Minutes(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	s.Srv.Queue("dnserr")
	ddnstest.RunEngine(t, e)
	e.SetAddress(addrA)
	poll.Wait(t, "first request", func() bool { return len(s.Srv.Requests()) == 1 })
	poll.Wait(t, "worker waiting", func() bool { return s.Clock.Afters() >= 1 })
	n := s.Clock.Afters()
	e.SetAddress(addrB) // a change during the pause must not cut it short
	poll.Wait(t, "worker waiting again", func() bool { return s.Clock.Afters() > n })
	s.Clock.Advance(29*time.Minute + 59*time.Second)
	if n := len(s.Srv.Requests()); n != 1 {
		t.Fatalf("%d requests before 30 minutes passed", n)
	}
	s.Clock.Advance(time.Second)
	poll.Wait(t, "retry after 30 minutes", func() bool { return len(s.Srv.Requests()) == 2 })
	poll.Wait(t, "success recorded", func() bool { return e.Status()[0].LastAddress == addrB.String() })
	if got := s.Srv.Requests()[1].MyIP; got != addrB.String() {
		t.Errorf("retry sent %s, want the latest address %s", got, addrB)
	}
}
