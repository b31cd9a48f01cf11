package ddns_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
	addrC = netip.MustParseAddr("198.51.100.7")
)

func force(t *testing.T, e *ddns.Engine, addr netip.Addr) error { return ddnstest.Force(t, e, addr) }

// TestDyndns2OneUpdatePerChange runs the engine, changes the address a few times, restarts it, and checks that
// the server saw exactly one request per distinct address, none repeated after the restart.
func TestDyndns2OneUpdatePerChange(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	stop := runEngine(t, e)
	seq := []netip.Addr{addrA, addrA, addrB, addrB, addrC}
	var want []string
	for _, a := range seq {
		e.SetAddress(a)
		if len(want) == 0 || want[len(want)-1] != a.String() {
			want = append(want, a.String())
		}
		poll.Wait(t, "update of "+a.String(), func() bool { return len(s.Srv.Requests()) == len(want) })
		// The server has it; wait for the engine to have read the answer before changing again or stopping.
		poll.Wait(t, "success recorded", func() bool { return e.Status()[0].LastAddress == a.String() })
	}
	stop()

	// A restart with the same address sends nothing; the next change is the very next request.
	e2 := s.Engine(t)
	runEngine(t, e2)
	e2.SetAddress(addrC)
	e2.SetAddress(addrA)
	want = append(want, addrA.String())
	poll.Wait(t, "update after restart", func() bool { return len(s.Srv.Requests()) >= len(want) })
	var got []string
	for _, r := range s.Srv.Requests() {
		got = append(got, r.MyIP)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("server saw %v, want %v", got, want)
	}
	// The server has it before the engine has read the answer.
	poll.Wait(t, "success recorded", func() bool { return e2.Status()[0].LastAddress == addrA.String() })
	if st := e2.Status()[0]; st.LastAddress != addrA.String() || st.Answer != "good "+addrA.String() {
		t.Errorf("status = %+v", st)
	}
}

// TestDyndns2NoUpdateAtStartWhenUnchanged: the daemon calls SetAddress at start; if the persisted address is
// the same, a restarted engine sends nothing, which a forced update then proves by being the first request.
func TestDyndns2NoUpdateAtStartWhenUnchanged(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	e2 := s.Engine(t)
	e2.SetAddress(addrA)
	runEngine(t, e2)
	// Whether the worker looks before or after the forced update, it finds nothing to send.
	if err := e2.ForceUpdate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Srv.Requests()); n != 2 {
		t.Fatalf("server saw %d requests, want 2 (the first update and the forced one)", n)
	}
	if st := e2.Status()[0]; st.Answer != "nochg "+addrA.String() {
		t.Errorf("forced answer = %q", st.Answer)
	}
}

// TestDyndns2HoldSurvivesRestartUntilConfigChanges: badauth holds; a restart keeps the hold; changing the
// password file lifts it.
func TestDyndns2HoldSurvivesRestartUntilConfigChanges(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Dyn().PasswordFile = writeSecret(t, ddnstest.Dyndns2PassV2) // wrong password
	e := s.Engine(t)
	if err := force(t, e, addrA); !provider.IsAuth(err) {
		t.Fatalf("err = %v, want an auth failure", err)
	}
	e2 := s.Engine(t)
	if st := e2.Status()[0]; !st.Held || !strings.Contains(st.Reason, "badauth") {
		t.Fatalf("after restart status = %+v, want held for badauth", st)
	}
	if !strings.Contains(s.Log.String(), "UPDATES HELD") {
		t.Errorf("a hold found at start was not logged loudly")
	}
	if err := force(t, e2, addrB); !provider.IsHold(err) {
		t.Fatalf("err = %v, want the hold", err)
	}
	if n := len(s.Srv.Requests()); n != 1 {
		t.Fatalf("server saw %d requests while held, want 1", n)
	}
	s.Dyn().PasswordFile = writeSecret(t, ddnstest.Dyndns2Pass)
	e3 := s.Engine(t)
	if st := e3.Status()[0]; st.Held {
		t.Fatalf("hold not lifted by a config change: %+v", st)
	}
	if err := force(t, e3, addrB); err != nil {
		t.Fatal(err)
	}
}

// TestNetworkErrorsBackOff: a server that is gone gives transient errors, retried after growing, jittered
// waits, and the first success after that resets them.
func TestNetworkErrorsBackOff(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Srv.Close() // every request now fails to connect
	e := s.Engine(t)
	err := force(t, e, addrA)
	if !errors.Is(err, provider.ErrTransient) || provider.IsHold(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	prev := time.Duration(0)
	for i := 1; i <= 8; i++ {
		st := e.Status()[0]
		wait := st.NextRetry.Sub(s.Clock.Now())
		hi := min(ddns.BackoffBase<<(i-1), ddns.BackoffMax)
		if wait < hi/2 || wait > hi {
			t.Fatalf("failure %d: wait %v outside [%v, %v]", i, wait, hi/2, hi)
		}
		if i > 1 && hi < ddns.BackoffMax && wait < prev/2 {
			t.Fatalf("failure %d: wait %v shrank from %v", i, wait, prev)
		}
		prev = wait
		s.Clock.Advance(wait)
		e.ForceUpdate(context.Background())
	}
	if st := e.Status()[0]; st.Held || st.LastError == "" {
		t.Errorf("status = %+v", st)
	}
}

// TestCertificatesAreVerified: the engine's own client does not trust httptest's certificate.
func TestCertificatesAreVerified(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	logger, lb := newLogger(t)
	e, err := ddns.New([]provider.Entry{s.Entry}, s.Dir, testUA, logger)
	if err != nil {
		t.Fatal(err)
	}
	err = force(t, e, addrA)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	if len(s.Srv.Requests()) != 0 {
		t.Fatal("an update reached a server with an untrusted certificate")
	}
	assertNoSecret(t, lb, e, ddnstest.Dyndns2Pass)
}

// TestPlainHTTPWarns: http:// works because the URL says so, and says it is unencrypted.
func TestPlainHTTPWarns(t *testing.T) {
	srv := ddnstest.NewDyndns2Server(t, false, ddnstest.Dyndns2User, ddnstest.Dyndns2Pass, ddnstest.Dyndns2Host)
	logger, lb := newLogger(t)
	entry := provider.Entry{Provider: "dyndns2", Hostname: ddnstest.Dyndns2Host, Settings: &dyndns2.Settings{Server: srv.URL, Username: ddnstest.Dyndns2User, PasswordFile: writeSecret(t, ddnstest.Dyndns2Pass)}}
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), testUA, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lb.String(), "plain http") {
		t.Errorf("no warning about plain http in %q", lb.String())
	}
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, lb, e, ddnstest.Dyndns2Pass)
}

// TestSecretFileModeWarns: a password file others can read draws a warning naming the file, not its content.
func TestSecretFileModeWarns(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	if err := os.Chmod(s.Dyn().PasswordFile, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Engine(t)
	if !strings.Contains(s.Log.String(), "readable by group or others") || !strings.Contains(s.Log.String(), s.Dyn().PasswordFile) {
		t.Errorf("no warning about a world-readable secret file: %s", s.Log.String())
	}
}

// TestSecretFileRefused: a FIFO as password_file is an error from New at once (it used to block the daemon
// before it applied anything, and on SIGHUP for good); a 1 GB file is refused before it is read.
func TestSecretFileRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<30); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{fifo: "is a FIFO, not a regular file", huge: "more than the limit of 4096"} {
		s := ddnstest.NewDyndns2Setup(t)
		s.Dyn().PasswordFile = file
		_, err := ddns.New([]provider.Entry{s.Entry}, t.TempDir(), testUA, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with %s: %v, want %q", file, err, want)
		}
	}
}

// TestStatusJSON pins the field names `hairpin status` shows.
func TestStatusJSON(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	s.Srv.Queue("abuse")
	force(t, e, addrA)
	b, err := json.Marshal(e.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"hostname":"home.example.net"`, `"provider":"dyndns2"`, `"held":true`, `"answer":"abuse"`, `"reason":"abuse: `, `"state_file":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("status JSON %s lacks %s", b, k)
		}
	}
	if strings.Contains(string(b), "last_sent") || strings.Contains(string(b), "next_retry") {
		t.Errorf("zero times should be left out: %s", b)
	}
}

// TestNonIPv4Ignored: the engine keeps A records; an IPv6 address is not sent anywhere.
func TestNonIPv4Ignored(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	if err := force(t, e, netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Fatal("an IPv6 address was accepted")
	}
	if err := force(t, e, netip.MustParseAddr("::ffff:203.0.113.10")); err != nil {
		t.Fatal(err)
	}
	if r := s.Srv.Requests(); len(r) != 1 || r[0].MyIP != "203.0.113.10" {
		t.Fatalf("requests = %+v", r)
	}
}

// TestStatusDuringSlowUpdate: status answers while a provider takes its time.
func TestStatusDuringSlowUpdate(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Srv.Gate, s.Srv.Arrived = make(chan struct{}), make(chan struct{}, 1)
	e := s.Engine(t)
	runEngine(t, e)
	e.SetAddress(addrA)
	<-s.Srv.Arrived
	done := make(chan []ddns.HostStatus)
	go func() { done <- e.Status() }()
	select {
	case st := <-done:
		if st[0].LastAddress != "" {
			t.Errorf("status shows %s before the provider answered", st[0].LastAddress)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Status blocked behind an update in flight")
	}
	close(s.Srv.Gate)
	poll.Wait(t, "update", func() bool { return e.Status()[0].LastAddress == addrA.String() })
}
