package rfc2136_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
	"github.com/hairpin-nat/hairpin/internal/lab/bind"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// dnsServer is a real primary DNS server for example.net (BIND, Knot or PowerDNS, as Debian ships them) with a
// TSIG key allowed to update the zone, started by the test in a network namespace of its own (as root), or else
// on a loopback port of its own, and killed by its PID when the test ends.
type dnsServer struct {
	kind    string // named, knotd, pdns_server
	addr    string // ip:port
	ns      string // network namespace; "" on loopback
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	key     string
	secret  string
	dir     string
	clock   string // libfaketime's FAKETIME_TIMESTAMP_FILE when the server runs on a shifted clock
	logMu   sync.Mutex
	log     bytes.Buffer
	process *os.Process
}

func (b *dnsServer) Write(p []byte) (int, error) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.Write(p)
}

func (b *dnsServer) Log() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// The zone every server starts with: alias is a CNAME, for the test that points an update at one.
const (
	zoneSOA   = "ns.example.net. admin.example.net. 1 3600 600 86400 60"
	zoneAlias = "other.example.net."
	zoneOther = "198.51.100.1"
)

func zoneFile(nsAddr string) string {
	return fmt.Sprintf("$TTL 60\n@ IN SOA %s\n@ IN NS ns.example.net.\nns IN A %s\nalias IN CNAME %s\nother IN A %s\n",
		zoneSOA, nsAddr, zoneAlias, zoneOther)
}

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
// (the servers listen only on addresses configured on an interface, so a random 127.x.y.z will not do.)
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

func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skipf("%s is not installed (scripts/deps-test.sh installs %s)", name, pkg)
	return ""
}

// libfaketime finds Debian's libfaketime, which shifts the clock of the one process it is preloaded into.
func libfaketime(t *testing.T) string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
	if len(m) == 0 {
		t.Skip("libfaketime is not installed (scripts/deps-test.sh installs faketime)")
	}
	return m[0]
}

// serverOpts shape a server.
type serverOpts struct {
	// skew, when set, starts the server under libfaketime with its clock this far ahead; setClock changes it
	// while the server runs.
	skew time.Duration
	// algorithms, when set, adds a key per TSIG algorithm, named ALG-key (hmac-sha1-key...), with the same
	// secret and the same right to update the zone (Knot and PowerDNS).
	algorithms []string
}

func newDNSServer(t *testing.T, kind string) *dnsServer {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	b := &dnsServer{kind: kind, key: "hairpin-key", secret: base64.StdEncoding.EncodeToString(secret), dir: t.TempDir()}
	if ipCmd, err := exec.LookPath("ip"); err == nil && os.Geteuid() == 0 {
		b.ns, b.addr = newNetns(t, ipCmd), "192.0.2.53:53"
		b.dial = netns.Dialer(b.ns)
	} else {
		t.Logf("not root: %s listens on a loopback port instead of in a namespace of its own", kind)
		b.addr = freeLoopback(t)
	}
	return b
}

// start runs argv (the server in the foreground) in the server's namespace and waits until it answers.
func (b *dnsServer) start(t *testing.T, o serverOpts, argv ...string) {
	t.Helper()
	var env []string
	if o.skew != 0 {
		lib := libfaketime(t)
		b.clock = filepath.Join(b.dir, "faketime")
		b.setClock(t, o.skew)
		// Only the server runs with the preload (env execs it inside the namespace); FAKETIME_NO_CACHE makes it
		// read the file at every clock call, so that setClock takes effect at once.
		env = []string{"env", "LD_PRELOAD=" + lib, "FAKETIME_TIMESTAMP_FILE=" + b.clock, "FAKETIME_NO_CACHE=1",
			"FAKETIME_DONT_FAKE_MONOTONIC=1"}
	}
	argv = append(env, argv...)
	if b.ns != "" {
		argv = append([]string{"ip", "netns", "exec", b.ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = b, b
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.process = cmd.Process
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		b.process.Kill() // started by this test; ended by its PID
		<-exited
		if t.Failed() {
			t.Logf("%s log:\n%s", b.kind, b.Log())
		}
	})
	dead := false
	err := poll.Until(context.Background(), 30*time.Second, func() bool { // generous: CI machines can be slow
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
		t.Fatalf("%s exited during start:\n%s", b.kind, b.Log())
	}
	if err != nil {
		t.Fatalf("%s did not answer: %v\n%s", b.kind, err, b.Log())
	}
}

// setClock moves the server's clock to skew ahead of the real one (libfaketime reads the file at every call).
func (b *dnsServer) setClock(t *testing.T, skew time.Duration) {
	t.Helper()
	if err := os.WriteFile(b.clock, fmt.Appendf(nil, "%+d\n", int64(skew/time.Second)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *dnsServer) write(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startBIND(t *testing.T) *dnsServer { return startBINDWith(t, serverOpts{}) }

func startBINDWith(t *testing.T, o serverOpts) *dnsServer {
	t.Helper()
	named := lookPath(t, "named", "bind9")
	b := newDNSServer(t, "named")
	ip, port, _ := net.SplitHostPort(b.addr)
	portN, _ := strconv.Atoi(port)
	conf := b.write(t, "named.conf", bind.Conf(b.dir, ip, portN, "example.net", nil, bind.Key{Name: b.key, Secret: b.secret}))
	b.write(t, "example.net.zone", zoneFile(ip))
	args := []string{named, "-g", "-c", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // stay root: the temp dir is root's
	}
	b.start(t, o, args...)
	return b
}

// startKnot runs Knot DNS (knotd) with the key in an ACL that allows updates of the zone.
func startKnot(t *testing.T, o serverOpts) *dnsServer {
	t.Helper()
	knotd := lookPath(t, "knotd", "knot")
	b := newDNSServer(t, "knotd")
	ip, port, _ := net.SplitHostPort(b.addr)
	conf := b.write(t, "knot.conf", fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: %[2]s@%[3]s
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s"
control:
    listen: "%[1]s/knot.sock"
key:
  - id: %[4]s
    algorithm: hmac-sha256
    secret: %[5]s
%[6]sacl:
  - id: update
    key: [%[4]s%[7]s]
    action: update
zone:
  - domain: example.net
    storage: "%[1]s"
    file: example.net.zone
    acl: update
`, b.dir, ip, port, b.key, b.secret, knotKeys(o.algorithms, b.secret), knotKeyIDs(o.algorithms)))
	b.write(t, "example.net.zone", zoneFile(ip))
	b.start(t, o, knotd, "-c", conf)
	return b
}

func knotKeys(algs []string, secret string) string {
	var s strings.Builder
	for _, alg := range algs {
		fmt.Fprintf(&s, "  - id: %[1]s-key\n    algorithm: %[1]s\n    secret: %[2]s\n", alg, secret)
	}
	return s.String()
}

func knotKeyIDs(algs []string) string {
	var s strings.Builder
	for _, alg := range algs {
		fmt.Fprintf(&s, ", %s-key", alg)
	}
	return s.String()
}

// startPowerDNS runs the PowerDNS Authoritative Server (pdns_server) on the gsqlite3 backend, the zone and the
// key in its database, the key allowed to update through TSIG-ALLOW-DNSUPDATE.
func startPowerDNS(t *testing.T, o serverOpts) *dnsServer {
	t.Helper()
	pdns := lookPath(t, "pdns_server", "pdns-server")
	sqlite := lookPath(t, "sqlite3", "sqlite3")
	if m, _ := filepath.Glob("/usr/lib/*/pdns/libgsqlite3backend.so"); len(m) == 0 {
		t.Skip("PowerDNS's gsqlite3 backend is not installed (scripts/deps-test.sh installs pdns-backend-sqlite3)")
	}
	// The package's own schema, or else a copy of Debian's 4.7 one (minimal images leave out /usr/share/doc).
	schema, _ := filepath.Glob("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql*")
	schema = append(schema, filepath.Join("testdata", "pdns-schema.sqlite3.sql"))
	b := newDNSServer(t, "pdns_server")
	ip, port, _ := net.SplitHostPort(b.addr)
	sql, err := readMaybeGzip(schema[0])
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name, typ, content string) string {
		return fmt.Sprintf("INSERT INTO records (domain_id, name, type, content, ttl, auth) VALUES (1, '%s', '%s', '%s', 60, 1);\n",
			name, typ, content)
	}
	sql += "INSERT INTO domains (id, name, type) VALUES (1, 'example.net', 'NATIVE');\n" +
		rec("example.net", "SOA", zoneSOA) + rec("example.net", "NS", "ns.example.net") +
		rec("ns.example.net", "A", ip) + rec("alias.example.net", "CNAME", strings.TrimSuffix(zoneAlias, ".")) +
		rec("other.example.net", "A", zoneOther) +
		fmt.Sprintf("INSERT INTO tsigkeys (name, algorithm, secret) VALUES ('%s', 'hmac-sha256', '%s');\n", b.key, b.secret) +
		fmt.Sprintf("INSERT INTO domainmetadata (domain_id, kind, content) VALUES (1, 'TSIG-ALLOW-DNSUPDATE', '%s');\n", b.key)
	for _, alg := range o.algorithms {
		sql += fmt.Sprintf("INSERT INTO tsigkeys (name, algorithm, secret) VALUES ('%[1]s-key', '%[1]s', '%[2]s');\n", alg, b.secret) +
			fmt.Sprintf("INSERT INTO domainmetadata (domain_id, kind, content) VALUES (1, 'TSIG-ALLOW-DNSUPDATE', '%s-key');\n", alg)
	}
	db := filepath.Join(b.dir, "pdns.db")
	cmd := exec.Command(sqlite, db)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	b.write(t, "pdns.conf", fmt.Sprintf(`launch=gsqlite3
gsqlite3-database=%[1]s/pdns.db
local-address=%[2]s
local-port=%[3]s
dnsupdate=yes
allow-dnsupdate-from=0.0.0.0/0
socket-dir=%[1]s
guardian=no
daemon=no
disable-syslog=yes
loglevel=5
`, b.dir, ip, port))
	b.start(t, o, pdns, "--config-dir="+b.dir)
	return b
}

// query asks the server directly, with a real DNS query over UDP.
func (b *dnsServer) query(name string, qtype uint16) (*dns.Msg, error) {
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

// lookupA returns the A records of name, as the server gives them, and reports a CNAME at the name as
// "CNAME target".
func (b *dnsServer) lookupA(t *testing.T, name string) []string {
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
		if !strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) {
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		}
	}
	return out
}

// serial is the zone's SOA serial: it moves with every change the server makes.
func (b *dnsServer) serial(t *testing.T) uint32 {
	t.Helper()
	r, err := b.query("example.net.", dns.TypeSOA)
	if err != nil {
		t.Fatalf("SOA query: %v", err)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial
		}
	}
	t.Fatal("no SOA in the answer")
	return 0
}

// options let the engine reach the server wherever it runs.
func (b *dnsServer) options() []ddns.Option {
	if b.dial == nil {
		return nil
	}
	return []ddns.Option{ddns.WithDialer(b.dial)}
}

func (b *dnsServer) entry(t *testing.T, secret string) provider.Entry {
	return provider.Entry{Provider: "rfc2136", Hostname: "home.example.net", Settings: &rfc2136.Settings{Server: b.addr, Zone: "example.net", TSIGKey: b.key, TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: ddnstest.WriteSecret(t, secret), TTL: 60}}
}

func readMaybeGzip(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return "", err
		}
		r = z
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// sendRaw sends a signed update of name's A record to addr, as a client without hairpin's prerequisite would,
// over TCP, and returns the rcode.
func (b *dnsServer) sendRaw(t *testing.T, name string, addr netip.Addr) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate("example.net.")
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: addr.AsSlice()}})
	m.SetTsig(b.key+".", dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, TsigSecret: map[string]string{b.key + ".": b.secret}}
	var r *dns.Msg
	var err error
	if b.dial == nil {
		r, _, err = c.Exchange(m, b.addr)
	} else {
		var conn net.Conn
		if conn, err = b.dial(context.Background(), "tcp", b.addr); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r, _, err = c.ExchangeWithConn(m, &dns.Conn{Conn: conn})
	}
	if r == nil {
		t.Fatalf("raw update: %v", err)
	}
	return r.Rcode
}

// rfc is an entry's rfc2136 settings, for a test to change.
func rfc(e *provider.Entry) *rfc2136.Settings { return e.Settings.(*rfc2136.Settings) }

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
	addrC = netip.MustParseAddr("198.51.100.7")
)
