package routeros

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

const (
	testUser     = "hairpin"
	testPassword = "s3cret-Pa55"
)

// camerasYAML is the article's four cameras; %s are the router's URL, the password file and the fingerprint.
const camerasYAML = `backend: routeros
routeros:
  url: %s
  username: hairpin
  password_file: %s
  tls_fingerprint: %s
  ip_cloud: true
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
  - {name: back-cam, port: 8091, to: "192.168.88.181:80"}
  - {name: pool-cam, port: 8092, to: "192.168.88.182:80"}
  - {name: driveway-cam, port: 8093, to: "192.168.88.183:80"}
`

// simVersion is the RouterOS release newFixture's router runs ("": the newest in the schema).
var simVersion string

// eachRelease runs a test against the oldest and the newest release of the schema (7.9 and 7.24rc3), whose
// commands and parameters the simulator enforces.
func eachRelease(t *testing.T, fn func(t *testing.T)) {
	for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
		t.Run("RouterOS-"+v, func(t *testing.T) {
			old := simVersion
			simVersion = v
			defer func() { simVersion = old }()
			fn(t)
		})
	}
}

// fixture is a simulated router with the article's addressing, and a Backend and config for it.
type fixture struct {
	t      testing.TB
	r      *rostest.Router
	cfg    *config.Config
	b      *Backend
	logBuf *bytes.Buffer
	wanID  string
}

func newFixture(t testing.TB, extraYAML ...string) *fixture {
	t.Helper()
	var opts []rostest.Option
	if simVersion != "" {
		opts = append(opts, rostest.WithVersion(simVersion))
	}
	r := rostest.New(t, testUser, testPassword, opts...)
	wanID := r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1", "dynamic": "true"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	pwFile := writeSecret(t, testPassword, 0o600)
	cfg := parseConfig(t, fmt.Sprintf(camerasYAML, r.URL(), pwFile, r.Fingerprint())+strings.Join(extraYAML, ""))
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	b, err := fromConfig(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, r: r, cfg: cfg, b: b, logBuf: &buf, wanID: wanID}
}

func writeSecret(t testing.TB, pw string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routeros.secret")
	if err := os.WriteFile(p, []byte(pw+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func parseConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	return cfg
}

// desired observes the simulated router and plans, as the daemon does.
func (f *fixture) desired() *plan.Desired {
	f.t.Helper()
	obs, err := f.b.Observe(context.Background())
	if err != nil {
		f.t.Fatalf("Observe: %v", err)
	}
	d, _ := plan.Build(f.cfg, obs, PlanOptions)
	return d
}

// apply runs one Apply and returns the reads and writes it took.
func (f *fixture) apply(d *plan.Desired) (reads, writes int) {
	f.t.Helper()
	f.r.ResetCounts()
	if err := f.b.Apply(context.Background(), d); err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
	return f.r.Counts()
}

// ours and foreign split a menu's items by the marker.
func (f *fixture) ours(path string) []rostest.Entry {
	return slices.DeleteFunc(f.r.Items(path), func(e rostest.Entry) bool { return !owned(e["comment"]) })
}

func (f *fixture) foreign(path string) []rostest.Entry {
	return slices.DeleteFunc(f.r.Items(path), func(e rostest.Entry) bool { return owned(e["comment"]) })
}

// state is a comparable summary of hairpin's items: comment and settings, without ids and counters.
func (f *fixture) state() []string {
	var out []string
	for _, path := range []string{rostest.AddrList, rostest.NAT, rostest.Mangle} {
		for _, e := range f.ours(path) {
			out = append(out, summary(e))
		}
	}
	slices.Sort(out)
	return out
}

func summary(e rostest.Entry) string {
	var kv []string
	for k, v := range e {
		switch k {
		case ".id", "bytes", "packets":
			continue
		}
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, " ")
}

// seedForeign adds what a user of the article has: a default masquerade, the article's own hairpin rule
// (comment "front camera hairpin", matching the WAN address by hand), an exemption, and address lists.
func seedForeign(r *rostest.Router) {
	r.Add(rostest.NAT, rostest.Entry{"chain": "srcnat", "action": "masquerade", "out-interface-list": "WAN", "comment": "defconf: masquerade"})
	r.Add(rostest.NAT, rostest.Entry{"chain": "dstnat", "action": "accept", "src-address": "10.8.0.0/24", "comment": "vpn: no nat"})
	r.Add(rostest.NAT, rostest.Entry{"chain": "dstnat", "action": "dst-nat", "dst-address": "203.0.113.7", "protocol": "tcp",
		"dst-port": "8090", "to-addresses": "192.168.88.180", "to-ports": "80", "comment": "front camera hairpin"})
	r.Add(rostest.NAT, rostest.Entry{"chain": "srcnat", "action": "masquerade", "src-address-list": "LocalNet",
		"dst-address-list": "LocalNet", "out-interface": "bridge", "comment": "hairpin"})
	r.Add(rostest.AddrList, rostest.Entry{"list": "LocalNet", "address": "192.168.88.0/24", "comment": "hairpin"})
	r.Add(rostest.AddrList, rostest.Entry{"list": ListWAN, "address": "198.51.100.99", "comment": "added by hand"})
	// The WAN address itself, added by hand before hairpin ran: RouterOS refuses hairpin's own duplicate.
	r.Add(rostest.AddrList, rostest.Entry{"list": ListWAN, "address": "203.0.113.7"})
	// A comment pasted with a terminal escape sequence: RouterOS serves it as invalid JSON.
	r.Add(rostest.NAT, rostest.Entry{"chain": "srcnat", "action": "accept", "dst-address": "10.9.0.0/16", "comment": "\x1b[31mred\x1b[0m tunnel"})
	// PCC load balancing marks connections in prerouting; hairpin's mark must never overwrite them.
	r.Add(rostest.Mangle, rostest.Entry{"chain": "prerouting", "action": "mark-connection", "new-connection-mark": "ISP1_conn",
		"per-connection-classifier": "both-addresses:2/0", "connection-mark": "no-mark", "in-interface": "bridge", "dst-address-type": "!local"})
}
