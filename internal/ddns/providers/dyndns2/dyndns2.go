// Package dyndns2 speaks the DynDNS "Remote Access Update API" (GET /nic/update with basic auth), which DynDNS,
// No-IP, Dynu and many others implement, and maps its return codes onto the engine's hold / wait / backoff.
package dyndns2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultServer is DynDNS itself.
const DefaultServer = "https://members.dyndns.org"

type dyndns2 struct {
	env      provider.Env
	endpoint *url.URL
	hostname string
	username string
	password string
}

var _ provider.Provider = (*dyndns2)(nil)

// Schema is the config keys of a dyndns2 entry.
var Schema = provider.Schema{Name: "dyndns2", Required: []string{"username"}, Secrets: [][2]string{{"password_file", "password_env"}},
	Optional: []string{"server"}, HTTPServer: true}

// New builds the provider for one entry. A server URL without a path gets the protocol's /nic/update; one with
// a path is used as given, for services that put the same protocol elsewhere.
func New(e provider.Entry, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(e.Server, DefaultServer, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path == "/" {
		u = u.JoinPath("nic", "update")
	}
	if e.Username == "" {
		return nil, errors.New("dyndns2 needs username")
	}
	pw, err := env.Secret(e.PasswordFile, e.PasswordEnv)
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	return &dyndns2{env: env, endpoint: u, hostname: e.Hostname, username: e.Username, password: pw}, nil
}

func (d *dyndns2) Update(ctx context.Context, addr netip.Addr) (string, error) {
	u := *d.endpoint
	q := u.Query()
	q.Set("hostname", d.hostname)
	q.Set("myip", addr.String())
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(d.username, d.password)
	status, body, _, err := provider.Do(ctx, d.env, req)
	if err != nil {
		return "", err
	}
	return Parse(status, body, addr)
}

type outcome struct {
	kind error // nil: success
	auth bool
	msg  string
}

// codes is the protocol's table of return codes and what each requires of a client. Every failure except
// dnserr and 911 is fatal by the protocol: the client must stop until the user corrects something.
var codes = map[string]outcome{
	"good":     {},
	"nochg":    {},
	"badauth":  {provider.ErrHold, true, "the username and password do not match"},
	"!donator": {provider.ErrHold, false, "the update needs a paid feature of the account"},
	"notfqdn":  {provider.ErrHold, false, "the hostname is not a fully qualified domain name"},
	"nohost":   {provider.ErrHold, false, "the hostname does not exist in this account"},
	"numhost":  {provider.ErrHold, false, "too many hosts in one update, or a round-robin host"},
	"abuse":    {provider.ErrHold, false, "the hostname is blocked for abuse"},
	"badagent": {provider.ErrHold, false, "the provider does not accept this client"},
	"!yours":   {provider.ErrHold, false, "the hostname belongs to another account"},
	"badsys":   {provider.ErrHold, false, "the system parameter is not valid"},
	"dnserr":   {provider.ErrRetryLater, false, "the provider's DNS has an error"},
	"911":      {provider.ErrRetryLater, false, "the provider has a problem or scheduled maintenance"},
}

// Parse reads one update answer: the first word of the first line is the return code. addr is what was sent;
// "good 127.0.0.1" for any other address means the agent was refused.
func Parse(status int, body []byte, addr netip.Addr) (string, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	fields := strings.Fields(line)
	code := ""
	if len(fields) > 0 {
		code = fields[0]
	}
	o, known := codes[code]
	switch {
	case known && o.kind == nil:
		if code == "good" && len(fields) > 1 && fields[1] == "127.0.0.1" && addr != netip.MustParseAddr("127.0.0.1") {
			return "", provider.Hold(line, "the provider ignored the update: it does not accept this client")
		}
		if status/100 != 2 {
			return "", provider.RetryLater(line, provider.ServerTrouble, fmt.Sprintf("success code with HTTP status %d", status))
		}
		if len(fields) > 1 {
			if held, err := netip.ParseAddr(fields[1]); err == nil && held.Unmap() != addr.Unmap() {
				// Accepted, so repeating would only annoy the provider; but the hostname points elsewhere.
				return "", provider.Warn(line, fmt.Sprintf("the provider holds %s for the hostname, not the %s sent "+
					"(it may have taken the address the request came from: a proxy or VPN on the way?)", held, addr))
			}
		}
		return provider.Clean(line), nil
	case known && o.kind == provider.ErrRetryLater:
		return "", provider.RetryLater(code, provider.ServerTrouble, o.msg)
	case known && o.auth:
		return "", provider.AuthHold(code, o.msg)
	case known:
		return "", provider.Hold(code, o.msg)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", provider.AuthHold(fmt.Sprintf("HTTP %d", status), "the server refused the credentials")
	default:
		// An answer outside the protocol (an HTML error page, a proxy): not a reason to stop for good, but no
		// reason to hammer the server either.
		return "", provider.RetryLater(line, provider.ServerTrouble, fmt.Sprintf("unexpected answer (HTTP %d)", status))
	}
}
