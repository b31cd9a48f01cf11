// Package vultr keeps the A or AAAA record of a hostname at Vultr through API v2, as its OpenAPI specification
// (vultr/vultr-java's blob/v0.0.1.json, a copy in testdata) describes: the zone is the domain of GET /domains
// (cursor pages) that holds the hostname, the record is found in GET /domains/{zone}/records (cursor pages;
// the API has no name filter; names are relative, "" for the apex), changed with PATCH
// /domains/{zone}/records/{id} {data, ttl} or created with POST {name, type, data, ttl}. A bearer API key
// authenticates.
package vultr

import (
	"context"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the vultr provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "vultr", Vendor: "Vultr", Contract: provider.FromSpec,
	Doc:      "https://www.vultr.com/api/#tag/dns",
	Example:  "provider: vultr\nhostname: home.example.net\ntoken_file: /etc/hairpin/vultr.token",
	Endpoint: "https://api.vultr.com/v2",
	Message:  message, DefTTL: 60, MinTTL: 1},
	func(t provider.Token) provider.Provider { return &vultr{Token: t} })

type vultr struct {
	provider.Token
	zone provider.Once[string]
}

// message reads the error body the API's description documents: {"error": "...", "status": N}.
func message(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if provider.JSONInto(body, &e) {
		return e.Error
	}
	return ""
}

type meta struct {
	Links struct {
		Next string `json:"next"`
	} `json:"links"`
}

func (v *vultr) findZone(ctx context.Context) (string, error) {
	return v.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if v.Settings.Zone != "" {
			return v.Settings.Zone, nil
		}
		var zones []string
		cursor := ""
		for range provider.MaxPages {
			var out struct {
				Domains []struct {
					Domain string `json:"domain"`
				} `json:"domains"`
				Meta meta `json:"meta"`
			}
			q := url.Values{"per_page": {"500"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if _, err := v.API.Call(ctx, web.MethodGet, "/domains", q, nil, &out); err != nil {
				return "", err
			}
			for _, d := range out.Domains {
				zones = append(zones, d.Domain)
			}
			if cursor = out.Meta.Links.Next; cursor == "" {
				break
			}
		}
		z, ok := provider.PickZone(v.Hostname, zones)
		if !ok {
			return "", provider.NoZone("Vultr", v.Hostname)
		}
		return z, nil
	})
}

type record struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`
	Name string `json:"name"`
	Data string `json:"data"`
	TTL  int    `json:"ttl,omitempty"`
}

// Update points the hostname's A (or AAAA) record at addr.
func (v *vultr) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := v.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Subname(v.Hostname, zone)
	base := "/domains/" + url.PathEscape(zone) + "/records"
	var found *record
	cursor := ""
	for range provider.MaxPages {
		var out struct {
			Records []record `json:"records"`
			Meta    meta     `json:"meta"`
		}
		q := url.Values{"per_page": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if _, err := v.API.Call(ctx, web.MethodGet, base, q, nil, &out); err != nil {
			return "", err
		}
		for i, r := range out.Records {
			if r.Type == typ && strings.EqualFold(r.Name, name) {
				found = &out.Records[i]
				break
			}
		}
		if cursor = out.Meta.Links.Next; found != nil || cursor == "" {
			break
		}
	}
	switch {
	case found == nil:
		_, err = v.API.Call(ctx, web.MethodPost, base, nil, record{Name: name, Type: typ, Data: addr.String(), TTL: v.Settings.TTL}, nil)
		return "created", err
	case found.Data == addr.String():
		return "unchanged", nil
	default:
		_, err = v.API.Call(ctx, web.MethodPatch, base+"/"+url.PathEscape(found.ID), nil, struct {
			Data string `json:"data"`
			TTL  int    `json:"ttl,omitempty"`
		}{addr.String(), v.Settings.TTL}, nil)
		return "updated", err
	}
}
