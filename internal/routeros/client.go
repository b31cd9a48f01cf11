package routeros

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// maxReply bounds what is read from the router: a NAT table of thousands of rules is well under this.
const maxReply = 32 << 20

// client speaks the RouterOS v7 REST API (https://help.mikrotik.com/docs/spaces/ROS/pages/47579162/REST+API):
// GET lists, PUT creates, PATCH updates, DELETE removes, POST runs a console command such as print or move.
type client struct {
	base     string // https://host[:port]/rest
	host     string
	user     string
	password string
	http     *web.Client
	// fix tells the user where the password comes from, for the 401 message.
	passwordSource string
	fixCert        string
	reads, writes  atomic.Int64
}

// tlsConfig builds the TLS settings: a pinned fingerprint replaces chain verification by a check of the
// leaf's SHA-256 (RouterOS's certificates are usually self-signed, so there is no chain to verify), a CA file
// replaces the system roots, and otherwise the system roots verify the router.
func tlsConfig(cfg *config.RouterOS, caPEM []byte) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.TLSFingerprint != "":
		want, err := config.ParseFingerprint(cfg.TLSFingerprint)
		if err != nil {
			return nil, err
		}
		// InsecureSkipVerify only turns off chain and name verification; VerifyConnection still runs on every
		// handshake, including resumed ones, and refuses any certificate but the pinned one.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &pinError{}
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return &pinError{got: config.FormatFingerprint(got[:])}
			}
			return nil
		}
	case len(caPEM) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errfmt.Errorf("ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// pinError is what VerifyConnection returns; do turns it into a CertMismatch Error.
type pinError struct{ got string }

func (e *pinError) Error() string { return "certificate fingerprint mismatch" }

func newClient(cfg *config.RouterOS, password string, tc *tls.Config, timeout time.Duration) (*client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errfmt.Errorf("routeros url: %w", err)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/rest") + "/rest"
	c := &client{
		base:     u.String(),
		host:     u.Hostname(),
		user:     cfg.Username,
		password: password,
		// No proxy (Proxy unset): the router is on the LAN, and a proxy would see the credentials. No
		// redirect is followed (web never does): it would resend the credentials somewhere else, and RouterOS
		// never redirects REST requests. Idle connections are kept: a TLS handshake per poll costs a
		// MikroTik's CPU far more than the request.
		http: &web.Client{TLSConfig: tc, Timeout: timeout, MaxIdleConnsPerHost: 2},
	}
	if cfg.PasswordFile != "" {
		c.passwordSource = "the password in " + cfg.PasswordFile
	} else {
		c.passwordSource = "the password in $" + cfg.PasswordEnv
	}
	if cfg.TLSFingerprint != "" {
		c.fixCert = "if you replaced the router's certificate on purpose, set routeros.tls_fingerprint to the new value; otherwise something between hairpin and the router is intercepting the connection"
	} else {
		c.fixCert = "pin the router's self-signed certificate with routeros.tls_fingerprint (the value above), or trust its CA with routeros.ca_file"
	}
	return c, nil
}

// isRead tells reads from writes for the request counters: GET and POST print change nothing.
func isRead(method, path string) bool {
	return method == web.MethodGet || method == web.MethodPost && strings.HasSuffix(path, "/print")
}

// do sends one request. path is relative to /rest and starts with '/'; body, when not nil, is sent as JSON.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]Entry, error) {
	op := method + " " + path
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &Error{Kind: BadReply, Op: op, Err: err}
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := web.NewRequest(ctx, method, u, rd)
	if err != nil {
		return nil, &Error{Kind: BadReply, Op: op, Err: err}
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if isRead(method, path) {
		c.reads.Add(1)
	} else {
		c.writes.Add(1)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(&countingReader{r: resp.Body}, maxReply))
	var over errOverLimits
	if errors.As(err, &over) {
		return nil, &Error{Kind: BadReply, Op: op, Status: resp.StatusCode, Err: over.error,
			Fix: "check that routeros.url points at the router's www-ssl service, not another web server"}
	}
	if err != nil {
		return nil, &Error{Kind: Unreachable, Op: op, Err: err, Fix: "the connection broke mid-answer; hairpin retries on the next reconcile"}
	}
	if resp.StatusCode >= 300 {
		return nil, c.statusError(op, resp.StatusCode, data)
	}
	entries, err := ParseReply(data)
	if err != nil {
		return nil, &Error{Kind: BadReply, Op: op, Status: resp.StatusCode, Err: err,
			Fix: "check that routeros.url points at the router's www-ssl service, not another web server"}
	}
	return entries, nil
}

func (c *client) transportError(op string, err error) error {
	var pe *pinError
	if errors.As(err, &pe) {
		return &Error{Kind: CertMismatch, Op: op, Got: pe.got, Err: err, Fix: c.fixCert}
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		got := ""
		if he.Certificate != nil {
			sum := sha256.Sum256(he.Certificate.Raw)
			got = config.FormatFingerprint(sum[:])
		}
		return &Error{Kind: CertMismatch, Op: op, Got: got, Err: he,
			Fix: fmt.Sprintf("the router's certificate does not name %s; a certificate for an IP address needs subject-alt-name=IP:%s (%s), or pin this one with routeros.tls_fingerprint", he.Host, he.Host, c.certCommands())}
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		got := ""
		if len(ve.UnverifiedCertificates) > 0 {
			sum := sha256.Sum256(ve.UnverifiedCertificates[0].Raw)
			got = config.FormatFingerprint(sum[:])
		}
		return &Error{Kind: CertMismatch, Op: op, Got: got, Err: ve.Err, Fix: c.fixCert}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: Unreachable, Op: op, Err: errors.Unwrap(err),
			Fix: fmt.Sprintf("the router did not answer within routeros.timeout (%s): RouterOS serves one REST request at a time, and prints over big address lists take seconds; check the router's CPU load, or raise routeros.timeout (at most 60s)", c.http.Timeout)}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return &Error{Kind: Unreachable, Op: op, Err: errors.Unwrap(err),
			Fix: "nothing listens at " + c.base + ": enable the www-ssl service with a certificate (" + c.certCommands() + "), and check the port in routeros.url"}
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "handshake") {
		return &Error{Kind: Unreachable, Op: op, Err: errors.Unwrap(err),
			Fix: "the TLS handshake failed: the www-ssl service needs a certificate assigned (" + c.certCommands() + "); if routeros.url names the plain www port, use the www-ssl one"}
	}
	return &Error{Kind: Unreachable, Op: op, Err: errors.Unwrap(err),
		Fix: "check that the router is reachable at " + c.base + " and that its www-ssl service is enabled with a certificate (" + c.certCommands() + ")"}
}

// certCommands are the RouterOS commands that give the www-ssl service a self-signed certificate naming the
// router's address (from MikroTik's certificate manual; the certificate menu is not in hairpin's schema).
func (c *client) certCommands() string {
	host := c.host
	san := "DNS:" + host
	if ip := net.ParseIP(host); ip != nil {
		san = "IP:" + host
	}
	return fmt.Sprintf("/certificate add name=hairpin-www common-name=%s subject-alt-name=%s key-usage=digital-signature,key-encipherment,tls-server; "+
		"/certificate sign hairpin-www; /ip service set www-ssl certificate=hairpin-www disabled=no", host, san)
}

func (c *client) statusError(op string, status int, body []byte) error {
	code, msg, detail, ok := ParseError(body)
	switch status {
	case web.StatusUnauthorized:
		return &Error{Kind: Unauthorized, Op: op, Status: status, Message: msg, Detail: detail,
			Fix: fmt.Sprintf("check routeros.username %q and %s; the user's group needs the read, write, api and rest-api policies", c.user, c.passwordSource)}
	case web.StatusForbidden:
		return &Error{Kind: Unauthorized, Op: op, Status: status, Message: msg, Detail: detail,
			Fix: fmt.Sprintf("the login worked, but user %q's group lacks a policy this request needs: give the group read, write, api and rest-api (/user group set [find name=GROUP] policy=read,write,api,rest-api,...)", c.user)}
	}
	if !ok {
		return &Error{Kind: BadReply, Op: op, Status: status, Err: errfmt.Errorf("HTTP %d without a RouterOS error body", status),
			Fix: "check that routeros.url points at the router's www-ssl service, not another web server"}
	}
	if code != 0 {
		status = code
	}
	return &Error{Kind: APIError, Op: op, Status: status, Message: msg, Detail: detail, Fix: fixFor(status, detail)}
}
