// Package digitalocean keeps the A or AAAA record of a hostname at DigitalOcean through API v2, as its OpenAPI
// specification (digitalocean/openapi, a copy in testdata) describes: the zone is the domain GET
// /v2/domains/{name} finds, the record is read with GET /v2/domains/{zone}/records?type=&name= (name is the
// fully qualified name), changed with PATCH /v2/domains/{zone}/records/{id} {type, data, ttl}, or created with
// POST /v2/domains/{zone}/records {type, name, data, ttl}. A bearer token authenticates; 429 comes with
// ratelimit-reset.
package digitalocean

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the digitalocean provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "digitalocean", Vendor: "DigitalOcean", Contract: provider.FromSpec,
	Doc:      "https://docs.digitalocean.com/reference/api/digitalocean/#tag/Domain-Records",
	Example:  "provider: digitalocean\nhostname: home.example.net\ntoken_file: /etc/hairpin/digitalocean.token",
	Endpoint: "https://api.digitalocean.com",   // paths carry the /v2
	Message:  message, DefTTL: 60, MinTTL: 30}, // DigitalOcean's smallest TTL is 30 seconds
	func(t provider.Token) provider.Provider { return &digitalocean{Token: t} })

type digitalocean struct {
	provider.Token
	zone provider.Once[string]
}

func message(body []byte) string {
	var e struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if provider.JSONInto(body, &e) && e.Message != "" {
		return e.ID + ": " + e.Message
	}
	return ""
}

type record struct {
	ID   int64  `json:"id,omitempty"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Data string `json:"data"`
	TTL  int    `json:"ttl,omitempty"`
}

func (d *digitalocean) findZone(ctx context.Context) (string, error) {
	return d.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if d.Settings.Zone != "" {
			return d.Settings.Zone, nil
		}
		return provider.FirstZone(ctx, d.Hostname, "DigitalOcean", func(ctx context.Context, c string) error {
			_, err := d.API.Call(ctx, web.MethodGet, "/v2/domains/"+url.PathEscape(c), nil, nil, nil)
			return err
		})
	})
}

// Update points the hostname's A (or AAAA) record at addr.
func (d *digitalocean) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := d.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	base := "/v2/domains/" + url.PathEscape(zone) + "/records"
	var found *record
	for page := 1; ; page++ {
		var out struct {
			Records []record `json:"domain_records"`
			Links   struct {
				Pages struct {
					Next string `json:"next"`
				} `json:"pages"`
			} `json:"links"`
		}
		q := url.Values{"type": {typ}, "name": {d.Hostname}, "per_page": {"200"}, "page": {fmt.Sprint(page)}}
		if _, err := d.API.Call(ctx, web.MethodGet, base, q, nil, &out); err != nil {
			return "", err
		}
		for i, r := range out.Records {
			if r.Type == typ && found == nil {
				found = &out.Records[i]
			}
		}
		if found != nil || out.Links.Pages.Next == "" || page >= provider.MaxPages {
			break
		}
	}
	switch {
	case found == nil:
		_, err = d.API.Call(ctx, web.MethodPost, base, nil, record{Type: typ, Name: provider.Relative(d.Hostname, zone), Data: addr.String(), TTL: d.Settings.TTL}, nil)
		return "created", err
	case found.Data == addr.String():
		return "unchanged", nil
	default:
		_, err = d.API.Call(ctx, web.MethodPatch, fmt.Sprintf("%s/%d", base, found.ID), nil, record{Type: typ, Data: addr.String(), TTL: d.Settings.TTL}, nil)
		return "updated", err
	}
}
