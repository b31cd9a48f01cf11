// Package linode keeps the A or AAAA record of a hostname at Linode (Akamai) through API v4, as its OpenAPI
// specification (linode/linode-api-docs, a copy in testdata) describes: the zone is the domain of GET
// /v4/domains (pages) that holds the hostname, the record is found in GET /v4/domains/{id}/records (pages;
// names are relative, "" for the apex), changed with PUT /v4/domains/{id}/records/{recordId} {target,
// ttl_sec} or created with POST {type, name, target, ttl_sec}. A personal access token authenticates as a
// bearer token. Linode rounds ttl_sec to its nearest valid value (300 at least).
package linode

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the linode provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "linode", Vendor: "Linode", Contract: provider.FromSpec,
	Doc:      "https://techdocs.akamai.com/linode-api/reference/get-domain-records",
	Example:  "provider: linode\nhostname: home.example.net\ntoken_file: /etc/hairpin/linode.token",
	Endpoint: "https://api.linode.com", // paths carry the /v4
	Message:  message, DefTTL: 300, MinTTL: 300},
	func(t provider.Token) provider.Provider { return &linode{Token: t} })

type linode struct {
	provider.Token
	zone provider.Once[zoneID]
}

// zoneID is a domain Linode holds: its name and its ID.
type zoneID struct {
	name string
	id   int64
}

// message reads the spec's error body, {errors: [{field, reason}]}.
func message(body []byte) string {
	var e struct {
		Errors []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	if provider.JSONInto(body, &e) && len(e.Errors) > 0 {
		return strings.TrimPrefix(e.Errors[0].Field+": "+e.Errors[0].Reason, ": ")
	}
	return ""
}

type page struct {
	Page  int `json:"page"`
	Pages int `json:"pages"`
}

func (l *linode) findZone(ctx context.Context) (string, int64, error) {
	z, err := l.zone.Get(ctx, func(ctx context.Context) (zoneID, error) {
		ids := map[string]int64{}
		var names []string
		for p := 1; p <= provider.MaxPages; p++ {
			var out struct {
				Data []struct {
					ID     int64  `json:"id"`
					Domain string `json:"domain"`
				} `json:"data"`
				page
			}
			if _, err := l.API.Call(ctx, web.MethodGet, "/v4/domains", url.Values{"page": {fmt.Sprint(p)}, "page_size": {"500"}}, nil, &out); err != nil {
				return zoneID{}, err
			}
			for _, d := range out.Data {
				ids[strings.ToLower(d.Domain)] = d.ID
				names = append(names, strings.ToLower(d.Domain))
			}
			if out.Pages <= p {
				break
			}
		}
		var z string
		var ok bool
		if l.Settings.Zone != "" {
			z = provider.Canonical(l.Settings.Zone)
			_, ok = ids[z]
		} else {
			z, ok = provider.PickZone(l.Hostname, names)
		}
		if !ok {
			return zoneID{}, provider.NoZone("Linode", l.Hostname)
		}
		return zoneID{z, ids[z]}, nil
	})
	return z.name, z.id, err
}

type record struct {
	ID     int64  `json:"id,omitempty"`
	Type   string `json:"type,omitempty"`
	Name   string `json:"name,omitempty"`
	Target string `json:"target"`
	TTL    int    `json:"ttl_sec,omitempty"`
}

// Update points the hostname's A (or AAAA) record at addr.
func (l *linode) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, id, err := l.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, name := provider.RecordType(addr), provider.Subname(l.Hostname, zone)
	base := fmt.Sprintf("/v4/domains/%d/records", id)
	var found *record
	for p := 1; p <= provider.MaxPages && found == nil; p++ {
		var out struct {
			Data []record `json:"data"`
			page
		}
		if _, err := l.API.Call(ctx, web.MethodGet, base, url.Values{"page": {fmt.Sprint(p)}, "page_size": {"500"}}, nil, &out); err != nil {
			return "", err
		}
		for i, r := range out.Data {
			if r.Type == typ && strings.EqualFold(r.Name, name) {
				found = &out.Data[i]
				break
			}
		}
		if out.Pages <= p {
			break
		}
	}
	switch {
	case found == nil:
		_, err = l.API.Call(ctx, web.MethodPost, base, nil, record{Type: typ, Name: name, Target: addr.String(), TTL: l.Settings.TTL}, nil)
		return "created", err
	case found.Target == addr.String():
		return "unchanged", nil
	default:
		_, err = l.API.Call(ctx, web.MethodPut, fmt.Sprintf("%s/%d", base, found.ID), nil, struct {
			Target string `json:"target"`
			TTL    int    `json:"ttl_sec,omitempty"`
		}{addr.String(), l.Settings.TTL}, nil)
		return "updated", err
	}
}
