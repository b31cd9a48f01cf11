package ddnstest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// Dyndns2Server follows the DynDNS "Remote Access Update API" as documented by Dyn (help.dyn.com, "Perform
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
type Dyndns2Server struct {
	*httptest.Server
	user, pass string
	hosts      map[string]bool

	// gate, when set, holds every request until it is closed; arrived tells the test one is waiting.
	Gate, Arrived chan struct{}
	// holdAnswer, when set (HoldAnswers), has every request applied and then its answer held until it is
	// closed; applied tells the test one has been.
	holdAnswer, applied chan struct{}
	// Path is where the server answers (default /nic/update); Query, the parameters besides the protocol's
	// that every request must carry (a provider's system=dyndns).
	Path  string
	Query map[string]string

	mu       sync.Mutex
	queue    []string
	records  map[string]string
	records6 map[string]string
	reqs     []Dyndns2Request
}

// Dyndns2Request is one request as the server saw it.
type Dyndns2Request struct {
	Host, MyIP, UA string
	MyIPv6         string
	Remote         string // the client's address and port: one per connection
	AuthOK         bool
}

// NewDyndns2Server serves the protocol for user and pass, with hosts in the account.
func NewDyndns2Server(t *testing.T, tls bool, user, pass string, hosts ...string) *Dyndns2Server {
	s := &Dyndns2Server{user: user, pass: pass, hosts: map[string]bool{}, records: map[string]string{}, records6: map[string]string{}}
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

func (s *Dyndns2Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.Gate != nil {
		s.Arrived <- struct{}{}
		<-s.Gate
	}
	if path := cmp.Or(s.Path, "/nic/update"); r.URL.Path != path || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	for k, v := range s.Query {
		if r.URL.Query().Get(k) != v {
			http.Error(w, "missing "+k, http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	hold, applied := s.holdAnswer, s.applied
	s.mu.Unlock()
	if hold != nil {
		answer := httptest.NewRecorder()
		s.apply(answer, r)
		applied <- struct{}{}
		<-hold
		for k, v := range answer.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(answer.Code)
		_, _ = w.Write(answer.Body.Bytes())
		return
	}
	s.apply(w, r)
}

// apply handles an update request that passed the gate: it records it, changes the records and answers.
func (s *Dyndns2Server) apply(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	q := r.URL.Query()
	req := Dyndns2Request{Host: q.Get("hostname"), MyIP: q.Get("myip"), MyIPv6: q.Get("myipv6"), UA: r.UserAgent(), Remote: r.RemoteAddr, AuthOK: ok && u == s.user && p == s.pass}
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
	case !req.AuthOK:
		fmt.Fprintln(w, "badauth")
	case !strings.Contains(req.Host, "."):
		fmt.Fprintln(w, "notfqdn")
	case !s.hosts[req.Host]:
		fmt.Fprintln(w, "nohost")
	default:
		v4, v6 := "", req.MyIPv6
		for _, a := range strings.Split(req.MyIP, ",") {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
				v4 = a
			} else if err == nil {
				v6 = a
			}
		}
		if v4 == "" {
			v4, _, _ = strings.Cut(r.RemoteAddr, ":")
		}
		echo := req.MyIP
		if echo == "" {
			echo = v4
		}
		same := s.records[req.Host] == v4 && s.records6[req.Host] == v6
		s.records[req.Host] = v4
		if v6 == "" {
			delete(s.records6, req.Host)
		} else {
			s.records6[req.Host] = v6
		}
		if same {
			fmt.Fprintln(w, "nochg "+echo)
		} else {
			fmt.Fprintln(w, "good "+echo)
		}
	}
}

// HoldAnswers makes every request from now on change the records at once but get its answer only when hold
// is closed, as an update does whose answer is lost on the way back; applied hears of each request applied.
func (s *Dyndns2Server) HoldAnswers(hold, applied chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdAnswer, s.applied = hold, applied
}

// Requests returns the requests so far.
func (s *Dyndns2Server) Requests() []Dyndns2Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dyndns2Request(nil), s.reqs...)
}

// Queue makes the next requests get answers, in order: a return code line, "ABORT" (the connection breaks)
// or "HTTP500".
func (s *Dyndns2Server) Queue(answers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, answers...)
}

// Record returns the A and AAAA record the server holds for host ("" for none).
func (s *Dyndns2Server) Record(host string) (a, aaaa string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[host], s.records6[host]
}

// Sent is the request's addresses: myip, then "+" and myipv6 when given.
func (r Dyndns2Request) Sent() string {
	if r.MyIPv6 != "" {
		return r.MyIP + "+" + r.MyIPv6
	}
	return r.MyIP
}

// The account of a Dyndns2Setup.
const (
	Dyndns2User   = "me"
	Dyndns2Pass   = "s3cret-Pa55word!"
	Dyndns2Host   = "home.example.net"
	Dyndns2PassV2 = "an0ther-Pa55word!"
)

// Dyndns2Setup is an engine with one dyndns2 entry against a Dyndns2Server, for tests of the engine and of
// dyndns2 alike.
type Dyndns2Setup struct {
	Srv   *Dyndns2Server
	Entry provider.Entry
	Dir   string
	Clock *FakeClock
	Log   *LogBuf
}

// Dyn is the entry's dyndns2 settings, for a test to change.
func (s *Dyndns2Setup) Dyn() *dyndns2.Settings { return s.Entry.Settings.(*dyndns2.Settings) }

// NewDyndns2Setup serves Dyndns2Host for Dyndns2User over TLS.
func NewDyndns2Setup(t *testing.T) *Dyndns2Setup {
	srv := NewDyndns2Server(t, true, Dyndns2User, Dyndns2Pass, Dyndns2Host)
	return &Dyndns2Setup{
		Srv:   srv,
		Entry: provider.Entry{Provider: "dyndns2", Hostname: Dyndns2Host, Settings: &dyndns2.Settings{Server: srv.URL, Username: Dyndns2User, PasswordFile: WriteSecret(t, Dyndns2Pass)}},
		Dir:   t.TempDir(),
		Clock: NewFakeClock(),
	}
}

// Engine builds the engine; its log goes to s.Log, which is checked for the passwords when the test ends.
func (s *Dyndns2Setup) Engine(t *testing.T) *ddns.Engine {
	t.Helper()
	logger, lb := NewLogger(t)
	s.Log = lb
	e, err := ddns.New([]provider.Entry{s.Entry}, s.Dir, UserAgent, logger,
		ddns.WithHTTPClient(webtest.ClientOf(s.Srv)), ddns.WithClock(s.Clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { AssertNoSecret(t, lb, e, Dyndns2Pass, Dyndns2PassV2) })
	return e
}
