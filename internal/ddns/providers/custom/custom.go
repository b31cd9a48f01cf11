// Package custom is an HTTP provider for services hairpin does not know: the config gives the method, a URL
// template, headers and a body template, and says what a success looks like (an HTTP status and, optionally, a
// regular expression the answer must match). Templates take {hostname}, {ip}, {ip6} and {token} (the secret
// from token_file or token_env); username with password_file or password_env adds basic auth.
//
// The etiquette is the engine's, as for every provider: nothing is sent while the address is unchanged, 401 and
// 403 hold the hostname until its config changes, 429 and 5xx pause it (at least 30 minutes, longer when
// Retry-After says so), network errors back off. An answer that is neither a success nor an HTTP error (a 200
// whose body does not match) pauses as well: hairpin cannot tell a refusal from a hiccup there, and asking
// again at once is what gets clients blocked.
package custom

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Settings are a custom entry's keys.
type Settings struct {
	Method        string
	URL           string
	Headers       map[string]string `json:",omitempty"`
	Body          string            `json:",omitempty"`
	Username      string            `json:",omitempty"`
	PasswordFile  string            `json:",omitempty"`
	PasswordEnv   string            `json:",omitempty"`
	TokenFile     string            `json:",omitempty"`
	TokenEnv      string            `json:",omitempty"`
	SuccessStatus int               `json:",omitempty"` // 0: any 2xx
	SuccessRegexp string            `json:",omitempty"`
}

var placeholders = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{[a-z0-9]+\}`) })

var known = map[string]bool{"{hostname}": true, "{ip}": true, "{ip6}": true, "{token}": true}

// Def is the custom provider.
var Def = provider.Define(provider.Def{Kind: provider.KindCustom, Contract: provider.FromDocs,
	Doc: "https://github.com/hairpin-nat/hairpin/blob/main/docs/ddns-providers.md#custom",
	Example: "provider: custom\nhostname: home.example.net\nmethod: GET\n" +
		"url: https://dyn.example.net/update?host={hostname}&ip={ip}&key={token}\ntoken_file: /etc/hairpin/custom.token\nsuccess_regexp: ^(good|nochg)",
	Config: ddnsconf.Provider{Name: "custom", AAAA: true, Keys: []string{"method", "url", "headers", "body", "username", "password_file",
		"password_env", "token_file", "token_env", "success_status", "success_regexp"}}},
	Decode, New)

// Decode reads a custom entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{Method: web.MethodGet}
	if m, ok := k.OneOf("method", "GET", "POST", "PUT", "PATCH"); ok {
		s.Method = m
	}
	ddnsconf.Require(k, e.Provider, "url")
	s.URL = ddnsconf.Endpoint(k, "url")
	s.Headers, _ = k.Map("headers")
	s.Body, _ = k.String("body")
	if s.Body != "" && s.Method == web.MethodGet {
		k.Errorf("body", "use method: POST, PUT or PATCH", "a GET request carries no body")
	}
	for _, key := range []string{"url", "body"} {
		v, _ := k.String(key)
		for _, p := range placeholders().FindAllString(v, -1) {
			if !known[p] {
				k.Errorf(key, "use {hostname}, {ip}, {ip6} or {token}", "%s is not a placeholder hairpin fills in", p)
			}
		}
	}
	for name, v := range s.Headers {
		for _, p := range placeholders().FindAllString(v, -1) {
			if !known[p] {
				k.Errorf("headers", "use {hostname}, {ip}, {ip6} or {token}", "header %s: %s is not a placeholder hairpin fills in", name, p)
			}
		}
	}
	s.Username, _ = k.String("username")
	if k.Given("username") || k.Given("password_file") || k.Given("password_env") {
		s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	}
	s.TokenFile, _ = k.String("token_file")
	s.TokenEnv, _ = k.String("token_env")
	if k.Given("token_file") && k.Given("token_env") {
		k.Errorf("token_env", "keep one of them", "token_file and token_env are both given")
	}
	uses := s.URL + s.Body
	for _, v := range s.Headers {
		uses += v
	}
	if strings.Contains(uses, "{token}") && s.TokenFile == "" && s.TokenEnv == "" {
		k.Errorf("token_file", "name a file with token_file (mode 600) or an environment variable with token_env", "the templates use {token} but no token is given")
	}
	if e.Family != "" && !strings.Contains(uses, "{ip6}") && !strings.Contains(uses, "{ip}") {
		k.Errorf("url", "put {ip6} (or {ip}) where the address goes", "family %s needs the address in the request", e.Family)
	}
	if n, ok := k.Int("success_status", 100, 599); ok {
		s.SuccessStatus = n
	}
	if re, ok := k.String("success_regexp"); ok {
		if _, err := regexp.Compile(re); err != nil {
			k.Errorf("success_regexp", "write a Go regular expression, e.g. ^(good|nochg)", "%v", err)
		}
		s.SuccessRegexp = re
	}
	return s
}

type custom struct {
	env      provider.Env
	s        *Settings
	hostname string
	token    string
	password string
	success  *regexp.Regexp
}

// paired carries both addresses in one request: its templates use {ip6} beside {ip}.
type paired struct{ *custom }

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	if _, err := provider.ParseServer(strings.NewReplacer("{", "", "}", "").Replace(s.URL), s.URL, env, e.Hostname); err != nil {
		return nil, err
	}
	c := &custom{env: env, s: s, hostname: strings.TrimSuffix(e.Hostname, ".")}
	var err error
	if s.TokenFile != "" || s.TokenEnv != "" {
		if c.token, err = env.Secret(s.TokenFile, s.TokenEnv); err != nil {
			return nil, errfmt.Errorf("token: %w", err)
		}
	}
	if s.PasswordFile != "" || s.PasswordEnv != "" {
		if c.password, err = env.Secret(s.PasswordFile, s.PasswordEnv); err != nil {
			return nil, errfmt.Errorf("password: %w", err)
		}
	}
	if s.SuccessRegexp != "" {
		if c.success, err = regexp.Compile(s.SuccessRegexp); err != nil {
			return nil, errfmt.Errorf("success_regexp: %w", err)
		}
	}
	uses := s.URL + s.Body
	for _, v := range s.Headers {
		uses += v
	}
	if e.Family == "both" && strings.Contains(uses, "{ip}") && strings.Contains(uses, "{ip6}") {
		return paired{c}, nil
	}
	return c, nil
}

var _ provider.Paired = paired{}

// Update sends addr: {ip} is the address of the record being updated (A or AAAA), {ip6} the IPv6 one.
func (c *custom) Update(ctx context.Context, addr netip.Addr) (string, error) {
	if addr.Is6() && !addr.Is4In6() {
		return c.send(ctx, addr, addr)
	}
	return c.send(ctx, addr.Unmap(), netip.Addr{})
}

// UpdatePair sends both addresses in one request.
func (p paired) UpdatePair(ctx context.Context, v4, v6 netip.Addr) (string, error) {
	return p.send(ctx, v4.Unmap(), v6)
}

func (c *custom) fill(tmpl string, ip, ip6 netip.Addr, escape func(string) string) string {
	str := func(a netip.Addr) string {
		if a.IsValid() {
			return escape(a.String())
		}
		return ""
	}
	return strings.NewReplacer("{hostname}", escape(c.hostname), "{ip}", str(ip), "{ip6}", str(ip6), "{token}", escape(c.token)).Replace(tmpl)
}

func (c *custom) send(ctx context.Context, ip, ip6 netip.Addr) (string, error) {
	raw := c.fill(c.s.URL, ip, ip6, url.QueryEscape)
	var body *strings.Reader
	if c.s.Body != "" {
		body = strings.NewReader(c.fill(c.s.Body, ip, ip6, func(s string) string { return s }))
	}
	var req *web.Request
	var err error
	if body != nil {
		req, err = web.NewRequest(context.Background(), c.s.Method, raw, body)
	} else {
		req, err = web.NewRequest(context.Background(), c.s.Method, raw, nil)
	}
	if err != nil {
		return "", provider.Hold("", "the url template does not give a valid URL once filled in")
	}
	for name, v := range c.s.Headers {
		req.Header.Set(name, c.fill(v, ip, ip6, func(s string) string { return s }))
	}
	if c.s.Username != "" || c.password != "" {
		req.SetBasicAuth(c.s.Username, c.password)
	}
	status, answer, wait, err := provider.Do(ctx, c.env, req)
	if err != nil {
		return "", err
	}
	return Judge(status, answer, wait, c.s.SuccessStatus, c.success)
}

// Judge classifies an answer: success when the status is want (any 2xx for 0) and the body matches re (when
// given).
func Judge(status int, body []byte, retryAfter time.Duration, want int, re *regexp.Regexp) (string, error) {
	line := provider.Clean(string(body))
	ok := status/100 == 2
	if want != 0 {
		ok = status == want
	}
	switch {
	case ok && (re == nil || re.Match(body)):
		if line == "" {
			line = fmt.Sprintf("HTTP %d", status)
		}
		return line, nil
	case status == web.StatusUnauthorized || status == web.StatusForbidden:
		return "", provider.AuthHold(fmt.Sprintf("HTTP %d", status), "the server refused the credentials")
	case status == web.StatusTooManyRequests || status/100 == 5:
		return "", provider.RetryLater(fmt.Sprintf("HTTP %d", status), max(provider.ServerTrouble, retryAfter), "the server asked for a pause or has trouble of its own")
	case status/100 == 4:
		return "", provider.Hold(fmt.Sprintf("HTTP %d %s", status, line), "the server refused the request; check the url, headers and body templates")
	default:
		return "", provider.RetryLater(line, provider.ServerTrouble, fmt.Sprintf("the answer (HTTP %d) is not the success the config describes", status))
	}
}
