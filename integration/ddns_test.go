package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// startNamed runs a real BIND 9 primary for example.net on the lab's internet host (203.0.113.1:53), accepting
// DNS UPDATE signed with a fresh TSIG key (lab.StartDNSWithKey). It returns the key's secret.
func startNamed(t *testing.T, topo *lab.Topology) string {
	t.Helper()
	if _, err := exec.LookPath("named"); err != nil {
		t.Skip("BIND's named is not installed (apt-get install bind9)")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.StdEncoding.EncodeToString(raw)
	s, err := topo.StartDNSWithKey(context.Background(), t.TempDir(), time.Minute, nil, "hairpin-key", secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop) // before its directory goes
	return secret
}

// lookupA asks the lab's BIND server from inside namespace ns, with a real DNS query.
func lookupA(ns, name string) ([]string, error) {
	conn, err := netns.Dialer(ns)(context.Background(), "udp4", "203.0.113.1:53")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}

// TestDaemonUpdatesDNS: the daemon keeps home.example.net on the WAN address in a real BIND server, driven by
// the same address events that move the forwards; the time from the address change to BIND serving the new
// record is logged.
func TestDaemonUpdatesDNS(t *testing.T) {
	t.Parallel()
	topo := newLab(t, lab.Options{})
	secret := startNamed(t, topo)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "tsig.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, sock := daemonConfig(t, topo, fmt.Sprintf(`ddns:
  - provider: rfc2136
    server: 203.0.113.1:53
    zone: example.net
    hostname: home.example.net
    tsig_key: hairpin-key
    tsig_algorithm: hmac-sha256
    tsig_secret_file: %s
    ttl: 60
`, secretFile))
	d := startDaemon(t, topo, cfg, sock)
	waitRecord(t, topo, "203.0.113.10", 15*time.Second)

	var took []time.Duration
	addrs := []string{"203.0.113.10", "203.0.113.11"}
	for i := 0; i < 5; i++ {
		old, next := addrs[i%2], addrs[(i+1)%2]
		mustIP(t, topo, topo.Router, "addr del "+old+"/24 dev wan0", "addr add "+next+"/24 dev wan0")
		start := time.Now()
		waitRecord(t, topo, next, 10*time.Second)
		took = append(took, time.Since(start))
	}
	t.Logf("WAN address change to new A record served by BIND: %v", took)

	st := d.waitStatus(t, "the DNS status", func(s *daemon.Status) bool { return strings.Contains(fmt.Sprint(s.DDNS), "203.0.113.11") })
	if strings.Contains(d.log.String(), secret) || strings.Contains(fmt.Sprint(st), secret) {
		t.Error("the TSIG secret appears in the daemon's log or status")
	}
}

func waitRecord(t *testing.T, topo *lab.Topology, want string, within time.Duration) {
	t.Helper()
	var got []string
	var err error
	if poll.Until(context.Background(), within, func() bool {
		got, err = lookupA(topo.Router, "home.example.net")
		return err == nil && len(got) == 1 && got[0] == want
	}) != nil {
		t.Fatalf("home.example.net never became %s in BIND (last answer %v, %v)", want, got, err)
	}
}

// dyndnsRecorder is a dyndns2 server (GET /nic/update, basic auth, "good ADDR") on the lab's internet host
// that, like Go's and most servers by default, keeps idle keep-alive connections open indefinitely.
type dyndnsRecorder struct {
	mu   sync.Mutex
	reqs []dyndnsHit
}

type dyndnsHit struct {
	at     time.Time
	myip   string
	remote string
}

func (s *dyndnsRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if r.URL.Path != "/nic/update" || !ok || u != "me" || p != "s3cret-dyn" {
		fmt.Fprintln(w, "badauth")
		return
	}
	ip := r.URL.Query().Get("myip")
	s.mu.Lock()
	s.reqs = append(s.reqs, dyndnsHit{time.Now(), ip, r.RemoteAddr})
	s.mu.Unlock()
	fmt.Fprintln(w, "good "+ip)
}

// first returns the first request for myip, if any.
func (s *dyndnsRecorder) first(myip string) (dyndnsHit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.reqs {
		if h.myip == myip {
			return h, true
		}
	}
	return dyndnsHit{}, false
}

func startDyndns(t *testing.T, topo *lab.Topology) *dyndnsRecorder {
	t.Helper()
	l, err := netns.Listen(topo.Internet, "tcp4", "203.0.113.1:8245")
	if err != nil {
		t.Fatal(err)
	}
	rec := &dyndnsRecorder{}
	srv := &http.Server{Handler: rec} // no IdleTimeout: idle connections stay open
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return rec
}

// TestDaemonDyndns2AfterWANChange: the daemon's dyndns2 update after a WAN address change arrives at once,
// although the server keeps the keep-alive connection made from the old address open. The negative control
// shows such a connection stalls: a client that keeps it gets no answer within 2 s.
func TestDaemonDyndns2AfterWANChange(t *testing.T) {
	t.Parallel()
	topo := newLab(t, lab.Options{})
	rec := startDyndns(t, topo)
	pw := filepath.Join(t.TempDir(), "dyn.pw")
	if err := os.WriteFile(pw, []byte("s3cret-dyn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, sock := daemonConfig(t, topo, fmt.Sprintf(`ddns:
  - provider: dyndns2
    server: http://203.0.113.1:8245
    hostname: home.example.net
    username: me
    password_file: %s
`, pw))
	d := startDaemon(t, topo, cfg, sock)
	if err := poll.Until(context.Background(), 15*time.Second, func() bool { _, ok := rec.first("203.0.113.10"); return ok }); err != nil {
		t.Fatal("the first update never arrived")
	}
	d.waitStatus(t, "first update recorded", func(s *daemon.Status) bool { return strings.Contains(fmt.Sprint(s.DDNS), "good 203.0.113.10") })

	// The negative control's client, with an idle keep-alive connection from the old address too.
	stale := &http.Client{Transport: &http.Transport{DialContext: netns.Dialer(topo.Router)}}
	get := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://203.0.113.1:8245/nic/update?myip=control", nil)
		req.SetBasicAuth("me", "s3cret-dyn")
		resp, err := stale.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := get(5 * time.Second); err != nil {
		t.Fatalf("control request before the change: %v", err)
	}

	mustIP(t, topo, topo.Router, "addr del 203.0.113.10/24 dev wan0", "addr add 203.0.113.11/24 dev wan0")
	start := time.Now()
	if err := poll.Until(context.Background(), 90*time.Second, func() bool { _, ok := rec.first("203.0.113.11"); return ok }); err != nil {
		t.Fatalf("the update for the new address never arrived:\n%s", d.log.String())
	}
	hit, _ := rec.first("203.0.113.11")
	took := hit.at.Sub(start)
	t.Logf("WAN address change to the dyndns2 update arriving: %v (from %s)", took, hit.remote)
	// Not a speed goal (a loaded CI machine may take a second): an update sent on the stale connection would
	// hang until ddns.UpdateTimeout (60 s) and then back off, so 10 s tells the two apart with room to spare.
	if took > 10*time.Second {
		t.Errorf("the update arrived %v after the WAN change: it waited for a stale connection or a backoff", took)
	}
	if !strings.HasPrefix(hit.remote, "203.0.113.11:") {
		t.Errorf("the update came from %s, not over a new connection from the new address", hit.remote)
	}
	st := d.waitStatus(t, "second update recorded", func(s *daemon.Status) bool { return strings.Contains(fmt.Sprint(s.DDNS), "good 203.0.113.11") })
	if strings.Contains(d.log.String(), "s3cret-dyn") || strings.Contains(fmt.Sprint(st), "s3cret-dyn") {
		t.Error("the password appears in the daemon's log or status")
	}

	// Negative control: the kept connection is bound to the removed address and stalls.
	if err := get(2 * time.Second); err == nil {
		t.Error("a request on a keep-alive connection from the removed address was answered; the test proves nothing")
	} else {
		t.Logf("negative control: a request on the kept connection: %v", err)
	}
}
