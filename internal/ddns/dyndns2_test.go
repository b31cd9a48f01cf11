package ddns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// dyndnsServer follows the DynDNS "Remote Access Update API" as documented by Dyn (help.dyn.com, "Perform
// Update" and "Return Codes"): GET /nic/update?hostname=H&myip=A with HTTP basic auth and a User-Agent that
// names the client; the body is a return code: "good A" when the address changed, "nochg A" when it did not,
// else badauth, !donator, notfqdn, nohost, numhost, abuse, badagent, dnserr or 911. A test may queue answers
// to force any of them.
//
// IPv6 follows the providers' extensions: the AAAA address as a second entry of myip (myip=A,AAAA, the comma
// list of the dstapp/docker-ddns server, github.com/dstapp/docker-ddns/issues/46) or in myipv6 (Dynu's
// api.dynu.com/nic/update?hostname=&myip=&myipv6=, quoted in the same issue; No-IP's
// https://www.noip.com/integrate/request updates A and AAAA "individually or dual-stacked"). A family left out
// of a request is not left alone, as deSEC's dyndns documentation (desec-stack docs, "Determine IP Addresses")
// spells out: a missing IPv4 address is the caller's, a missing IPv6 address deletes the AAAA record.
type dyndnsServer struct {
	*httptest.Server
	user, pass string
	hosts      map[string]bool

	// gate, when set, holds every request until it is closed; arrived tells the test one is waiting.
	gate, arrived chan struct{}

	mu       sync.Mutex
	queue    []string
	records  map[string]string
	records6 map[string]string
	reqs     []dyndnsReq
}

type dyndnsReq struct {
	host, myip, ua string
	myipv6         string
	remote         string // the client's address and port: one per connection
	authOK         bool
}

func newDyndnsServer(t *testing.T, tls bool, user, pass string, hosts ...string) *dyndnsServer {
	s := &dyndnsServer{user: user, pass: pass, hosts: map[string]bool{}, records: map[string]string{}, records6: map[string]string{}}
	for _, h := range hosts {
		s.hosts[h] = true
	}
	if tls {
		s.Server = httptest.NewTLSServer(http.HandlerFunc(s.handle))
	} else {
		s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	}
	t.Cleanup(s.Close)
	return s
}

func (s *dyndnsServer) handle(w http.ResponseWriter, r *http.Request) {
	if s.gate != nil {
		s.arrived <- struct{}{}
		<-s.gate
	}
	if r.URL.Path != "/nic/update" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	u, p, ok := r.BasicAuth()
	q := r.URL.Query()
	req := dyndnsReq{host: q.Get("hostname"), myip: q.Get("myip"), myipv6: q.Get("myipv6"), ua: r.UserAgent(), remote: r.RemoteAddr, authOK: ok && u == s.user && p == s.pass}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	if len(s.queue) > 0 {
		a := s.queue[0]
		s.queue = s.queue[1:]
		if a == "ABORT" {
			panic(http.ErrAbortHandler) // the connection breaks without an answer
		}
		if a == "HTTP500" {
			http.Error(w, "<html>Internal Server Error</html>", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, a)
		return
	}
	switch {
	case !req.authOK:
		fmt.Fprintln(w, "badauth")
	case !strings.Contains(req.host, "."):
		fmt.Fprintln(w, "notfqdn")
	case !s.hosts[req.host]:
		fmt.Fprintln(w, "nohost")
	default:
		v4, v6 := "", req.myipv6
		for _, a := range strings.Split(req.myip, ",") {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
				v4 = a
			} else if err == nil {
				v6 = a
			}
		}
		if v4 == "" {
			v4, _, _ = strings.Cut(r.RemoteAddr, ":")
		}
		echo := req.myip
		if echo == "" {
			echo = v4
		}
		same := s.records[req.host] == v4 && s.records6[req.host] == v6
		s.records[req.host] = v4
		if v6 == "" {
			delete(s.records6, req.host)
		} else {
			s.records6[req.host] = v6
		}
		if same {
			fmt.Fprintln(w, "nochg "+echo)
		} else {
			fmt.Fprintln(w, "good "+echo)
		}
	}
}

func (s *dyndnsServer) Requests() []dyndnsReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dyndnsReq(nil), s.reqs...)
}

func (s *dyndnsServer) Queue(answers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, answers...)
}

const (
	dynUser   = "me"
	dynPass   = "s3cret-Pa55word!"
	dynHost   = "home.example.net"
	dynPassV2 = "an0ther-Pa55word!"
)

type dynSetup struct {
	srv   *dyndnsServer
	entry provider.Entry
	dir   string
	clock *fakeClock
	log   *logBuf
}

// dyn is the entry's dyndns2 settings, for a test to change.
func (s *dynSetup) dyn() *dyndns2.Settings { return s.entry.Settings.(*dyndns2.Settings) }

func newDynSetup(t *testing.T) *dynSetup {
	srv := newDyndnsServer(t, true, dynUser, dynPass, dynHost)
	return &dynSetup{
		srv:   srv,
		entry: provider.Entry{Provider: "dyndns2", Hostname: dynHost, Settings: &dyndns2.Settings{Server: srv.URL, Username: dynUser, PasswordFile: writeSecret(t, dynPass)}},
		dir:   t.TempDir(),
		clock: newFakeClock(),
	}
}

func (s *dynSetup) engine(t *testing.T) *ddns.Engine {
	t.Helper()
	logger, lb := newLogger(t)
	s.log = lb
	e, err := ddns.New([]provider.Entry{s.entry}, s.dir, testUA, logger,
		ddns.WithHTTPClient(s.srv.Client()), ddns.WithClock(s.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { assertNoSecret(t, lb, e, dynPass, dynPassV2) })
	return e
}

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
	addrC = netip.MustParseAddr("198.51.100.7")
)

func force(t *testing.T, e *ddns.Engine, addr netip.Addr) error { return ddnstest.Force(t, e, addr) }

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
			s := newDynSetup(t)
			e := s.engine(t)
			s.srv.Queue(answer)
			err := force(t, e, addrA)
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
			if got := st.NextRetry.Sub(s.clock.Now()); w.wait != 0 && got != w.wait {
				t.Errorf("next retry in %v, want %v", got, w.wait)
			}
			if w.held && !strings.Contains(s.log.String(), "UPDATES HELD") {
				t.Errorf("a hold was not logged loudly")
			}
			// A second forced update must not reach the server while held or asked to wait.
			if !w.ok {
				n := len(s.srv.Requests())
				if err := force(t, e, addrB); err == nil {
					t.Errorf("forced update after %q succeeded", answer)
				}
				if got := len(s.srv.Requests()); got != n {
					t.Errorf("forced update after %q reached the server", answer)
				}
			}
		})
	}
}

// TestDyndns2Request checks what goes on the wire: path, parameters, basic auth and the User-Agent.
func TestDyndns2Request(t *testing.T) {
	s := newDynSetup(t)
	e := s.engine(t)
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	reqs := s.srv.Requests()
	want := dyndnsReq{host: dynHost, myip: addrA.String(), ua: testUA, authOK: true}
	if len(reqs) == 1 {
		reqs[0].remote = ""
	}
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("requests = %+v, want [%+v]", reqs, want)
	}
	if st := e.Status()[0]; st.Answer != "good 203.0.113.10" || st.LastSent != s.clock.Now() {
		t.Errorf("status = %+v", st)
	}
}

// TestDyndns2OneUpdatePerChange runs the engine, changes the address a few times, restarts it, and checks that
// the server saw exactly one request per distinct address, none repeated after the restart.
func TestDyndns2OneUpdatePerChange(t *testing.T) {
	s := newDynSetup(t)
	e := s.engine(t)
	stop := runEngine(t, e)
	seq := []netip.Addr{addrA, addrA, addrB, addrB, addrC}
	var want []string
	for _, a := range seq {
		e.SetAddress(a)
		if len(want) == 0 || want[len(want)-1] != a.String() {
			want = append(want, a.String())
		}
		poll.Wait(t, "update of "+a.String(), func() bool { return len(s.srv.Requests()) == len(want) })
		// The server has it; wait for the engine to have read the answer before changing again or stopping.
		poll.Wait(t, "success recorded", func() bool { return e.Status()[0].LastAddress == a.String() })
	}
	stop()

	// A restart with the same address sends nothing; the next change is the very next request.
	e2 := s.engine(t)
	runEngine(t, e2)
	e2.SetAddress(addrC)
	e2.SetAddress(addrA)
	want = append(want, addrA.String())
	poll.Wait(t, "update after restart", func() bool { return len(s.srv.Requests()) >= len(want) })
	var got []string
	for _, r := range s.srv.Requests() {
		got = append(got, r.myip)
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
	s := newDynSetup(t)
	e := s.engine(t)
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	e2 := s.engine(t)
	e2.SetAddress(addrA)
	runEngine(t, e2)
	// Whether the worker looks before or after the forced update, it finds nothing to send.
	if err := e2.ForceUpdate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.srv.Requests()); n != 2 {
		t.Fatalf("server saw %d requests, want 2 (the first update and the forced one)", n)
	}
	if st := e2.Status()[0]; st.Answer != "nochg "+addrA.String() {
		t.Errorf("forced answer = %q", st.Answer)
	}
}

// TestDyndns2HoldSurvivesRestartUntilConfigChanges: badauth holds; a restart keeps the hold; changing the
// password file lifts it.
func TestDyndns2HoldSurvivesRestartUntilConfigChanges(t *testing.T) {
	s := newDynSetup(t)
	s.dyn().PasswordFile = writeSecret(t, dynPassV2) // wrong password
	e := s.engine(t)
	if err := force(t, e, addrA); !provider.IsAuth(err) {
		t.Fatalf("err = %v, want an auth failure", err)
	}
	e2 := s.engine(t)
	if st := e2.Status()[0]; !st.Held || !strings.Contains(st.Reason, "badauth") {
		t.Fatalf("after restart status = %+v, want held for badauth", st)
	}
	if !strings.Contains(s.log.String(), "UPDATES HELD") {
		t.Errorf("a hold found at start was not logged loudly")
	}
	if err := force(t, e2, addrB); !provider.IsHold(err) {
		t.Fatalf("err = %v, want the hold", err)
	}
	if n := len(s.srv.Requests()); n != 1 {
		t.Fatalf("server saw %d requests while held, want 1", n)
	}
	s.dyn().PasswordFile = writeSecret(t, dynPass)
	e3 := s.engine(t)
	if st := e3.Status()[0]; st.Held {
		t.Fatalf("hold not lifted by a config change: %+v", st)
	}
	if err := force(t, e3, addrB); err != nil {
		t.Fatal(err)
	}
}

// TestDyndns2RetryLaterWaits30Minutes: after dnserr the worker sends nothing for 30 minutes, whatever the
// address does, then sends once.
func TestDyndns2RetryLaterWaits30Minutes(t *testing.T) {
	s := newDynSetup(t)
	e := s.engine(t)
	s.srv.Queue("dnserr")
	runEngine(t, e)
	e.SetAddress(addrA)
	poll.Wait(t, "first request", func() bool { return len(s.srv.Requests()) == 1 })
	poll.Wait(t, "worker waiting", func() bool { return s.clock.Afters() >= 1 })
	n := s.clock.Afters()
	e.SetAddress(addrB) // a change during the pause must not cut it short
	poll.Wait(t, "worker waiting again", func() bool { return s.clock.Afters() > n })
	s.clock.Advance(29*time.Minute + 59*time.Second)
	if n := len(s.srv.Requests()); n != 1 {
		t.Fatalf("%d requests before 30 minutes passed", n)
	}
	s.clock.Advance(time.Second)
	poll.Wait(t, "retry after 30 minutes", func() bool { return len(s.srv.Requests()) == 2 })
	poll.Wait(t, "success recorded", func() bool { return e.Status()[0].LastAddress == addrB.String() })
	if got := s.srv.Requests()[1].myip; got != addrB.String() {
		t.Errorf("retry sent %s, want the latest address %s", got, addrB)
	}
}

// TestNetworkErrorsBackOff: a server that is gone gives transient errors, retried after growing, jittered
// waits, and the first success after that resets them.
func TestNetworkErrorsBackOff(t *testing.T) {
	s := newDynSetup(t)
	s.srv.Close() // every request now fails to connect
	e := s.engine(t)
	err := force(t, e, addrA)
	if !errors.Is(err, provider.ErrTransient) || provider.IsHold(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	prev := time.Duration(0)
	for i := 1; i <= 8; i++ {
		st := e.Status()[0]
		wait := st.NextRetry.Sub(s.clock.Now())
		hi := min(ddns.BackoffBase<<(i-1), ddns.BackoffMax)
		if wait < hi/2 || wait > hi {
			t.Fatalf("failure %d: wait %v outside [%v, %v]", i, wait, hi/2, hi)
		}
		if i > 1 && hi < ddns.BackoffMax && wait < prev/2 {
			t.Fatalf("failure %d: wait %v shrank from %v", i, wait, prev)
		}
		prev = wait
		s.clock.Advance(wait)
		e.ForceUpdate(context.Background())
	}
	if st := e.Status()[0]; st.Held || st.LastError == "" {
		t.Errorf("status = %+v", st)
	}
}

// TestCertificatesAreVerified: the engine's own client does not trust httptest's certificate.
func TestCertificatesAreVerified(t *testing.T) {
	s := newDynSetup(t)
	logger, lb := newLogger(t)
	e, err := ddns.New([]provider.Entry{s.entry}, s.dir, testUA, logger)
	if err != nil {
		t.Fatal(err)
	}
	err = force(t, e, addrA)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	if len(s.srv.Requests()) != 0 {
		t.Fatal("an update reached a server with an untrusted certificate")
	}
	assertNoSecret(t, lb, e, dynPass)
}

// TestPlainHTTPWarns: http:// works because the URL says so, and says it is unencrypted.
func TestPlainHTTPWarns(t *testing.T) {
	srv := newDyndnsServer(t, false, dynUser, dynPass, dynHost)
	logger, lb := newLogger(t)
	entry := provider.Entry{Provider: "dyndns2", Hostname: dynHost, Settings: &dyndns2.Settings{Server: srv.URL, Username: dynUser, PasswordFile: writeSecret(t, dynPass)}}
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
	assertNoSecret(t, lb, e, dynPass)
}

// TestSecretFileModeWarns: a password file others can read draws a warning naming the file, not its content.
func TestSecretFileModeWarns(t *testing.T) {
	s := newDynSetup(t)
	if err := os.Chmod(s.dyn().PasswordFile, 0o644); err != nil {
		t.Fatal(err)
	}
	s.engine(t)
	if !strings.Contains(s.log.String(), "readable by group or others") || !strings.Contains(s.log.String(), s.dyn().PasswordFile) {
		t.Errorf("no warning about a world-readable secret file: %s", s.log.String())
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
		s := newDynSetup(t)
		s.dyn().PasswordFile = file
		_, err := ddns.New([]provider.Entry{s.entry}, t.TempDir(), testUA, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with %s: %v, want %q", file, err, want)
		}
	}
}

// TestStatusJSON pins the field names `hairpin status` shows.
func TestStatusJSON(t *testing.T) {
	s := newDynSetup(t)
	e := s.engine(t)
	s.srv.Queue("abuse")
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
	s := newDynSetup(t)
	e := s.engine(t)
	if err := force(t, e, netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Fatal("an IPv6 address was accepted")
	}
	if err := force(t, e, netip.MustParseAddr("::ffff:203.0.113.10")); err != nil {
		t.Fatal(err)
	}
	if r := s.srv.Requests(); len(r) != 1 || r[0].myip != "203.0.113.10" {
		t.Fatalf("requests = %+v", r)
	}
}

// TestStatusDuringSlowUpdate: status answers while a provider takes its time.
func TestStatusDuringSlowUpdate(t *testing.T) {
	s := newDynSetup(t)
	s.srv.gate, s.srv.arrived = make(chan struct{}), make(chan struct{}, 1)
	e := s.engine(t)
	runEngine(t, e)
	e.SetAddress(addrA)
	<-s.srv.arrived
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
	close(s.srv.gate)
	poll.Wait(t, "update", func() bool { return e.Status()[0].LastAddress == addrA.String() })
}
