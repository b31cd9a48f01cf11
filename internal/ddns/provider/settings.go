package provider

import (
	"context"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
)

// TokenSettings are the keys most API providers share: the API's base URL (endpoint), a token from a file or
// the environment, the zone when it is not to be found from the hostname, and the records' TTL.
type TokenSettings struct {
	Endpoint  string `json:",omitempty"`
	TokenFile string `json:",omitempty"`
	TokenEnv  string `json:",omitempty"`
	Zone      string `json:",omitempty"`
	TTL       int    `json:",omitempty"`
}

// TokenKeys are the config keys of TokenSettings.
var TokenKeys = []string{"endpoint", "token_file", "token_env", "zone", "ttl"}

// DecodeToken reads TokenSettings; ttl defaults to defTTL and must lie in [minTTL, 86400].
func DecodeToken(k Keys, defTTL, minTTL int) TokenSettings {
	s := TokenSettings{TTL: defTTL}
	DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, minTTL, 86400)
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	return s
}

// DecodeAPI reads the keys every API provider has: endpoint, zone and, unless ttl is nil, ttl, which must lie
// in [minTTL, maxTTL] and keeps its default when not given. Each reports its own mistakes at its own line, so
// the order the keys are read in does not show.
func DecodeAPI(k Keys, endpoint, zone *string, ttl *int, minTTL, maxTTL int) {
	*endpoint = ddnsconf.Endpoint(k, "endpoint")
	*zone, _ = k.String("zone")
	if ttl == nil {
		return
	}
	if v, ok := k.Int("ttl", minTTL, maxTTL); ok {
		*ttl = v
	}
}

// Open reads the token and parses the endpoint (fallback: the vendor's own).
func (s TokenSettings) Open(env Env, fallback, hostname string) (*url.URL, string, error) {
	return OpenToken(env, s.Endpoint, fallback, hostname, s.TokenFile, s.TokenEnv, "token")
}

// OpenToken parses the endpoint (fallback: the vendor's own) and reads a token that goes in a header from its
// file or environment variable; what names it in the fix ("token", "API token"). A token with a line break or
// a space can never be sent (net/http refuses the header), which would show up only as "no answer from the
// server", again and again: it is refused here.
func OpenToken(env Env, endpoint, fallback, hostname, file, envVar, what string) (*url.URL, string, error) {
	u, err := ParseServer(endpoint, fallback, env, hostname)
	if err != nil {
		return nil, "", err
	}
	tok, err := env.Secret(file, envVar)
	if err != nil {
		return nil, "", errfmt.Errorf("token: %w", err)
	}
	if tok == "" {
		return nil, "", errfmt.Errorf("token is empty")
	}
	if strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, "", errfmt.Errorf("token holds a line break, a space or a control character; give the %s alone, on one line", what)
	}
	return u, tok, nil
}

// KeySettings are the keys of the providers that sign in with an API key and its secret: the API's base URL
// (endpoint), the key, the secret from a file or the environment, the zone when it is not to be found from the
// hostname, and the records' TTL.
type KeySettings struct {
	Endpoint     string `json:",omitempty"`
	APIKey       string `json:",omitempty"`
	PasswordFile string `json:",omitempty"`
	PasswordEnv  string `json:",omitempty"`
	Zone         string `json:",omitempty"`
	TTL          int    `json:",omitempty"`
}

// KeyKeys are the config keys of KeySettings.
var KeyKeys = []string{"endpoint", "api_key", "password_file", "password_env", "zone", "ttl"}

// DecodeKey reads KeySettings, api_key required; ttl defaults to its smallest, minTTL, and must lie in
// [minTTL, maxTTL].
func DecodeKey(k Keys, e Entry, minTTL, maxTTL int) KeySettings {
	s := KeySettings{TTL: minTTL}
	DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, minTTL, maxTTL)
	ddnsconf.Require(k, e.Provider, "api_key")
	s.APIKey, _ = k.String("api_key")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	return s
}

// DefineKey is Define for a provider whose entry holds KeySettings alone: its keys are KeyKeys, read by
// DecodeKey with ttl in [minTTL, maxTTL], and build gets them as a *KeySettings.
func DefineKey(d Def, minTTL, maxTTL int, build func(e Entry, s *KeySettings, env Env) (Provider, error)) Def {
	d.Config.Keys = KeyKeys
	return Define(d, func(k Keys, e Entry) *KeySettings {
		s := DecodeKey(k, e, minTTL, maxTTL)
		return &s
	}, build)
}

// Token is what a token-authenticated API provider holds: its API, the hostname it keeps (lower case, without
// the final dot) and its settings.
type Token struct {
	API      *API
	Hostname string
	Settings TokenSettings
}

// TokenAPI describes a provider whose entry holds TokenSettings alone and whose API takes the token in one
// header: what sets it apart from the others is its name and documentation, its TTLs, its API's base URL and
// name, its error body and the header the token goes in. Its Kind is KindAPI, and it publishes AAAA records too.
type TokenAPI struct {
	// Name is the provider's name in configs; Contract, Doc and Example are Def's.
	Name, Contract, Doc, Example string
	// DefTTL is the ttl of an entry that gives none; MinTTL the smallest the vendor takes (the largest: 86400).
	DefTTL, MinTTL int
	// Endpoint is the vendor's base URL, for an entry that gives none; Vendor names the vendor in messages.
	Endpoint, Vendor string
	// Message reads the vendor's error body (API.Message).
	Message func(body []byte) string
	// Header carries the token after Prefix; none: "Authorization: Bearer".
	Header, Prefix string
}

// DefineToken is Define for a TokenAPI: its entries' keys are TokenKeys, read by DecodeToken into a
// *TokenSettings, and each entry's provider is what build makes of the Token those settings open (Client).
func DefineToken(t TokenAPI, build func(Token) Provider) Def {
	if t.Header == "" {
		t.Header, t.Prefix = "Authorization", "Bearer "
	}
	d := Def{Kind: KindAPI, Contract: t.Contract, Doc: t.Doc, Example: t.Example,
		Config: ddnsconf.Provider{Name: t.Name, AAAA: true, Keys: TokenKeys}}
	return Define(d, func(k Keys, _ Entry) *TokenSettings {
		s := DecodeToken(k, t.DefTTL, t.MinTTL)
		return &s
	}, func(e Entry, s *TokenSettings, env Env) (Provider, error) {
		tok, err := s.Client(env, t.Endpoint, e.Hostname, t.Vendor, t.Message, t.Header, t.Prefix)
		if err != nil {
			return nil, err
		}
		return build(tok), nil
	})
}

// Client opens the settings (Open) into a Token whose API sends the token in header, after prefix.
func (s TokenSettings) Client(env Env, fallback, hostname, vendor string, message func([]byte) string, header, prefix string) (Token, error) {
	u, tok, err := s.Open(env, fallback, hostname)
	if err != nil {
		return Token{}, err
	}
	auth := func(r *web.Request, _ []byte) error { r.Header.Set(header, prefix+tok); return nil }
	return Token{API: &API{Env: env, Base: u, Vendor: vendor, Message: message, Auth: auth},
		Hostname: Canonical(hostname), Settings: s}, nil
}

// Client is what an API provider with settings of its own holds beside them: its API, the hostname it keeps
// (Canonical) and its zone, found once.
type Client struct {
	API      *API
	Hostname string
	Zone     Once[string]
}

// Once holds what a provider finds out once and keeps (its zone, the zone's ID, the account): found on first
// use, kept once found (a zero value is not), looked for again after a failure. Safe for concurrent use: one
// lookup at a time.
type Once[T comparable] struct {
	mu lock.Mutex
	v  T
}

// Get returns what was found before, or what find finds now.
func (o *Once[T]) Get(ctx context.Context, find func(context.Context) (T, error)) (T, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var zero T
	if o.v != zero {
		return o.v, nil
	}
	v, err := find(ctx)
	if err != nil {
		return zero, err
	}
	o.v = v
	return v, nil
}

// OpenSecret parses the endpoint (fallback: the vendor's own) and reads the secret, named what in errors ("secret
// API key"), from its file or environment variable; one that is empty or holds a space or line break is refused.
func OpenSecret(env Env, endpoint, fallback, hostname, file, envVar, what string) (*url.URL, string, error) {
	u, err := ParseServer(endpoint, fallback, env, hostname)
	if err != nil {
		return nil, "", err
	}
	secret, err := env.Secret(file, envVar)
	if err != nil {
		return nil, "", errfmt.Errorf("%s: %w", what, err)
	}
	if secret == "" || strings.ContainsAny(secret, " \t\r\n") {
		return nil, "", errfmt.Errorf("the %s is empty or holds a space or line break", what)
	}
	return u, secret, nil
}
