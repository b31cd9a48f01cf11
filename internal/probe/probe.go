// Package probe answers "can the internet reach my forwards?" from outside: a hairpin probe-server at a second
// site opens a TCP connection back to the caller's public address on each port asked and says whether it was
// accepted, refused or timed out. Requests and answers carry an HMAC-SHA256 over the body with a shared secret;
// the server only ever connects back to the address the request came from and caps ports and requests per
// client, so it cannot be used to scan anyone else.
package probe

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// Limits of the protocol.
const (
	MaxPorts   = 32       // ports per request
	MaxBody    = 16 << 10 // request and answer bodies
	MaxSkew    = 2 * time.Minute
	HeaderSig  = "X-Hairpin-Signature"
	ResultOpen = "open"
	// ResultRefused: the connection was refused (something answered with a reset: the box or the router).
	ResultRefused = "refused"
	// ResultTimeout: nothing answered (dropped on the way).
	ResultTimeout = "timeout"
	ResultError   = "error"
)

// Port is one port to probe.
type Port struct {
	Protocol string `json:"protocol"` // tcp
	Port     uint16 `json:"port"`
}

// Request asks the server to connect back. Address is the address the client expects to be tested (its public
// address): the server refuses the request unless that is the address the request came from, so a relay that
// resends it from elsewhere gets nothing.
type Request struct {
	Address string `json:"address"`
	Ports   []Port `json:"ports"`
	Time    int64  `json:"time"`
	Nonce   string `json:"nonce"`
}

// PortResult is the outcome for one port.
type PortResult struct {
	Port
	Result string `json:"result"`
	TookMS int64  `json:"took_ms"`
	Error  string `json:"error,omitempty"`
}

// Answer is the server's reply.
type Answer struct {
	Address string       `json:"address"` // the address connected back to: the caller's public address
	Nonce   string       `json:"nonce"`
	Results []PortResult `json:"results"`
}

// Sign is the hex HMAC-SHA256 of body under secret.
func Sign(secret []byte, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks sig against body in constant time.
func Verify(secret []byte, body []byte, sig string) bool {
	want := Sign(secret, body)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(strings.TrimSpace(sig))))
}

// Client asks one probe server.
type Client struct {
	URL    string
	Secret []byte
	// Roots are the certificates trusted for the server (wan.probe.ca_file); nil: the system's.
	Roots *x509.CertPool
	HTTP  *web.Client
	Now   func() time.Time
}

// Probe asks the server to connect back to expect, the caller's public address, on ports and returns its
// verified answer. The answer counts only if it is signed, for this request, and says it tested expect: a
// relay in between can neither forge it nor have another host tested in the router's name.
func (c *Client) Probe(ctx context.Context, expect netip.Addr, ports []Port) (*Answer, error) {
	if !expect.IsValid() {
		return nil, errors.New("probe: no public address to test")
	}
	expect = expect.Unmap()
	if len(ports) > MaxPorts {
		ports = ports[:MaxPorts]
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	nb := make([]byte, 12)
	_, _ = rand.Read(nb)
	req := Request{Address: expect.String(), Ports: ports, Time: now().Unix(), Nonce: hex.EncodeToString(nb)}
	body, _ := json.Marshal(req)
	hr, err := web.NewRequest(ctx, web.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(HeaderSig, Sign(c.Secret, body))
	hc := c.HTTP
	if hc == nil {
		// A fresh connection per probe: probes are rare, and a pooled connection from before a WAN address change
		// would hang on an address that is gone. A redirect is not followed: it is an answer, refused below.
		hc = &web.Client{
			Timeout:           30 * time.Second,
			TLSConfig:         &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12},
			Proxy:             web.ProxyFromEnvironment,
			DisableKeepAlives: true,
		}
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, errfmt.Errorf("probe server: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, errfmt.Errorf("probe server: %w", err)
	}
	if len(data) > MaxBody {
		return nil, errors.New("probe server: the answer is too large")
	}
	if resp.StatusCode != web.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, errfmt.Errorf("probe server: %s: %s", resp.Status, printable(msg))
	}
	if !Verify(c.Secret, data, resp.Header.Get(HeaderSig)) {
		return nil, errors.New("probe server: the answer's signature does not match (wrong secret, or someone in between)")
	}
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, errfmt.Errorf("probe server: %w", err)
	}
	if a.Nonce != req.Nonce {
		return nil, errors.New("probe server: the answer is for another request")
	}
	got, err := netip.ParseAddr(a.Address)
	if err != nil {
		return nil, errfmt.Errorf("probe server: bad address %q", printable(a.Address))
	}
	if got.Unmap() != expect {
		return nil, errfmt.Errorf("probe server: it tested %s, not this router's public address %s (a relay in between, or the public address changed)", got, expect)
	}
	return &a, nil
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
