// Package desec keeps the A or AAAA RRset of a hostname at deSEC through its REST API v1, as its prose
// documentation (https://desec.readthedocs.io/en/latest/dns/rrsets.html) describes it; deSEC publishes no
// machine-readable spec, and the test double in testdata is written from that page. The zone is the domain
// GET /domains/?owns_qname= names; the RRset is read with GET /domains/{zone}/rrsets/{subname}/{type}/ (@ for
// the apex; 404 when there is none), changed with PATCH on the same path {records, ttl} or created with POST
// /domains/{zone}/rrsets/ {subname, type, records, ttl}. `Authorization: Token` authenticates; throttled
// requests get 429 with Retry-After. (The dyndns endpoint is the desec-dyndns preset; this provider is for a
// token scoped to the REST API.)
package desec

import (
	"context"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the desec provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "desec", Vendor: "deSEC", Contract: provider.FromDocs,
	Doc:      "https://desec.readthedocs.io/en/latest/dns/rrsets.html",
	Example:  "provider: desec\nhostname: home.example.dedyn.io\ntoken_file: /etc/hairpin/desec.token",
	Endpoint: "https://desec.io/api/v1",
	Message:  message, Header: "Authorization", Prefix: "Token ",
	DefTTL: 3600, MinTTL: 60}, // a domain's minimum TTL is 3600 seconds unless deSEC lowered it
	func(t provider.Token) provider.Provider { return &desec{Token: t} })

type desec struct {
	provider.Token
	zone provider.Once[string]
}

func message(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	if provider.JSONInto(body, &e) && e.Detail != "" {
		return e.Detail
	}
	return ""
}

func (d *desec) findZone(ctx context.Context) (string, error) {
	return d.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if z := provider.Canonical(d.Settings.Zone); z != "" {
			return z, nil
		}
		var out []struct {
			Name string `json:"name"`
		}
		if _, err := d.API.Call(ctx, web.MethodGet, "/domains/", url.Values{"owns_qname": {d.Hostname}}, nil, &out); err != nil {
			return "", err
		}
		if len(out) == 0 || out[0].Name == "" {
			return "", provider.NoDomain("domain of this deSEC account", d.Hostname)
		}
		return strings.ToLower(out[0].Name), nil
	})
}

type rrset struct {
	Records []string `json:"records"`
	TTL     int      `json:"ttl,omitempty"`
}

// Update points the hostname's A (or AAAA) RRset at addr.
func (d *desec) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := d.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	sub := provider.Relative(d.Hostname, zone) // @ for the apex, as the URL wants it
	path := "/domains/" + url.PathEscape(zone) + "/rrsets/" + url.PathEscape(sub) + "/" + typ + "/"
	var have rrset
	_, err = d.API.Call(ctx, web.MethodGet, path, nil, nil, &have)
	switch {
	case provider.IsNotFound(err):
		create := struct {
			Subname string   `json:"subname"`
			Type    string   `json:"type"`
			Records []string `json:"records"`
			TTL     int      `json:"ttl"`
		}{provider.Subname(d.Hostname, zone), typ, []string{addr.String()}, d.Settings.TTL}
		_, err = d.API.Call(ctx, web.MethodPost, "/domains/"+url.PathEscape(zone)+"/rrsets/", nil, create, nil)
		return "created", err
	case err != nil:
		return "", err
	case slices.Equal(have.Records, []string{addr.String()}):
		return "unchanged", nil
	}
	_, err = d.API.Call(ctx, web.MethodPatch, path, nil, rrset{[]string{addr.String()}, d.Settings.TTL}, nil)
	return "updated", err
}
