// Package duckdns updates a DuckDNS subdomain through https://www.duckdns.org/update?domains=&token=&ip=, which
// answers OK or KO.
//
// The A and the AAAA record are updated by separate requests, each naming only its own address, so that each
// family keeps its own state, backoff and withholding. DuckDNS's spec (https://www.duckdns.org/spec.jsp) makes
// that safe: a blank ip is detected from the caller (IPv4 only) unless ipv6 is given ("if you specify this then
// the autodetection for ip is not used"), and only clear=true clears a record. So the AAAA request sends ipv6=
// alone and cannot move the A record; the A request sends ip= alone and leaves the AAAA record as it is.
package duckdns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultServer is DuckDNS itself.
const DefaultServer = "https://www.duckdns.org"

type duckdns struct {
	env      provider.Env
	endpoint *url.URL
	domain   string
	token    string
}

var _ provider.Provider = (*duckdns)(nil)

// Settings are a duckdns entry's own keys.
type Settings struct {
	Server    string // default DefaultServer
	TokenFile string
	TokenEnv  string
}

// Def is the duckdns provider; the hostname is a DuckDNS name.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromDocs,
	Doc:     "https://www.duckdns.org/spec.jsp",
	Example: "provider: duckdns\nhostname: myhome.duckdns.org\ntoken_file: /etc/hairpin/duckdns.token",
	Config: ddnsconf.Provider{Name: "duckdns", Keys: []string{"server", "token_file", "token_env"}, AAAA: true,
		Hostname: func(h string) (string, string) {
			if sub := Subdomain(h); !label().MatchString(sub) {
				return fmt.Sprintf("%q is not a DuckDNS name", h), "write the DuckDNS name, e.g. home or home.duckdns.org"
			}
			return "", ""
		}}},
	Decode, New)

// Decode reads a duckdns entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{}
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	s.Server = ddnsconf.HTTPURL(k, "server")
	return s
}

// label is one DNS label: a DuckDNS domain has exactly one.
var label = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`) })

// New builds the provider for one entry. The hostname may be written as "home" or "home.duckdns.org".
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Server, DefaultServer, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path == "/" {
		u = u.JoinPath("update")
	}
	domain := Subdomain(e.Hostname)
	if domain == "" || strings.Contains(domain, ".") {
		return nil, errfmt.Errorf("hostname %q is not a DuckDNS name such as home or home.duckdns.org", e.Hostname)
	}
	tok, err := env.Secret(s.TokenFile, s.TokenEnv)
	if err != nil {
		return nil, errfmt.Errorf("token: %w", err)
	}
	if tok == "" {
		return nil, errors.New("token is empty")
	}
	return &duckdns{env: env, endpoint: u, domain: domain, token: tok}, nil
}

// Subdomain is the part of a hostname that DuckDNS calls the domain.
func Subdomain(hostname string) string {
	return strings.TrimSuffix(strings.TrimSuffix(hostname, "."), ".duckdns.org")
}

func (d *duckdns) Update(ctx context.Context, addr netip.Addr) (string, error) {
	u := *d.endpoint
	q := url.Values{"domains": {d.domain}, "token": {d.token}}
	if addr.Is6() && !addr.Is4In6() {
		// Never in ip=: the spec does not say that an IPv6 address there leaves the A record alone.
		q.Set("ipv6", addr.String())
	} else {
		q.Set("ip", addr.Unmap().String())
	}
	u.RawQuery = q.Encode()
	req, err := web.NewRequest(context.Background(), web.MethodGet, u.String(), nil)
	if err != nil {
		return "", provider.Transient("building the request", provider.RedactURL(err))
	}
	status, body, _, err := provider.Do(ctx, d.env, req)
	if err != nil {
		return "", err
	}
	return Parse(status, body)
}

// Parse reads an update answer. DuckDNS says only OK or KO; KO means the token or the domain is wrong, which
// repeating will not fix.
func Parse(status int, body []byte) (string, error) {
	answer := strings.TrimSpace(string(body))
	first, _, _ := strings.Cut(answer, "\n")
	switch {
	case status == web.StatusOK && strings.TrimSpace(first) == "OK":
		return "OK", nil
	case strings.TrimSpace(first) == "KO":
		return "", provider.Hold("KO", "DuckDNS refused the update: the token or the domain is wrong")
	case status == web.StatusUnauthorized || status == web.StatusForbidden:
		return "", provider.AuthHold(fmt.Sprintf("HTTP %d", status), "the server refused the token")
	default:
		return "", provider.RetryLater(first, provider.ServerTrouble, fmt.Sprintf("unexpected answer (HTTP %d)", status))
	}
}
