// Package dnsimple keeps the A or AAAA record of a hostname at DNSimple through API v2, as its OpenAPI
// specification (dnsimple/dnsimple-developer, a copy in testdata) describes: the account comes from GET
// /whoami, the zone from GET /{account}/zones (the spec declares no page parameter, so one listing), the
// record from GET /{account}/zones/{zone}/records?name=&type= (names relative, "" for the apex), changed with
// PATCH .../records/{id} {content, ttl} or created with POST {name, type, content, ttl}. An API access token
// authenticates as a bearer token.
package dnsimple

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the dnsimple provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "dnsimple", Vendor: "DNSimple", Contract: provider.FromSpec,
	Doc:      "https://developer.dnsimple.com/v2/zones/records/",
	Example:  "provider: dnsimple\nhostname: home.example.net\ntoken_file: /etc/hairpin/dnsimple.token",
	Endpoint: "https://api.dnsimple.com/v2",
	Message:  message, DefTTL: 60, MinTTL: 1},
	func(t provider.Token) provider.Provider { return &dnsimple{Token: t} })

type dnsimple struct {
	provider.Token
	zone provider.Once[zoneID]
}

// zoneID is where the records live: the account's ID and the zone's name.
type zoneID struct {
	account int64
	name    string
}

func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if provider.JSONInto(body, &e) {
		return e.Message
	}
	return ""
}

func (d *dnsimple) find(ctx context.Context) (int64, string, error) {
	z, err := d.zone.Get(ctx, func(ctx context.Context) (zoneID, error) {
		var who struct {
			Data struct {
				Account *struct {
					ID int64 `json:"id"`
				} `json:"account"`
			} `json:"data"`
		}
		if _, err := d.API.Call(ctx, web.MethodGet, "/whoami", nil, nil, &who); err != nil {
			return zoneID{}, err
		}
		if who.Data.Account == nil {
			return zoneID{}, provider.Hold("", "the token is a user token; use an account API token")
		}
		var zones struct {
			Data []struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		if _, err := d.API.Call(ctx, web.MethodGet, fmt.Sprintf("/%d/zones", who.Data.Account.ID), nil, nil, &zones); err != nil {
			return zoneID{}, err
		}
		var names []string
		for _, z := range zones.Data {
			names = append(names, z.Name)
		}
		z, ok := provider.Canonical(d.Settings.Zone), d.Settings.Zone != ""
		if !ok {
			z, ok = provider.PickZone(d.Hostname, names)
		}
		if !ok {
			return zoneID{}, provider.NoZone("DNSimple", d.Hostname)
		}
		return zoneID{who.Data.Account.ID, z}, nil
	})
	return z.account, z.name, err
}

type record struct {
	ID      int64  `json:"id,omitempty"`
	Type    string `json:"type,omitempty"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     int    `json:"ttl,omitempty"`
}

// Update points the hostname's A (or AAAA) record at addr.
func (d *dnsimple) Update(ctx context.Context, addr netip.Addr) (string, error) {
	account, zone, err := d.find(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Subname(d.Hostname, zone)
	base := fmt.Sprintf("/%d/zones/%s/records", account, url.PathEscape(zone))
	var out struct {
		Data []record `json:"data"`
	}
	if _, err := d.API.Call(ctx, web.MethodGet, base, url.Values{"name": {name}, "type": {typ}}, nil, &out); err != nil {
		return "", err
	}
	var found *record
	for i, r := range out.Data {
		if r.Type == typ && strings.EqualFold(r.Name, name) {
			found = &out.Data[i]
			break
		}
	}
	switch {
	case found == nil:
		_, err = d.API.Call(ctx, web.MethodPost, base, nil, record{Type: typ, Name: name, Content: addr.String(), TTL: d.Settings.TTL}, nil)
		return "created", err
	case found.Content == addr.String():
		return "unchanged", nil
	default:
		_, err = d.API.Call(ctx, web.MethodPatch, fmt.Sprintf("%s/%d", base, found.ID), nil, struct {
			Content string `json:"content"`
			TTL     int    `json:"ttl,omitempty"`
		}{addr.String(), d.Settings.TTL}, nil)
		return "updated", err
	}
}
