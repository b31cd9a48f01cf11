package rfc2136_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/quantile"
)

// TestRFC2136AgainstBIND: the record follows the address, checked by querying BIND; 20 changes measure the
// time from SetAddress to the new record being served.
func TestRFC2136AgainstBIND(t *testing.T) {
	b := startBIND(t)
	logger, lb := ddnstest.NewLogger(t)
	// The secret file holds the key clause as tsig-keygen prints it, the same file BIND includes.
	entry := b.entry(t, fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};", b.key, b.secret))
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddnstest.AssertNoSecret(t, lb, e, b.secret) })
	ddnstest.RunEngine(t, e)

	var lat []time.Duration
	for i := range 20 {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)})
		start := time.Now()
		e.SetAddress(addr)
		poll.Wait(t, "record "+addr.String(), func() bool {
			got := b.lookupA(t, "home.example.net")
			return len(got) == 1 && got[0] == addr.String()
		})
		lat = append(lat, time.Since(start))
	}
	t.Logf("SetAddress -> record served by BIND, over %d changes: p50 %v, p90 %v, max %v",
		len(lat), quantile.Of(lat, 0.5), quantile.Of(lat, 0.9), quantile.Of(lat, 1))
	// BIND may serve the record before the engine has read its reply.
	poll.Wait(t, "success recorded", func() bool { return e.Status()[0].LastAddress == "203.0.113.39" })
	st := e.Status()[0]
	if st.LastAddress != "203.0.113.39" || st.Answer != "NOERROR" || st.Held {
		t.Errorf("status = %+v", st)
	}
	if dig, err := exec.LookPath("dig"); err == nil {
		ip, port, _ := net.SplitHostPort(b.addr)
		args := []string{dig, "+short", "+norecurse", "@" + ip, "-p", port, "home.example.net", "A"}
		if b.ns != "" {
			args = append([]string{"ip", "netns", "exec", b.ns}, args...)
		}
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil || strings.TrimSpace(string(out)) != "203.0.113.39" {
			t.Errorf("dig says %q (%v), want 203.0.113.39", out, err)
		}
	}
}

// TestRFC2136Refusals: a wrong secret or an unknown key is an auth failure (a typed predicate, not a string),
// a zone the server does not serve is a hold but not an auth failure, and the record stays as it was.
func TestRFC2136Refusals(t *testing.T) {
	b := startBIND(t)
	wrong := make([]byte, 32)
	rand.Read(wrong)
	wrongSecret := base64.StdEncoding.EncodeToString(wrong)
	cases := []struct {
		name   string
		modify func(*provider.Entry)
		auth   bool
	}{
		{"wrong secret", func(e *provider.Entry) { rfc(e).TSIGSecretFile = ddnstest.WriteSecret(t, wrongSecret) }, true},
		{"unknown key", func(e *provider.Entry) { rfc(e).TSIGKey = "nobody-key" }, true},
		{"wrong algorithm", func(e *provider.Entry) { rfc(e).TSIGAlgorithm = "hmac-sha512" }, true},
		{"zone not served", func(e *provider.Entry) { rfc(e).Zone, e.Hostname = "example.org", "home.example.org" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			entry := b.entry(t, b.secret)
			c.modify(&entry)
			logger, lb := ddnstest.NewLogger(t)
			e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, logger, b.options()...)
			if err != nil {
				t.Fatal(err)
			}
			e.SetAddress(addrC)
			err = e.ForceUpdate(context.Background())
			if !provider.IsHold(err) || provider.IsAuth(err) != c.auth {
				t.Fatalf("err = %v; want hold, auth %v", err, c.auth)
			}
			t.Logf("refused as wanted: %v", err)
			if st := e.Status()[0]; !st.Held {
				t.Errorf("status = %+v, want held", st)
			}
			if got := b.lookupA(t, "home.example.net"); len(got) != 0 {
				t.Errorf("record changed to %v by a refused update", got)
			}
			ddnstest.AssertNoSecret(t, lb, e, b.secret, wrongSecret)
		})
	}
}
