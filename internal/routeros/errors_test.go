package routeros

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/plan"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// backendFor builds a Backend for r after letting edit change the router settings.
func backendFor(t *testing.T, r *rostest.Router, edit func(c *config.RouterOS)) (*Backend, *bytes.Buffer) {
	t.Helper()
	c := &config.RouterOS{URL: r.URL(), Username: testUser, PasswordFile: writeSecret(t, testPassword, 0o600),
		TLSFingerprint: r.Fingerprint(), IPCloud: true}
	if edit != nil {
		edit(c)
	}
	var buf bytes.Buffer
	b, err := New(c, slog.New(slog.NewTextHandler(&buf, nil)), withInterfaces("ether1", "bridge"))
	if err != nil {
		t.Fatal(err)
	}
	return b, &buf
}

func TestErrors(t *testing.T) {
	zeroPin := config.FormatFingerprint(make([]byte, 32))
	tests := []struct {
		name     string
		edit     func(c *config.RouterOS)
		setup    func(r *rostest.Router)
		is       func(error) bool
		contains []string
	}{
		{"wrong password", func(c *config.RouterOS) { c.PasswordFile = writeSecret(t, "wrong", 0o600) }, nil,
			IsUnauthorized, []string{"401", "routeros.username \"hairpin\"", "routeros.secret", "rest-api"}},
		{"wrong user", func(c *config.RouterOS) { c.Username = "admin" }, nil, IsUnauthorized, []string{"\"admin\""}},
		{"wrong fingerprint", func(c *config.RouterOS) { c.TLSFingerprint = zeroPin }, nil,
			IsCertMismatch, []string{"not the expected one", "it presented sha256:", "set routeros.tls_fingerprint to the new value"}},
		{"self-signed without a pin", func(c *config.RouterOS) { c.TLSFingerprint = "" }, nil,
			IsCertMismatch, []string{"it presented sha256:", "pin the router's self-signed certificate"}},
		{"unreachable", nil, func(r *rostest.Router) { r.Close() }, IsUnreachable, []string{"cannot reach the router", "www-ssl"}},
		{"RouterOS error", nil, func(r *rostest.Router) { r.FailWrite(1, 400, "input does not match any value of protocol") },
			IsAPIError, []string{"PUT /ip/firewall/address-list", "400 Bad Request: input does not match any value of protocol"}},
		{"connection dropped", nil, func(r *rostest.Router) { r.FailWrite(1, 0, "") }, IsUnreachable, []string{"PUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rostest.New(t, testUser, testPassword)
			b, logs := backendFor(t, r, tt.edit)
			if tt.setup != nil {
				tt.setup(r)
			}
			f := &fixture{t: t, r: r, b: b}
			f.cfg = parseConfig(t, fmt.Sprintf(camerasYAML, r.URL(), "/x", r.Fingerprint()))
			d := planFor(f)
			err := b.Apply(ctx, d)
			if err == nil || !tt.is(err) {
				t.Fatalf("error %v (kind %v) does not satisfy the predicate", err, kindOf(err))
			}
			t.Logf("%v", err)
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(logs.String(), testPassword) {
				t.Errorf("the password leaked: %v / %s", err, logs)
			}
			if tt.name == "wrong fingerprint" {
				var e *Error
				if errors.As(err, &e); e.Got != r.Fingerprint() {
					t.Errorf("Got = %q, want %q", e.Got, r.Fingerprint())
				}
			}
		})
	}
}

// planFor is the four cameras' plan with fixed addresses (for routers that cannot be observed).
func planFor(f *fixture) *plan.Desired {
	obs := plan.Observed{WANAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")}, LANNets: []netip.Prefix{netip.MustParsePrefix("192.168.88.0/24")}}
	d, _ := plan.Build(f.cfg, obs, plan.Options{})
	return d
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestCAFile(t *testing.T) {
	r := rostest.New(t, testUser, testPassword)
	// The simulator's certificate is its own CA and names 127.0.0.1, so it verifies as a CA-issued one.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := r.Certificate().Raw
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := backendFor(t, r, func(c *config.RouterOS) { c.TLSFingerprint, c.CAFile = "", caFile })
	if _, err := b.Observe(ctx); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
}

func TestBadReply(t *testing.T) {
	// Something that is not RouterOS at the URL: a web page, and an error without RouterOS's body.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut {
			http.Error(w, "nope", http.StatusTeapot)
			return
		}
		fmt.Fprint(w, "<html>router login</html>")
	}))
	t.Cleanup(srv.Close)
	c := &config.RouterOS{URL: srv.URL, Username: testUser, PasswordFile: writeSecret(t, testPassword, 0o600)}
	c.TLSFingerprint = config.FormatFingerprint(sha256Of(srv.Certificate().Raw))
	b, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Observe(ctx)
	if kindOf(err) != BadReply || !strings.Contains(err.Error(), "not another web server") {
		t.Errorf("Observe: %v", err)
	}
	_, err = b.c.do(ctx, http.MethodPut, "/ip/firewall/nat", nil, map[string]string{})
	if kindOf(err) != BadReply {
		t.Errorf("PUT: %v", err)
	}
}

func TestPassword(t *testing.T) {
	r := rostest.New(t, testUser, testPassword)
	t.Run("group-readable file warns", func(t *testing.T) {
		b, logs := backendFor(t, r, func(c *config.RouterOS) { c.PasswordFile = writeSecret(t, testPassword, 0o640) })
		if !strings.Contains(logs.String(), "readable by group or others") || !strings.Contains(logs.String(), "mode=0640") {
			t.Errorf("no warning: %s", logs)
		}
		if _, err := b.Observe(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Run("private file is quiet", func(t *testing.T) {
		_, logs := backendFor(t, r, nil)
		if logs.Len() != 0 {
			t.Errorf("unexpected log: %s", logs)
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("HAIRPIN_TEST_ROS_PW", testPassword)
		b, _ := backendFor(t, r, func(c *config.RouterOS) { c.PasswordFile, c.PasswordEnv = "", "HAIRPIN_TEST_ROS_PW" })
		if _, err := b.Observe(ctx); err != nil {
			t.Error(err)
		}
	})
	for name, c := range map[string]*config.RouterOS{
		"missing file":  {URL: r.URL(), PasswordFile: filepath.Join(t.TempDir(), "none")},
		"empty file":    {URL: r.URL(), PasswordFile: writeSecret(t, "", 0o600)},
		"unset env":     {URL: r.URL(), PasswordEnv: "HAIRPIN_TEST_UNSET_VARIABLE"},
		"bad pin":       {URL: r.URL(), PasswordEnv: "HOME", TLSFingerprint: "sha256:00"},
		"missing ca":    {URL: r.URL(), PasswordEnv: "HOME", CAFile: "/nonexistent/ca.pem"},
		"no password":   {URL: r.URL()},
		"nil section":   nil,
		"not pem ca":    {URL: r.URL(), PasswordEnv: "HOME", CAFile: writeSecret(t, "not a certificate", 0o600)},
		"broken url":    {URL: "https://[::1", PasswordEnv: "HOME"},
		"newline in pw": {URL: r.URL(), PasswordFile: writeSecret(t, "\n", 0o600)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(c, nil); err == nil {
				t.Errorf("%s: New succeeded", name)
			}
		})
	}
}

// TestPasswordFileRefused: the password goes through secret.Read, so a FIFO is an error at once (it used to
// hang the daemon before it applied anything), and so are two lines and a link out of the config's directory
// (a link to /etc/shadow used to be sent as the password).
func TestPasswordFileRefused(t *testing.T) {
	r := rostest.New(t, testUser, testPassword)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "shadow")
	if err := os.Symlink("/etc/shadow", link); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"fifo":      {fifo, "is a FIFO, not a regular file"},
		"two lines": {writeSecret(t, testPassword+"\nsecond", 0o600), "has more than one line"},
		"link out":  {link, "is a symbolic link to /etc/shadow"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(&config.RouterOS{URL: r.URL(), Username: testUser, PasswordFile: tc.file, ConfigDir: dir}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: New: %v, want %q", name, err, tc.want)
			}
		})
	}
}
