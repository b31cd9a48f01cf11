package ddns_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// bindServer is a real BIND 9 primary for example.net with a TSIG key allowed to update the zone, started by
// the test in a network namespace of its own (as root), or else on a loopback port of its own.
type bindServer struct {
	addr    string // ip:port
	ns      string // network namespace; "" on loopback
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	key     string
	secret  string
	logMu   sync.Mutex
	log     bytes.Buffer
	process *os.Process
}

func (b *bindServer) Write(p []byte) (int, error) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.Write(p)
}

func (b *bindServer) Log() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

const bindZone = `$TTL 60
@   IN SOA ns.example.net. admin.example.net. 1 3600 600 86400 60
@   IN NS  ns.example.net.
ns  IN A   192.0.2.53
`

// newNetns makes a network namespace with a unique name, its loopback up and 192.0.2.53 on it, and removes it
// when the test ends, even on failure.
func newNetns(t *testing.T, ipCmd string) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "hpddns-" + hex.EncodeToString(b[:])
	if out, err := exec.Command(ipCmd, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ipCmd, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "192.0.2.53/32", "dev", "lo"}} {
		if out, err := exec.Command(ipCmd, append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	return name
}

// freeLoopback picks a port free for both TCP and UDP on 127.0.0.1, so that parallel test runs do not meet.
// (named listens only on addresses configured on an interface, so a random 127.x.y.z will not do.)
func freeLoopback(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatal("no free loopback port")
	return ""
}

func startBIND(t *testing.T) *bindServer {
	t.Helper()
	named, err := exec.LookPath("named")
	if err != nil {
		if named, err = exec.LookPath("/usr/sbin/named"); err != nil {
			t.Skip("BIND's named is not installed (apt-get install bind9)")
		}
	}
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	b := &bindServer{key: "hairpin-key", secret: base64.StdEncoding.EncodeToString(secret)}
	var prefix []string
	if ipCmd, err := exec.LookPath("ip"); err == nil && os.Geteuid() == 0 {
		b.ns, b.addr = newNetns(t, ipCmd), "192.0.2.53:53"
		b.dial = netns.Dialer(b.ns)
		prefix = []string{ipCmd, "netns", "exec", b.ns}
	} else {
		t.Log("not root: BIND listens on a loopback port instead of in a namespace of its own")
		b.addr = freeLoopback(t)
	}
	ip, port, _ := net.SplitHostPort(b.addr)
	conf := fmt.Sprintf(`key "%s" { algorithm hmac-sha256; secret "%s"; };
options {
	directory "%[3]s";
	pid-file "%[3]s/named.pid";
	session-keyfile "%[3]s/session.key";
	managed-keys-directory "%[3]s";
	listen-on port %[4]s { %[5]s; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
zone "example.net" { type primary; file "%[3]s/example.net.zone"; allow-update { key "%[1]s"; }; };
`, b.key, b.secret, dir, port, ip)
	for name, data := range map[string]string{"named.conf": conf, "example.net.zone": bindZone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-g", "-c", filepath.Join(dir, "named.conf")}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // stay root: the temp dir is root's
	}
	args = append(append(prefix, named), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = b, b
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.process = cmd.Process
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		b.process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("named log:\n%s", b.Log())
		}
	})
	dead := false
	err = poll.Until(context.Background(), 15*time.Second, func() bool {
		select {
		case <-exited:
			dead = true
			return true
		default:
		}
		_, err := b.query("example.net.", dns.TypeSOA)
		return err == nil
	})
	if dead {
		t.Fatalf("named exited during start:\n%s", b.Log())
	}
	if err != nil {
		t.Fatalf("named did not answer: %v\n%s", err, b.Log())
	}
	return b
}

// query asks the server directly, with a real DNS query over UDP.
func (b *bindServer) query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	c := &dns.Client{Timeout: time.Second}
	var r *dns.Msg
	var err error
	if b.dial == nil {
		r, _, err = c.Exchange(m, b.addr)
	} else {
		var conn net.Conn
		if conn, err = b.dial(context.Background(), "udp", b.addr); err != nil {
			return nil, err
		}
		defer conn.Close()
		r, _, err = c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
	}
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return r, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	return r, nil
}

// lookupA returns the A records of name, sorted as the server gives them.
func (b *bindServer) lookupA(t *testing.T, name string) []string {
	t.Helper()
	r, err := b.query(dns.Fqdn(name), dns.TypeA)
	if err != nil {
		if r != nil && r.Rcode == dns.RcodeNameError {
			return nil
		}
		t.Fatalf("query %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// options let the engine reach the server wherever it runs.
func (b *bindServer) options() []ddns.Option {
	if b.dial == nil {
		return nil
	}
	return []ddns.Option{ddns.WithDialer(b.dial)}
}

func (b *bindServer) entry(t *testing.T, secret string) config.DDNS {
	return config.DDNS{Provider: "rfc2136", Server: b.addr, Zone: "example.net", Hostname: "home.example.net",
		TSIGKey: b.key, TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: writeSecret(t, secret), TTL: 60}
}

// TestRFC2136AgainstBIND: the record follows the address, checked by querying BIND; 20 changes measure the
// time from SetAddress to the new record being served.
func TestRFC2136AgainstBIND(t *testing.T) {
	b := startBIND(t)
	logger, lb := newLogger(t)
	// The secret file holds the key clause as tsig-keygen prints it, the same file BIND includes.
	entry := b.entry(t, fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};", b.key, b.secret))
	e, err := ddns.New([]config.DDNS{entry}, t.TempDir(), testUA, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { assertNoSecret(t, lb, e, b.secret) })
	runEngine(t, e)

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
		len(lat), percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 1))
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
		modify func(*config.DDNS)
		auth   bool
	}{
		{"wrong secret", func(e *config.DDNS) { e.TSIGSecretFile = writeSecret(t, wrongSecret) }, true},
		{"unknown key", func(e *config.DDNS) { e.TSIGKey = "nobody-key" }, true},
		{"wrong algorithm", func(e *config.DDNS) { e.TSIGAlgorithm = "hmac-sha512" }, true},
		{"zone not served", func(e *config.DDNS) { e.Zone, e.Hostname = "example.org", "home.example.org" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			entry := b.entry(t, b.secret)
			c.modify(&entry)
			logger, lb := newLogger(t)
			e, err := ddns.New([]config.DDNS{entry}, t.TempDir(), testUA, logger, b.options()...)
			if err != nil {
				t.Fatal(err)
			}
			e.SetAddress(addrC)
			err = e.ForceUpdate(context.Background())
			if !ddns.IsHold(err) || ddns.IsAuth(err) != c.auth {
				t.Fatalf("err = %v; want hold, auth %v", err, c.auth)
			}
			t.Logf("refused as wanted: %v", err)
			if st := e.Status()[0]; !st.Held {
				t.Errorf("status = %+v, want held", st)
			}
			if got := b.lookupA(t, "home.example.net"); len(got) != 0 {
				t.Errorf("record changed to %v by a refused update", got)
			}
			assertNoSecret(t, lb, e, b.secret, wrongSecret)
		})
	}
}
