package rfc2136_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// servers are the DNS servers the rfc2136 provider is tested against, as Debian packages them.
var servers = []struct {
	name  string
	start func(*testing.T, serverOpts) *dnsServer
}{
	{"BIND", startBINDWith},
	{"Knot", startKnot},
	{"PowerDNS", startPowerDNS},
}

// rfcEngine builds an engine for one entry against b.
func rfcEngine(t *testing.T, b *dnsServer, entry provider.Entry) (*ddns.Engine, *ddnstest.LogBuf) {
	t.Helper()
	return rfcEngineIn(t, b, entry, t.TempDir())
}

// rfcEngineIn is rfcEngine keeping its state in dir, as a later run of hairpin would.
func rfcEngineIn(t *testing.T, b *dnsServer, entry provider.Entry, dir string) (*ddns.Engine, *ddnstest.LogBuf) {
	t.Helper()
	logger, lb := ddnstest.NewLogger(t)
	e, err := ddns.New([]provider.Entry{entry}, dir, ddnstest.UserAgent, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	return e, lb
}

// TestRFC2136Servers: on each real server, an update is served; the same address again (even forced) sends
// nothing and leaves the zone's serial alone; an update aimed at a CNAME is refused by the prerequisite and
// held with a message that says so, and the CNAME stays.
func TestRFC2136Servers(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			b := srv.start(t, serverOpts{})

			t.Run("update", func(t *testing.T) {
				e, lb := rfcEngine(t, b, b.entry(t, b.secret))
				defer ddnstest.AssertNoSecret(t, lb, e, b.secret)
				for _, addr := range []netip.Addr{addrA, addrB} {
					before := b.serial(t)
					if err := ddnstest.Force(t, e, addr); err != nil {
						t.Fatalf("update to %s: %v", addr, err)
					}
					if got := b.lookupA(t, "home.example.net"); !slices.Equal(got, []string{addr.String()}) {
						t.Fatalf("server holds %v, want %s", got, addr)
					}
					if b.serial(t) == before {
						t.Error("the zone's serial did not move with an update")
					}
					if st := e.Status()[0]; st.LastAddress != addr.String() || st.Answer != "NOERROR" || st.Held {
						t.Errorf("status = %+v", st)
					}
				}

				// No change: the engine sends nothing; forced, the provider asks first and sends nothing.
				serial := b.serial(t)
				e.SetAddress(addrB)
				if err := e.Update(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := e.ForceUpdate(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := b.serial(t); got != serial {
					t.Errorf("serial moved from %d to %d: an update that changes nothing was sent", serial, got)
				}
				if st := e.Status()[0]; st.Answer != "unchanged" || st.LastAddress != addrB.String() {
					t.Errorf("status after a forced update with the record in place = %+v", st)
				}
				// Negative control: the same update sent without asking first. PowerDNS deletes and re-adds the
				// record and bumps the serial (BIND and Knot see that nothing changes).
				b.sendRaw(t, "home.example.net.", addrB)
				moved := b.serial(t) != serial
				t.Logf("%s: an update that changes nothing moves the serial: %v", srv.name, moved)
				if srv.name == "PowerDNS" && !moved {
					t.Error("PowerDNS no longer churns on an unchanged update: the negative control proves nothing")
				}
			})

			t.Run("CNAME at the name", func(t *testing.T) {
				entry := b.entry(t, b.secret)
				entry.Hostname = "alias.example.net"
				e, _ := rfcEngine(t, b, entry)
				serial := b.serial(t)
				err := ddnstest.Force(t, e, addrC)
				if !provider.IsHold(err) || provider.IsAuth(err) || !strings.Contains(err.Error(), "alias.example.net is a CNAME") {
					t.Fatalf("err = %v; want a hold that says the name is a CNAME", err)
				}
				t.Logf("held as wanted: %v", err)
				if got := b.lookupA(t, "alias.example.net"); !slices.Equal(got, []string{"CNAME " + zoneAlias}) {
					t.Errorf("alias.example.net now holds %v", got)
				}
				if b.serial(t) != serial {
					t.Error("the zone changed")
				}
				if st := e.Status()[0]; !st.Held || st.LastAddress != "" {
					t.Errorf("status = %+v", st)
				}

				// Negative control: the same update without the prerequisite. RFC 2136 section 3.4.2.2 has the
				// server ignore it; Knot and BIND answer NOERROR having changed nothing (so only the
				// prerequisite or the confirming query tells), PowerDNS refuses it.
				rcode := b.sendRaw(t, "alias.example.net.", addrC)
				t.Logf("%s answers the update without the prerequisite with %s", srv.name, dns.RcodeToString[rcode])
				if srv.name != "PowerDNS" && rcode != dns.RcodeSuccess {
					t.Errorf("%s no longer ignores the update silently: the negative control proves nothing", srv.name)
				}
				if got := b.lookupA(t, "alias.example.net"); !slices.Equal(got, []string{"CNAME " + zoneAlias}) {
					t.Errorf("alias.example.net now holds %v", got)
				}
			})

			t.Run("wrong secret, wrong key", func(t *testing.T) {
				wrong := make([]byte, 32)
				rand.Read(wrong)
				wrongSecret := base64.StdEncoding.EncodeToString(wrong)
				for name, modify := range map[string]func(*provider.Entry){
					"wrong secret": func(e *provider.Entry) { rfc(e).TSIGSecretFile = ddnstest.WriteSecret(t, wrongSecret) },
					"wrong key":    func(e *provider.Entry) { rfc(e).TSIGKey = "nobody-key" },
				} {
					entry := b.entry(t, b.secret)
					entry.Hostname = "refused.example.net"
					modify(&entry)
					// BIND and Knot name the TSIG error, which holds at once; PowerDNS answers a bare REFUSED,
					// which holds only when it repeats. Each try is a run of its own on the same state, as
					// `hairpin ddns update` from cron or a restarted daemon is: the row is counted there.
					dir := t.TempDir()
					var err error
					var e *ddns.Engine
					var lb *ddnstest.LogBuf
					for i := range rfc2136.UnsignedRefusalsToHold {
						e, lb = rfcEngineIn(t, b, entry, dir)
						if err = ddnstest.Force(t, e, addrC); provider.IsHold(err) {
							break
						}
						if !errors.Is(err, provider.ErrTransient) {
							t.Fatalf("%s: try %d: err = %v; want a hold or a transient failure", name, i+1, err)
						}
						t.Logf("%s: try %d: %v", name, i+1, err)
					}
					if !provider.IsHold(err) || !provider.IsAuth(err) {
						t.Fatalf("%s: err = %v; want an auth hold", name, err)
					}
					t.Logf("%s: held as wanted: %v", name, err)
					if got := b.lookupA(t, "refused.example.net"); len(got) != 0 {
						t.Errorf("%s: the record changed to %v", name, got)
					}
					ddnstest.AssertNoSecret(t, lb, e, b.secret, wrongSecret)
				}
			})

			t.Run("secret file formats", func(t *testing.T) {
				formats := map[string]string{
					"bare":         b.secret,
					"tsig-keygen":  fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};\n", b.key, b.secret),
					"keymgr -t":    fmt.Sprintf("# hmac-sha256:%[1]s:%[2]s\nkey:\n  - id: %[1]s\n    algorithm: hmac-sha256\n    secret: %[2]s\n", b.key, b.secret),
					"alg:name:key": fmt.Sprintf("hmac-sha256:%s:%s", b.key, b.secret),
				}
				i := 0
				for name, content := range formats {
					i++
					entry := b.entry(t, content)
					entry.Hostname = fmt.Sprintf("format%d.example.net", i)
					e, lb := rfcEngine(t, b, entry)
					addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)})
					if err := ddnstest.Force(t, e, addr); err != nil {
						t.Errorf("%s: %v", name, err)
					} else if got := b.lookupA(t, entry.Hostname); !slices.Equal(got, []string{addr.String()}) {
						t.Errorf("%s: server holds %v", name, got)
					}
					ddnstest.AssertNoSecret(t, lb, e, b.secret)
				}
			})
		})
	}
}

// TestRFC2136SecretFileDisagrees: a secret file that names another key or algorithm than the config is a
// config error naming both, before anything is sent.
func TestRFC2136SecretFileDisagrees(t *testing.T) {
	const secret = "VLuNnpuJHmXqWAgrae9WBLyzLyvhvuQ5RpPRvuQcNxA="
	cases := map[string]struct{ file, want string }{
		"tsig-keygen, other key":   {"key \"other\" {\n\talgorithm hmac-sha256;\n\tsecret \"" + secret + "\";\n};\n", `the file is for key "other" but tsig_key is "hairpin-key"`},
		"keymgr, other algorithm":  {"key:\n  - id: hairpin-key\n    algorithm: hmac-sha512\n    secret: " + secret + "\n", "the file's key uses hmac-sha512 but tsig_algorithm is hmac-sha256"},
		"alg:name:secret, both":    {"hmac-sha1:someone:" + secret, "tsig_key"},
		"not base64":               {"hmac-sha256:hairpin-key:not*base64", "not base64"},
		"two keys in one file":     {"key \"a\" { algorithm hmac-sha256; secret \"" + secret + "\"; };\nkey \"b\" { algorithm hmac-sha256; secret \"" + secret + "\"; };\n", "2 key clauses"},
		"YAML with two keys":       {"key:\n  - id: a\n    algorithm: hmac-sha256\n    secret: " + secret + "\n  - id: b\n    algorithm: hmac-sha256\n    secret: " + secret + "\n", "2 keys"},
		"clause without secret":    {"key \"hairpin-key\" { algorithm hmac-sha256; };", "no secret"},
		"alg:name:secret too many": {"a:b:c:" + secret, "three fields"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			entry := provider.Entry{Provider: "rfc2136", Hostname: "home.example.net", Settings: &rfc2136.Settings{Server: "192.0.2.53", Zone: "example.net", TSIGKey: "hairpin-key", TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: ddnstest.WriteSecret(t, c.file), TTL: 60}}
			_, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestRFC2136ClockSkew: a server whose clock is ten minutes ahead (libfaketime, preloaded into the server
// alone) answers BADTIME; that is a retryable failure, not a hold, and the message gives the difference and the
// server's time. Once the clocks agree, the next try goes through.
func TestRFC2136ClockSkew(t *testing.T) {
	const skew = 10 * time.Minute
	// Not BIND: named does not start under libfaketime (the preload recurses in clock_gettime at its start).
	for _, srv := range servers {
		if srv.name == "BIND" {
			continue
		}
		t.Run(srv.name, func(t *testing.T) {
			b := srv.start(t, serverOpts{skew: skew})
			logger, lb := ddnstest.NewLogger(t)
			clock := ddnstest.NewFakeClock() // the engine's timers; TSIG is signed with the real clock
			e, err := ddns.New([]provider.Entry{b.entry(t, b.secret)}, t.TempDir(), ddnstest.UserAgent, logger,
				append(b.options(), ddns.WithClock(clock))...)
			if err != nil {
				t.Fatal(err)
			}
			err = ddnstest.Force(t, e, addrA)
			if err == nil || provider.IsHold(err) || !errors.Is(err, provider.ErrTransient) {
				t.Fatalf("err = %v; want a transient failure", err)
			}
			t.Logf("refused as wanted: %v", err)
			m := regexp.MustCompile(`clock .*about (\d+) s`).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("the message does not give the clock difference: %v", err)
			}
			if d, _ := strconv.Atoi(m[1]); d < 595 || d > 605 {
				t.Errorf("clock difference %d s, want about %v", d, skew.Seconds())
			}
			// The server's time, where the server gives it (PowerDNS does not).
			if m := regexp.MustCompile(`server time ([^,]+),`).FindStringSubmatch(err.Error()); m != nil {
				if st, err := time.Parse(time.RFC3339, m[1]); err != nil || st.Sub(time.Now().Add(skew)).Abs() > 5*time.Second {
					t.Errorf("server time %q, want about %v", m[1], time.Now().Add(skew).UTC())
				}
			} else if srv.name != "PowerDNS" {
				t.Errorf("the message does not give the server's time: %v", err)
			}
			st := e.Status()[0]
			if st.Held || st.NextRetry.IsZero() || st.LastAddress != "" {
				t.Errorf("status = %+v; want a retry planned", st)
			}
			if got := b.lookupA(t, "home.example.net"); len(got) != 0 {
				t.Errorf("record changed to %v", got)
			}

			// Once the clocks agree, the retry the backoff planned goes through by itself.
			b.setClock(t, 0)
			ddnstest.RunEngine(t, e)
			poll.Wait(t, "the worker waiting for its retry", func() bool { return clock.Afters() > 0 })
			if got := b.lookupA(t, "home.example.net"); len(got) != 0 {
				t.Fatalf("sent before the backoff ended: %v", got)
			}
			clock.Advance(ddns.BackoffBase)
			poll.Wait(t, "the update after the backoff", func() bool { return e.Status()[0].LastAddress == addrA.String() })
			if got := b.lookupA(t, "home.example.net"); !slices.Equal(got, []string{addrA.String()}) {
				t.Errorf("server holds %v, want %s", got, addrA)
			}
			ddnstest.AssertNoSecret(t, lb, e, b.secret)
		})
	}
}
