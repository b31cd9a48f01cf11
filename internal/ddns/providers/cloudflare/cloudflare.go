// Package cloudflare keeps an A record (or, for an IPv6 address, an AAAA record) at Cloudflare through API
// v4: it looks the record up with GET /zones/{zone_id}/dns_records?type=A&name=..., then PATCHes it (or POSTs
// a new one) with a Bearer token.
// Every answer is the JSON envelope {success, errors, result}.
package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultServer is the API v4 base URL.
const DefaultServer = "https://api.cloudflare.com/client/v4"

type cloudflare struct {
	env      provider.Env
	base     *url.URL
	givenID  string                // zone_id
	zoneID   provider.Once[string] // zone_id, or found from zone or the hostname when the config gives none
	zone     string
	hostname string
	token    string
	ttl      int
	proxied  bool
}

var _ provider.Provider = (*cloudflare)(nil)

// Settings are a cloudflare entry's own keys.
type Settings struct {
	Server    string // API base URL; default DefaultServer
	TokenFile string
	TokenEnv  string
	ZoneID    string
	// Zone is the zone's name, looked up when ZoneID is not given.
	Zone    string `json:",omitempty"`
	TTL     int    // seconds; 1 is Cloudflare's "automatic"
	Proxied bool
}

// Def is the cloudflare provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromSpec,
	Doc:     "https://developers.cloudflare.com/api/resources/dns/subresources/records/",
	Example: "provider: cloudflare\nhostname: home.example.net\nzone_id: 023e105f4ecef8ad9ca31a8372d0c353\ntoken_file: /etc/hairpin/cloudflare.token",
	Config:  ddnsconf.Provider{Name: "cloudflare", Keys: []string{"server", "endpoint", "token_file", "token_env", "zone_id", "zone", "ttl", "proxied"}, AAAA: true}},
	Decode, New)

// Decode reads a cloudflare entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60}
	if k.Given("zone_id") && k.Given("zone") {
		k.Errorf("zone", "keep one of them", "zone_id and zone are both given")
	}
	s.Zone, _ = k.String("zone")
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	s.ZoneID, _ = k.String("zone_id")
	if ttl, ok := k.Int("ttl", 1, 86400); ok {
		s.TTL = ttl
	}
	s.Proxied, _ = k.Bool("proxied")
	s.Server = ddnsconf.HTTPURL(k, "server")
	// endpoint is what every other API provider calls its base URL; server stays for configs that have it.
	if k.Given("endpoint") {
		if k.Given("server") {
			k.Errorf("endpoint", "keep one of them", "server and endpoint are both given")
		}
		s.Server = ddnsconf.Endpoint(k, "endpoint")
	}
	return s
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, tok, err := provider.OpenToken(env, s.Server, DefaultServer, e.Hostname, s.TokenFile, s.TokenEnv, "API token")
	if err != nil {
		return nil, err
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 1 // Cloudflare's "automatic"
	}
	return &cloudflare{env: env, base: u, givenID: s.ZoneID, zone: strings.TrimSuffix(s.Zone, "."), hostname: strings.TrimSuffix(e.Hostname, "."),
		token: tok, ttl: ttl, proxied: s.Proxied}, nil
}

// Record is the part of a DNS record the provider reads.
type Record struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Envelope is the API's answer around every result.
type Envelope struct {
	Success bool            `json:"success"`
	Errors  []APIError      `json:"errors"`
	Result  json.RawMessage `json:"result"`
}

// APIError is one entry of an envelope's errors.
type APIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (c *cloudflare) Update(ctx context.Context, addr netip.Addr) (string, error) {
	addr = addr.Unmap()
	typ := "A"
	if addr.Is6() {
		typ = "AAAA"
	}
	zoneID, err := c.findZone(ctx)
	if err != nil {
		return "", err
	}
	records, err := c.lookup(ctx, zoneID, typ)
	if err != nil {
		return "", err
	}
	body := map[string]any{"type": typ, "name": c.hostname, "content": addr.String(), "ttl": c.ttl, "proxied": c.proxied}
	switch {
	case len(records) == 0:
		if _, err := c.call(ctx, web.MethodPost, c.base.JoinPath("zones", zoneID, "dns_records"), body); err != nil {
			return "", err
		}
		return "created", nil
	case records[0].Content == addr.String():
		return "unchanged", nil
	default:
		if _, err := c.call(ctx, web.MethodPatch, c.base.JoinPath("zones", zoneID, "dns_records", records[0].ID), body); err != nil {
			return "", err
		}
		return "updated", nil
	}
}

// findZone looks the zone's ID up by name (GET /zones?name=), the given zone or the hostname's longest parent
// the token can see, when the config gives no zone_id.
func (c *cloudflare) findZone(ctx context.Context) (string, error) {
	return c.zoneID.Get(ctx, func(ctx context.Context) (string, error) {
		if c.givenID != "" {
			return c.givenID, nil
		}
		candidates := provider.ZoneCandidates(c.hostname)
		if c.zone != "" {
			candidates = []string{strings.ToLower(c.zone)}
		}
		for _, name := range candidates {
			u := c.base.JoinPath("zones")
			u.RawQuery = url.Values{"name": {name}}.Encode()
			res, err := c.call(ctx, web.MethodGet, u, nil)
			if err != nil {
				return "", err
			}
			var zones []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			if err := json.Unmarshal(res, &zones); err != nil {
				return "", provider.RetryLater("bad JSON", provider.ServerTrouble, "the zone list is not a JSON list")
			}
			for _, z := range zones {
				if strings.EqualFold(z.Name, name) && z.ID != "" {
					return z.ID, nil
				}
			}
		}
		return "", provider.NoZone("Cloudflare", c.hostname)
	})
}

func (c *cloudflare) lookup(ctx context.Context, zoneID, typ string) ([]Record, error) {
	u := c.base.JoinPath("zones", zoneID, "dns_records")
	u.RawQuery = url.Values{"type": {typ}, "name": {c.hostname}}.Encode()
	res, err := c.call(ctx, web.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var records []Record
	if err := json.Unmarshal(res, &records); err != nil {
		return nil, provider.RetryLater("bad JSON", provider.ServerTrouble, "the record list is not a JSON list")
	}
	return records, nil
}

func (c *cloudflare) call(ctx context.Context, method string, u *url.URL, body any) (json.RawMessage, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := web.NewRequest(context.Background(), method, u.String(), rd)
	if err != nil {
		return nil, provider.Transient("building the request", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, header, data, err := provider.DoHeader(ctx, c.env, req)
	if err != nil {
		return nil, err
	}
	return Parse(status, data, provider.RateLimitWait(header, time.Now()))
}

// authCodes are the API error codes that mean the token is wrong, expired or lacks permission.
var authCodes = map[int]bool{6003: true, 6111: true, 9103: true, 9106: true, 9109: true, 10000: true}

// Parse reads one API answer and returns its result. 401/403 and the authentication error codes hold as auth
// failures; 429 and 5xx wait (honouring Retry-After when longer); any other refusal holds, because it means
// the zone ID or hostname is wrong.
func Parse(status int, body []byte, retryAfter time.Duration) (json.RawMessage, error) {
	var env Envelope
	jsonErr := json.Unmarshal(body, &env)
	answer := fmt.Sprintf("HTTP %d", status)
	if len(env.Errors) > 0 {
		answer = fmt.Sprintf("%d %s", env.Errors[0].Code, env.Errors[0].Message)
	}
	auth := status == web.StatusUnauthorized || status == web.StatusForbidden
	for _, e := range env.Errors {
		auth = auth || authCodes[e.Code]
	}
	switch {
	case auth:
		return nil, provider.AuthHold(answer, "Cloudflare refused the token (it needs Zone.DNS edit permission on this zone)")
	case status == web.StatusTooManyRequests || status >= 500:
		return nil, provider.RetryLater(answer, max(retryAfter, provider.ServerTrouble), "Cloudflare is rate limiting or in trouble")
	case jsonErr != nil:
		return nil, provider.RetryLater(answer, provider.ServerTrouble, "the answer is not the API's JSON envelope")
	case !env.Success || status/100 != 2:
		return nil, provider.Hold(answer, "Cloudflare refused the request (check zone_id and hostname)")
	}
	return env.Result, nil
}
