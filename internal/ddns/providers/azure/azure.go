// Package azure keeps the A or AAAA record of a hostname in an Azure DNS zone through the Resource Manager
// API (api-version 2018-05-01), as Azure's Swagger specification (Azure/azure-rest-api-specs, a copy in
// testdata) describes: the zone is the one of the resource group that GET .../dnsZones/{name} finds (or
// zone:), the record set is read with GET .../dnsZones/{zone}/{A|AAAA}/{name} and written with PUT, guarded
// by its etag (If-Match) or, for a new one, If-None-Match: *, so a change made meanwhile is never overwritten.
//
// A service principal authenticates with the client-credentials grant of Microsoft's identity platform
// (POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token, scope
// https://management.azure.com/.default), as Microsoft documents it; hand-written, no SDK.
package azure

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

// DefaultEndpoint is Azure Resource Manager; DefaultLogin Microsoft's identity platform.
const (
	DefaultEndpoint = "https://management.azure.com"
	DefaultLogin    = "https://login.microsoftonline.com"
	apiVersion      = "2018-05-01"
)

// Settings are an azure entry's keys.
type Settings struct {
	Endpoint       string `json:",omitempty"`
	LoginEndpoint  string `json:",omitempty"`
	TenantID       string
	ClientID       string
	PasswordFile   string `json:",omitempty"` // the client secret
	PasswordEnv    string `json:",omitempty"`
	SubscriptionID string
	ResourceGroup  string
	Zone           string `json:",omitempty"`
	TTL            int
}

// Def is the azure provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromSpec,
	Doc: "https://learn.microsoft.com/en-us/rest/api/dns/record-sets/create-or-update",
	Example: "provider: azure\nhostname: home.example.net\ntenant_id: 00000000-0000-0000-0000-000000000001\n" +
		"client_id: 00000000-0000-0000-0000-000000000002\npassword_file: /etc/hairpin/azure.secret   # the client secret\n" +
		"subscription_id: 00000000-0000-0000-0000-000000000003\nresource_group: dns",
	Config: ddnsconf.Provider{Name: "azure", AAAA: true, Keys: []string{"endpoint", "login_endpoint", "tenant_id", "client_id", "password_file",
		"password_env", "subscription_id", "resource_group", "zone", "ttl"}}},
	Decode, New)

// Decode reads an azure entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60}
	provider.DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, 1, 86400)
	s.LoginEndpoint = ddnsconf.Endpoint(k, "login_endpoint")
	for _, key := range []string{"tenant_id", "client_id", "subscription_id", "resource_group"} {
		ddnsconf.Require(k, e.Provider, key)
	}
	s.TenantID, _ = k.String("tenant_id")
	s.ClientID, _ = k.String("client_id")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	s.SubscriptionID, _ = k.String("subscription_id")
	s.ResourceGroup, _ = k.String("resource_group")
	return s
}

type azure struct {
	provider.Client
	s *Settings
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Endpoint, DefaultEndpoint, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	login, err := provider.ParseServer(s.LoginEndpoint, DefaultLogin, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	secret, err := env.Secret(s.PasswordFile, s.PasswordEnv)
	if err != nil {
		return nil, errfmt.Errorf("client secret: %w", err)
	}
	tok := &provider.OAuthToken{Vendor: "Microsoft's identity platform", Refused: "Microsoft's identity platform refused the tenant, client ID or secret",
		Endpoint: strings.TrimSuffix(login.String(), "/") + "/" + url.PathEscape(s.TenantID) + "/oauth2/v2.0/token",
		Form: func() (url.Values, error) {
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {secret},
				"scope": {"https://management.azure.com/.default"}}, nil
		}}
	a := &azure{Client: provider.Client{Hostname: provider.Canonical(e.Hostname)}, s: s}
	a.API = &provider.API{Env: env, Base: u, Vendor: "Azure", Message: provider.CodeMessage,
		Auth: func(r *web.Request, _ []byte) error { return tok.Bearer(r.Context(), env, r) }}
	return a, nil
}

func (a *azure) zones() string {
	return "/subscriptions/" + url.PathEscape(a.s.SubscriptionID) + "/resourceGroups/" + url.PathEscape(a.s.ResourceGroup) +
		"/providers/Microsoft.Network/dnsZones/"
}

var version = url.Values{"api-version": {apiVersion}}

func (a *azure) findZone(ctx context.Context) (string, error) {
	return a.Zone.Get(ctx, func(ctx context.Context) (string, error) {
		if z := provider.Canonical(a.s.Zone); z != "" {
			return z, nil
		}
		return provider.FirstZone(ctx, a.Hostname, "Azure resource group's", func(ctx context.Context, c string) error {
			_, err := a.API.Call(ctx, web.MethodGet, a.zones()+url.PathEscape(c), version, nil, nil)
			return err
		})
	})
}

type address struct {
	IPv4 string `json:"ipv4Address,omitempty"`
	IPv6 string `json:"ipv6Address,omitempty"`
}

type recordSet struct {
	ETag       string `json:"etag,omitempty"`
	Properties struct {
		TTL  int       `json:"TTL"`
		A    []address `json:"ARecords,omitempty"`
		AAAA []address `json:"AAAARecords,omitempty"`
	} `json:"properties"`
}

// Update points the hostname's A (or AAAA) record set at addr alone.
func (a *azure) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := a.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Relative(a.Hostname, zone)
	path := a.zones() + url.PathEscape(zone) + "/" + typ + "/" + url.PathEscape(name)
	var cur recordSet
	_, err = a.API.Call(ctx, web.MethodGet, path, version, nil, &cur)
	exists := err == nil
	if err != nil && !provider.IsNotFound(err) {
		return "", err
	}
	if exists {
		list := cur.Properties.A
		if typ == "AAAA" {
			list = cur.Properties.AAAA
		}
		if len(list) == 1 && (list[0].IPv4 == addr.String() || list[0].IPv6 == addr.String()) {
			return "unchanged", nil
		}
	}
	var set recordSet
	set.Properties.TTL = a.s.TTL
	if typ == "AAAA" {
		set.Properties.AAAA = []address{{IPv6: addr.String()}}
	} else {
		set.Properties.A = []address{{IPv4: addr.String()}}
	}
	api := *a.API
	api.Auth = func(r *web.Request, body []byte) error {
		if exists && cur.ETag != "" {
			r.Header.Set("If-Match", cur.ETag)
		} else if !exists {
			r.Header.Set("If-None-Match", "*")
		}
		return a.API.Auth(r, body)
	}
	if _, err := api.Call(ctx, web.MethodPut, path, version, set, nil); err != nil {
		return "", err
	}
	if exists {
		return "updated", nil
	}
	return "created", nil
}
