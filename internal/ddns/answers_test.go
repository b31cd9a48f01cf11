package ddns_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
)

// TestDyndns2GoodOtherAddress: "good 192.0.2.99" for another address than the one sent is accepted (no resend,
// which would only annoy the provider) and shown as a warning with the address the provider holds; "good"
// for the address sent is no warning (the negative control).
func TestDyndns2GoodOtherAddress(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	s.Srv.Queue("good 192.0.2.99")
	if err := force(t, e, addrA); err != nil {
		t.Fatalf("err = %v; an accepted update with a remark is no failure", err)
	}
	st := e.Status()[0]
	if st.LastAddress != addrA.String() || st.Held || !st.NextRetry.IsZero() ||
		!strings.Contains(st.Warning, "holds 192.0.2.99") || !strings.Contains(st.Warning, "not the 203.0.113.10 sent") {
		t.Errorf("status = %+v; want success with a warning naming both addresses", st)
	}
	if !strings.Contains(s.Log.String(), "WARNING") {
		t.Errorf("no warning logged:\n%s", s.Log.String())
	}
	// Same address again: nothing is sent.
	e.SetAddress(addrA)
	if err := e.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Srv.Requests()); n != 1 {
		t.Errorf("%d requests; the accepted address was sent again", n)
	}
	// The next accepted answer that agrees clears the warning.
	if err := force(t, e, addrB); err != nil {
		t.Fatal(err)
	}
	if st := e.Status()[0]; st.Warning != "" || st.Answer != "good "+addrB.String() {
		t.Errorf("status after an agreeing answer = %+v", st)
	}
}

// TestCloudflareTokenLines: a token of several lines or with spaces is a config error when the engine is
// built (at start, reload and `hairpin ddns update`), from a file or the environment, not "no answer from the
// server" forever.
func TestCloudflareTokenLines(t *testing.T) {
	const token = "tok3n-abcdefghijklmnopqrstuvwxyz012345"
	entry := func() provider.Entry {
		return provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", Settings: &cloudflare.Settings{ZoneID: "z1", Server: "https://127.0.0.1:1/client/v4"}}
	}
	cases := map[string]func(t *testing.T) provider.Entry{
		"file with two lines": func(t *testing.T) provider.Entry {
			e := entry()
			e.Settings.(*cloudflare.Settings).TokenFile = filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(e.Settings.(*cloudflare.Settings).TokenFile, []byte(token+"\nsecond line\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return e
		},
		"environment with a line break": func(t *testing.T) provider.Entry {
			e := entry()
			e.Settings.(*cloudflare.Settings).TokenEnv = "HAIRPIN_TEST_CF_TOKEN"
			t.Setenv(e.Settings.(*cloudflare.Settings).TokenEnv, token+"\n"+token)
			return e
		},
		"environment with a space": func(t *testing.T) provider.Entry {
			e := entry()
			e.Settings.(*cloudflare.Settings).TokenEnv = "HAIRPIN_TEST_CF_TOKEN"
			t.Setenv(e.Settings.(*cloudflare.Settings).TokenEnv, "Bearer "+token)
			return e
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ddns.New([]provider.Entry{mk(t)}, t.TempDir(), testUA, nil)
			if err == nil || !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "space") {
				t.Fatalf("err = %v; want a config error about the token", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
	// Negative control: the token alone, with the usual final newline, is fine.
	e := entry()
	e.Settings.(*cloudflare.Settings).TokenFile = writeSecret(t, token)
	if _, err := ddns.New([]provider.Entry{e}, t.TempDir(), testUA, nil); err != nil {
		t.Fatalf("a one-line token: %v", err)
	}
}

// TestNextRetryAfterSlowFailure: a retry is planned from when the failure arrived, not from when the update
// was sent, so status never shows a next try earlier than the failure.
func TestNextRetryAfterSlowFailure(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Srv.Gate, s.Srv.Arrived = make(chan struct{}), make(chan struct{}, 1)
	e := s.Engine(t)
	s.Srv.Queue("ABORT") // the connection breaks: a network error, backed off from 15 to 30 s
	done := make(chan error, 1)
	go func() { done <- force(t, e, addrA) }()
	<-s.Srv.Arrived
	s.Clock.Advance(50 * time.Second) // the update takes longer than the first backoff step
	close(s.Srv.Gate)
	err := <-done
	if !errors.Is(err, provider.ErrTransient) {
		t.Fatalf("err = %v; want a transient failure", err)
	}
	if st := e.Status()[0]; !st.NextRetry.After(s.Clock.Now()) {
		t.Errorf("next retry %v is not after the failure at %v", st.NextRetry, s.Clock.Now())
	}
}

// TestIdleConnectionsClosedOnAddressChange: a new public address makes the next update open a new connection
// rather than reuse a keep-alive one that may be bound to the old WAN address; with the address unchanged
// (the negative control) the connection is reused.
func TestIdleConnectionsClosedOnAddressChange(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	count := func() int { // connections: each has a port of its own
		ports := map[string]bool{}
		for _, r := range s.Srv.Requests() {
			ports[r.Remote] = true
		}
		return len(ports)
	}
	e := s.Engine(t)
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	if err := force(t, e, addrA); err != nil { // same address: the keep-alive connection serves
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d connections for two updates of the same address; keep-alive not in use, the test proves nothing", n)
	}
	if err := force(t, e, addrB); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d connections after the address changed; the idle one should have been closed", n)
	}
	e.NetworkChanged() // a WAN change behind a second NAT: the public address stays
	if err := force(t, e, addrB); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Errorf("%d connections after NetworkChanged; want a new one", n)
	}
}
