// Package dyndns2 speaks the DynDNS "Remote Access Update API" (GET /nic/update with basic auth), which DynDNS,
// No-IP, Dynu and many others implement, and maps its return codes onto the engine's hold / wait / backoff.
//
// IPv6 is an extension each provider spells its own way: a second address in myip (myip=V4,V6) or a parameter
// of its own (myip=V4&myipv6=V6, as Dynu and No-IP document). What they share is that an address left out of
// a request is not left alone: it is taken from the caller's connection, or its record is deleted (deSEC's
// dyndns documentation says so outright). So the A and the AAAA record always travel in one request
// (provider.Paired), the entry names the provider's spelling in ipv6_param, and family ipv6 alone is refused.
package dyndns2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
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
	// ipv6Param is how the AAAA address travels: "myip" (a comma list) or "myipv6".
	ipv6Param string
}

var _ provider.Provider = (*dyndns2)(nil)

// Settings are a dyndns2 entry's own keys.
type Settings struct {
	Server       string // base URL; default DefaultServer
	Username     string
	PasswordFile string
	PasswordEnv  string
	// IPv6Param is how a request carries the IPv6 address beside the IPv4 one, "myip" (myip=V4,V6) or "myipv6"
	// (myip=V4&myipv6=V6).
	IPv6Param string `json:",omitempty"`
}

// Def is the dyndns2 provider.
var Def = provider.Define(provider.Def{Kind: provider.KindDyndns2, Contract: provider.FromDocs,
	Doc:     "https://help.dyn.com/remote-access-api/",
	Example: "provider: dyndns2\nhostname: home.example.net\nserver: https://members.dyndns.org\nusername: me\npassword_file: /etc/hairpin/dyndns.secret",
	Config: ddnsconf.Provider{Name: "dyndns2", Keys: []string{"server", "username", "password_file", "password_env", "ipv6_param"}, AAAA: true,
		NoIPv6Alone: "a dyndns2 request without the IPv4 address lets the provider set the A record to the caller's address, or delete it"}},
	Decode, New)

// Decode reads a dyndns2 entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{}
	if e.Family != "" && !k.Given("ipv6_param") {
		k.Errorf("ipv6_param", "add ipv6_param: myip or myipv6, as the provider documents it",
			"required key is missing: provider %s needs it to publish the AAAA record", e.Provider)
	}
	ddnsconf.Require(k, e.Provider, "username")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	s.Username, _ = k.String("username")
	s.IPv6Param, _ = k.OneOf("ipv6_param", "myip", "myipv6")
	s.Server = ddnsconf.HTTPURL(k, "server")
	return s
}

// New builds the provider for one entry. A server URL without a path gets the protocol's /nic/update; one with
// a path is used as given, for services that put the same protocol elsewhere.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Server, DefaultServer, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path == "/" {
		u = u.JoinPath("nic", "update")
	}
	if s.Username == "" {
		return nil, errors.New("dyndns2 needs username")
	}
	pw, err := env.Secret(s.PasswordFile, s.PasswordEnv)
	if err != nil {
		return nil, errfmt.Errorf("password: %w", err)
	}
	if e.Family != "" && s.IPv6Param != "myip" && s.IPv6Param != "myipv6" {
		return nil, errfmt.Errorf("family %s needs ipv6_param: myip or myipv6", e.Family)
	}
	return &dyndns2{env: env, endpoint: u, hostname: e.Hostname, username: s.Username, password: pw, ipv6Param: s.IPv6Param}, nil
}

var _ provider.Paired = (*dyndns2)(nil)

func (d *dyndns2) Update(ctx context.Context, addr netip.Addr) (string, error) {
	if addr.Is6() && !addr.Is4In6() {
		return d.UpdatePair(ctx, netip.Addr{}, addr)
	}
	return d.UpdatePair(ctx, addr, netip.Addr{})
}

// UpdatePair sends v4 and v6 in one request; an invalid one is left out.
func (d *dyndns2) UpdatePair(ctx context.Context, v4, v6 netip.Addr) (string, error) {
	v4 = v4.Unmap()
	if v6.IsValid() && (!v4.IsValid() || d.ipv6Param == "") {
		// Without the IPv4 address beside it the provider would move or delete the A record.
		return "", provider.Hold("", "dyndns2 sends the AAAA address only beside the IPv4 one (family both, ipv6_param)")
	}
	u := *d.endpoint
	q := u.Query()
	q.Set("hostname", d.hostname)
	var sent []netip.Addr
	switch {
	case !v6.IsValid():
		q.Set("myip", v4.String())
		sent = []netip.Addr{v4}
	case d.ipv6Param == "myipv6":
		q.Set("myip", v4.String())
		q.Set("myipv6", v6.String())
		sent = []netip.Addr{v4, v6}
	default:
		q.Set("myip", v4.String()+","+v6.String())
		sent = []netip.Addr{v4, v6}
	}
	u.RawQuery = q.Encode()
	req, err := web.NewRequest(context.Background(), web.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(d.username, d.password)
	status, body, _, err := provider.Do(ctx, d.env, req)
	if err != nil {
		return "", err
	}
	return parse(status, body, sent)
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
	return parse(status, body, []netip.Addr{addr})
}

// parse is Parse for a request that sent every address in sent; the answer may echo them as a comma list or as
// separate words.
func parse(status int, body []byte, sent []netip.Addr) (string, error) {
	addr := sent[0]
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
		for _, f := range fields[1:] {
			for _, w := range strings.Split(f, ",") {
				if held, err := netip.ParseAddr(w); err == nil && !slices.Contains(sent, held.Unmap()) {
					// Accepted, so repeating would only annoy the provider; but the hostname points elsewhere.
					return "", provider.Warn(line, fmt.Sprintf("the provider holds %s for the hostname, not the %s sent "+
						"(it may have taken the address the request came from: a proxy or VPN on the way?)", held, joinAddrs(sent)))
				}
			}
		}
		return provider.Clean(line), nil
	case known && o.kind == provider.ErrRetryLater:
		return "", provider.RetryLater(code, provider.ServerTrouble, o.msg)
	case known && o.auth:
		return "", provider.AuthHold(code, o.msg)
	case known:
		return "", provider.Hold(code, o.msg)
	case status == web.StatusUnauthorized || status == web.StatusForbidden:
		return "", provider.AuthHold(fmt.Sprintf("HTTP %d", status), "the server refused the credentials")
	default:
		// An answer outside the protocol (an HTML error page, a proxy): not a reason to stop for good, but no
		// reason to hammer the server either.
		return "", provider.RetryLater(line, provider.ServerTrouble, fmt.Sprintf("unexpected answer (HTTP %d)", status))
	}
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}
