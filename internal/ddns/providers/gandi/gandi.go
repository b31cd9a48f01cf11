// Package gandi keeps the A or AAAA record of a hostname at Gandi LiveDNS (API v5), from Gandi's
// documentation only: Gandi publishes no machine-readable spec of LiveDNS (a third-party Swagger exists; it is
// not Gandi's word). The zone is the hostname's longest parent that GET /domains/{fqdn} finds (or zone:), the
// record set is read with GET /domains/{zone}/records/{name}/{type} and replaced with PUT {rrset_values,
// rrset_ttl}. A personal access token authenticates as a bearer token. Its test double is a hand-written
// description of those documented operations (testdata/gandi-docs.json), not a vendor spec.
package gandi

import (
	"context"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the gandi provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "gandi", Vendor: "Gandi", Contract: provider.FromDocs,
	Doc:      "https://api.gandi.net/docs/livedns/",
	Example:  "provider: gandi\nhostname: home.example.net\ntoken_file: /etc/hairpin/gandi.token   # a personal access token",
	Endpoint: "https://api.gandi.net/v5/livedns",
	Message:  message, DefTTL: 300, MinTTL: 300}, // LiveDNS's smallest TTL is 300 seconds
	func(t provider.Token) provider.Provider { return &gandi{Token: t} })

type gandi struct {
	provider.Token
	zone provider.Once[string]
}

func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Cause   string `json:"cause"`
	}
	if provider.JSONInto(body, &e) {
		return strings.TrimPrefix(e.Cause+": "+e.Message, ": ")
	}
	return ""
}

func (g *gandi) findZone(ctx context.Context) (string, error) {
	return g.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if z := provider.Canonical(g.Settings.Zone); z != "" {
			return z, nil
		}
		return provider.FirstZone(ctx, g.Hostname, "Gandi", func(ctx context.Context, c string) error {
			_, err := g.API.Call(ctx, web.MethodGet, "/domains/"+url.PathEscape(c), nil, nil, nil)
			return err
		})
	})
}

// Update points the hostname's A (or AAAA) record set at addr alone.
func (g *gandi) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := g.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Relative(g.Hostname, zone)
	path := "/domains/" + url.PathEscape(zone) + "/records/" + url.PathEscape(name) + "/" + typ
	var cur struct {
		Values []string `json:"rrset_values"`
	}
	_, err = g.API.Call(ctx, web.MethodGet, path, nil, nil, &cur)
	switch {
	case err != nil && !provider.IsNotFound(err):
		return "", err
	case err == nil && len(cur.Values) == 1 && cur.Values[0] == addr.String():
		return "unchanged", nil
	}
	answer := "updated"
	if err != nil {
		answer = "created"
	}
	in := struct {
		Values []string `json:"rrset_values"`
		TTL    int      `json:"rrset_ttl"`
	}{[]string{addr.String()}, g.Settings.TTL}
	if _, err := g.API.Call(ctx, web.MethodPut, path, nil, in, nil); err != nil {
		return "", err
	}
	return answer, nil
}
