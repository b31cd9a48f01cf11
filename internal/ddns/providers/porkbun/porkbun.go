// Package porkbun keeps the A or AAAA record of a hostname at Porkbun through its JSON API v3, as its prose
// documentation (https://porkbun.com/api/json/v3/documentation) describes it; no machine-readable spec was
// used, and the test double in testdata is written from that page. Every call is a POST carrying apikey and
// secretapikey in its JSON body. The zone is the account's domain (POST /domain/listAll) that holds the
// hostname; the record is read with /dns/retrieveByNameType/{domain}/{type}/{subdomain}, changed with
// /dns/editByNameType/... {content, ttl} and created with /dns/create/{domain} {name, type, content, ttl}.
// Porkbun answers every refusal with HTTP 400 and {status: ERROR, message}: the message tells a wrong key from
// a domain that has API access switched off.
package porkbun

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultEndpoint is the API's base URL.
const DefaultEndpoint = "https://api.porkbun.com/api/json/v3"

// Settings are a porkbun entry's keys: the API key, the secret API key from a file or the environment, the
// zone when it is not to be found from the hostname, and the TTL.
type Settings = provider.KeySettings

// Def is the porkbun provider.
var Def = provider.DefineKey(provider.Def{Kind: provider.KindAPI, Contract: provider.FromDocs,
	Doc: "https://porkbun.com/api/json/v3/documentation",
	Example: "provider: porkbun\nhostname: home.example.net\napi_key: pk1_0123456789abcdef\n" +
		"password_file: /etc/hairpin/porkbun.secret   # the secret API key (sk1_...)",
	Config: ddnsconf.Provider{Name: "porkbun", AAAA: true}},
	600, 86400, New) // Porkbun's smallest (and default) TTL is 600 seconds

type porkbun struct {
	provider.Client
	key    string
	secret string
	s      *Settings
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, secret, err := provider.OpenSecret(env, s.Endpoint, DefaultEndpoint, e.Hostname, s.PasswordFile, s.PasswordEnv, "secret API key")
	if err != nil {
		return nil, err
	}
	api := &provider.API{Env: env, Base: u, Vendor: "Porkbun", Message: message}
	return &porkbun{Client: provider.Client{API: api, Hostname: provider.Canonical(e.Hostname)}, key: s.APIKey, secret: secret, s: s}, nil
}

func message(body []byte) string {
	var e struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if provider.JSONInto(body, &e) && e.Message != "" {
		return e.Message
	}
	return ""
}

// call posts in (which carries the credentials) and types Porkbun's 400 refusals by their message.
func (p *porkbun) call(ctx context.Context, path string, in, out any) error {
	_, err := p.API.Call(ctx, web.MethodPost, path, nil, in, out)
	var pe *provider.Error
	if err == nil || !errors.As(err, &pe) || !provider.IsHold(err) || pe.Auth {
		return err
	}
	switch a := strings.ToLower(pe.Answer); {
	case strings.Contains(a, "api key"):
		return provider.AuthHold(pe.Answer, "Porkbun refused the API key pair")
	case strings.Contains(a, "api access"), strings.Contains(a, "not opted in"):
		return provider.AuthHold(pe.Answer, "the domain does not have API ACCESS switched on at Porkbun (Domain Management)")
	}
	return err
}

type auth struct {
	APIKey       string `json:"apikey"`
	SecretAPIKey string `json:"secretapikey"`
}

type record struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
}

func (p *porkbun) findZone(ctx context.Context) (string, error) {
	return p.Zone.Get(ctx, func(ctx context.Context) (string, error) {
		if z := provider.Canonical(p.s.Zone); z != "" {
			return z, nil
		}
		best := ""
		for page := 0; page < provider.MaxPages; page++ {
			var out struct {
				Domains []struct {
					Domain string `json:"domain"`
				} `json:"domains"`
			}
			in := struct {
				auth
				Start string `json:"start,omitempty"`
			}{auth{p.key, p.secret}, ""}
			if page > 0 {
				in.Start = strconv.Itoa(page * 1000)
			}
			if err := p.call(ctx, "/domain/listAll", in, &out); err != nil {
				return "", err
			}
			for _, d := range out.Domains {
				z := provider.Canonical(d.Domain)
				if (p.Hostname == z || strings.HasSuffix(p.Hostname, "."+z)) && len(z) > len(best) {
					best = z
				}
			}
			// listAll answers 1000 domains at a time.
			if len(out.Domains) < 1000 {
				break
			}
		}
		if best == "" {
			return "", provider.NoDomain("domain of this Porkbun account", p.Hostname)
		}
		return best, nil
	})
}

// Update points the hostname's A (or AAAA) record at addr.
func (p *porkbun) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := p.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	sub := provider.Subname(p.Hostname, zone)
	// The apex has no subdomain segment.
	byName := "/" + url.PathEscape(zone) + "/" + typ
	if sub != "" {
		byName += "/" + url.PathEscape(sub)
	}
	var out struct {
		Records []record `json:"records"`
	}
	if err := p.call(ctx, "/dns/retrieveByNameType"+byName, auth{p.key, p.secret}, &out); err != nil {
		return "", err
	}
	ttl := strconv.Itoa(p.s.TTL)
	switch {
	case len(out.Records) == 0:
		in := struct {
			auth
			Name    string `json:"name"`
			Type    string `json:"type"`
			Content string `json:"content"`
			TTL     string `json:"ttl"`
		}{auth{p.key, p.secret}, sub, typ, addr.String(), ttl}
		return "created", p.call(ctx, "/dns/create/"+url.PathEscape(zone), in, nil)
	case len(out.Records) == 1 && out.Records[0].Content == addr.String():
		return "unchanged", nil
	default:
		// editByNameType sets every record of the name and type, so a stray second address goes too.
		in := struct {
			auth
			Content string `json:"content"`
			TTL     string `json:"ttl"`
		}{auth{p.key, p.secret}, addr.String(), ttl}
		return "updated", p.call(ctx, "/dns/editByNameType"+byName, in, nil)
	}
}
