package routeros

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestErrorsPointTheRightWay: each failure names its real cause and the fix, never a wrong one.
func TestErrorsPointTheRightWay(t *testing.T) {
	t.Run("403 is missing policies, not a wrong password", func(t *testing.T) {
		r := rostest.New(t, testUser, testPassword)
		r.SetPolicies(rostest.PolicyRead, rostest.PolicyAPI, rostest.PolicyRESTAPI)
		b, _ := backendFor(t, r, nil)
		_, err := b.Observe(ctx) // reads work
		if err != nil {
			t.Fatal(err)
		}
		err = b.Apply(ctx, planFor(&fixture{cfg: parseConfig(t, camerasConfig(r))}))
		mustSay(t, err, IsUnauthorized, "lacks permissions (403 Forbidden)", "read, write, api and rest-api", "/user group set")
		if strings.Contains(err.Error(), "password") {
			t.Errorf("a 403 blames the password: %v", err)
		}
	})
	t.Run("timeout names routeros.timeout", func(t *testing.T) {
		r := rostest.New(t, testUser, testPassword)
		r.SetDelay(2 * time.Second)
		c := &config.RouterOS{URL: r.URL(), Username: testUser, PasswordFile: writeSecret(t, testPassword, 0o600), TLSFingerprint: r.Fingerprint()}
		b, err := New(c, nil, withTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Observe(ctx)
		mustSay(t, err, IsUnreachable, "routeros.timeout (100ms)", "at most 60s")
	})
	t.Run("default timeout", func(t *testing.T) {
		r := rostest.New(t, testUser, testPassword)
		b, _ := backendFor(t, r, nil)
		if b.c.http.Timeout != config.DefaultRouterOSTimeout {
			t.Errorf("timeout %v", b.c.http.Timeout)
		}
		b, _ = backendFor(t, r, func(c *config.RouterOS) { c.Timeout = 20 * time.Second })
		if b.c.http.Timeout != 20*time.Second {
			t.Errorf("timeout %v", b.c.http.Timeout)
		}
	})
	t.Run("refused connection gives the www-ssl commands", func(t *testing.T) {
		r := rostest.New(t, testUser, testPassword)
		b, _ := backendFor(t, r, nil)
		r.Close()
		_, err := b.Observe(ctx)
		mustSay(t, err, IsUnreachable, "/certificate add name=hairpin-www common-name=127.0.0.1 subject-alt-name=IP:127.0.0.1",
			"/certificate sign hairpin-www", "/ip service set www-ssl certificate=hairpin-www disabled=no")
	})
	t.Run("failed handshake: www-ssl without a certificate", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close() // what www-ssl without a certificate does
			}
		}()
		c := &config.RouterOS{URL: "https://" + ln.Addr().String(), Username: testUser, PasswordFile: writeSecret(t, testPassword, 0o600)}
		b, err := New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Observe(ctx)
		mustSay(t, err, IsUnreachable, "TLS handshake failed", "certificate assigned", "/ip service set www-ssl")
	})
	t.Run("ca_file certificate without the router's IP", func(t *testing.T) {
		cert, caFile := certWithoutIPSAN(t)
		srv := httptest.NewUnstartedServer(http.NotFoundHandler())
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c := &config.RouterOS{URL: srv.URL, Username: testUser, PasswordFile: writeSecret(t, testPassword, 0o600), CAFile: caFile}
		b, err := New(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Observe(ctx)
		mustSay(t, err, IsCertMismatch, "does not name 127.0.0.1", "subject-alt-name=IP:127.0.0.1")
	})
	t.Run("no such command is not only an old version", func(t *testing.T) {
		r := rostest.New(t, testUser, testPassword)
		b, _ := backendFor(t, r, nil)
		_, err := b.c.do(ctx, http.MethodPost, "/ip/cloud/add", nil, map[string]string{})
		mustSay(t, err, IsAPIError, "no such command", "7.9 to 7.24rc3", "package", "/system resource print")
	})
}

func camerasConfig(r *rostest.Router) string {
	return strings.Replace(strings.Replace(strings.Replace(camerasYAML, "%s", r.URL(), 1), "%s", "/x", 1), "%s", r.Fingerprint(), 1)
}

func mustSay(t *testing.T, err error, is func(error) bool, parts ...string) {
	t.Helper()
	if err == nil || !is(err) {
		t.Fatalf("error %v (kind %v) does not satisfy the predicate", err, kindOf(err))
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("the password leaked: %v", err)
	}
}

// certWithoutIPSAN makes a self-signed CA certificate for "router.lan" only, as a certificate made with a
// common name and no subject-alt-name is, and writes it as the ca_file.
func certWithoutIPSAN(t *testing.T) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "router.lan"}, DNSNames: []string{"router.lan"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}
