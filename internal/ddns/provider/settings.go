package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
	s.Endpoint = ddnsconf.Endpoint(k, "endpoint")
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	s.Zone, _ = k.String("zone")
	if ttl, ok := k.Int("ttl", minTTL, 86400); ok {
		s.TTL = ttl
	}
	return s
}

// Open reads the token and parses the endpoint (fallback: the vendor's own).
func (s TokenSettings) Open(env Env, fallback, hostname string) (*url.URL, string, error) {
	u, err := ParseServer(s.Endpoint, fallback, env, hostname)
	if err != nil {
		return nil, "", err
	}
	tok, err := env.Secret(s.TokenFile, s.TokenEnv)
	if err != nil {
		return nil, "", fmt.Errorf("token: %w", err)
	}
	if tok == "" {
		return nil, "", fmt.Errorf("token is empty")
	}
	// A token with a line break or a space can never be sent (net/http refuses the header).
	if strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, "", fmt.Errorf("token holds a line break, a space or a control character; give the token alone, on one line")
	}
	return u, tok, nil
}

// BearerAPI opens the settings (Open) and returns the API that sends the token as "Authorization: Bearer".
func (s TokenSettings) BearerAPI(env Env, fallback, hostname, vendor string, message func([]byte) string) (*API, error) {
	u, tok, err := s.Open(env, fallback, hostname)
	if err != nil {
		return nil, err
	}
	return &API{Env: env, Base: u, Vendor: vendor, Message: message,
		Auth: func(r *http.Request, _ []byte) error { r.Header.Set("Authorization", "Bearer "+tok); return nil }}, nil
}
