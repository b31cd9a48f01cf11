// Package godaddy keeps the A or AAAA record of a hostname at GoDaddy through its Domains API v1, as its prose
// documentation (https://developer.godaddy.com/doc/endpoint/domains) describes it; no machine-readable spec
// was used, and the test double in testdata is written from that page. The zone is the domain GET
// /v1/domains/{domain} finds; the record is read with GET /v1/domains/{domain}/records/{type}/{name} and set
// with PUT on the same path, whose body [{data, ttl}] replaces every record of that name and type (and creates
// it when there is none), so other names and types are never touched. `sso-key KEY:SECRET` authenticates.
package godaddy

import (
	"context"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultEndpoint is the API's base URL; paths carry the /v1.
const DefaultEndpoint = "https://api.godaddy.com"

// Settings are a godaddy entry's keys: the API key, its secret from a file or the environment, the zone when
// it is not to be found from the hostname, and the TTL.
type Settings = provider.KeySettings

// Def is the godaddy provider.
var Def = provider.DefineKey(provider.Def{Kind: provider.KindAPI, Contract: provider.FromDocs,
	Doc: "https://developer.godaddy.com/doc/endpoint/domains",
	Example: "provider: godaddy\nhostname: home.example.net\napi_key: dKD4Nx0123456789abcdef\n" +
		"password_file: /etc/hairpin/godaddy.secret   # the API key's secret",
	Config: ddnsconf.Provider{Name: "godaddy", AAAA: true}},
	600, 604800, New) // GoDaddy's smallest TTL is 600 seconds

type godaddy struct {
	provider.Client
	s *Settings
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Endpoint, DefaultEndpoint, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	secret, err := env.Secret(s.PasswordFile, s.PasswordEnv)
	if err != nil {
		return nil, errfmt.Errorf("API secret: %w", err)
	}
	bad := func(r rune) bool { return r <= ' ' || r == 0x7f }
	if secret == "" || strings.IndexFunc(secret, bad) >= 0 || strings.IndexFunc(s.APIKey, bad) >= 0 {
		return nil, errfmt.Errorf("the API key or its secret is empty or holds a space, line break or control character")
	}
	creds := "sso-key " + s.APIKey + ":" + secret
	api := &provider.API{Env: env, Base: u, Vendor: "GoDaddy", Message: message,
		Auth: func(r *web.Request, _ []byte) error { r.Header.Set("Authorization", creds); return nil }}
	return &godaddy{Client: provider.Client{API: api, Hostname: provider.Canonical(e.Hostname)}, s: s}, nil
}

func message(body []byte) string {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if provider.JSONInto(body, &e) && e.Code != "" {
		return strings.TrimSuffix(e.Code+": "+e.Message, ": ")
	}
	return ""
}

func (g *godaddy) findZone(ctx context.Context) (string, error) {
	return g.Zone.Get(ctx, func(ctx context.Context) (string, error) {
		if z := provider.Canonical(g.s.Zone); z != "" {
			return z, nil
		}
		for _, z := range provider.ZoneCandidates(g.Hostname) {
			_, err := g.API.Call(ctx, web.MethodGet, "/v1/domains/"+url.PathEscape(z), nil, nil, nil)
			if provider.IsNotFound(err) {
				continue
			}
			if err != nil {
				return "", err
			}
			return z, nil
		}
		return "", provider.NoDomain("domain of this GoDaddy account", g.Hostname)
	})
}

type record struct {
	Data string `json:"data"`
	TTL  int    `json:"ttl,omitempty"`
}

// Update points the hostname's A (or AAAA) record at addr.
func (g *godaddy) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := g.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	path := "/v1/domains/" + url.PathEscape(zone) + "/records/" + typ + "/" + url.PathEscape(provider.Relative(g.Hostname, zone))
	var have []record
	if _, err := g.API.Call(ctx, web.MethodGet, path, nil, nil, &have); err != nil {
		return "", err
	}
	if len(have) == 1 && have[0].Data == addr.String() {
		return "unchanged", nil
	}
	if _, err := g.API.Call(ctx, web.MethodPut, path, nil, []record{{Data: addr.String(), TTL: g.s.TTL}}, nil); err != nil {
		return "", err
	}
	if len(have) == 0 {
		return "created", nil
	}
	return "updated", nil
}
