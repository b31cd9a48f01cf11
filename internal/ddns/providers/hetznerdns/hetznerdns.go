// Package hetznerdns keeps the A or AAAA record of a hostname in Hetzner's older DNS Console through its API
// v1, as its prose documentation (https://dns.hetzner.com/api-docs) describes it; no machine-readable spec
// was used, and the test double in testdata is written from that page. Its provider name is hetzner-dns: the
// hetzner provider is Hetzner Cloud DNS (the Hetzner Console), where zones are moving. The zone is found with
// GET /zones?name=; records are listed with GET /records?zone_id= (paginated), changed with PUT /records/{id}
// or created with POST /records, both {name, ttl, type, value, zone_id}. An Auth-API-Token header
// authenticates; rate limits come as 429 with Ratelimit-Reset.
package hetznerdns

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Def is the hetzner-dns provider.
var Def = provider.DefineToken(provider.TokenAPI{Name: "hetzner-dns", Vendor: "Hetzner DNS", Contract: provider.FromDocs,
	Doc:      "https://dns.hetzner.com/api-docs",
	Example:  "provider: hetzner-dns\nhostname: home.example.net\ntoken_file: /etc/hairpin/hetzner-dns.token",
	Endpoint: "https://dns.hetzner.com/api/v1",
	Message:  message, Header: "Auth-API-Token", Prefix: "",
	DefTTL: 60, MinTTL: 60},
	func(t provider.Token) provider.Provider { return &hetznerDNS{Token: t} })

type hetznerDNS struct {
	provider.Token
	zone provider.Once[zoneID]
}

// zoneID is a zone the DNS Console holds: its name and its ID.
type zoneID struct {
	name, id string
}

func message(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if provider.JSONInto(body, &e) {
		if e.Message != "" {
			return e.Message
		}
		return e.Error.Message
	}
	return ""
}

type pagination struct {
	Meta struct {
		Pagination struct {
			LastPage int `json:"last_page"`
		} `json:"pagination"`
	} `json:"meta"`
}

func (h *hetznerDNS) findZone(ctx context.Context) (string, string, error) {
	z, err := h.zone.Get(ctx, func(ctx context.Context) (zoneID, error) {
		candidates := provider.ZoneCandidates(h.Hostname)
		if z := provider.Canonical(h.Settings.Zone); z != "" {
			candidates = []string{z}
		}
		for _, z := range candidates {
			var out struct {
				Zones []struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"zones"`
			}
			_, err := h.API.Call(ctx, web.MethodGet, "/zones", url.Values{"name": {z}}, nil, &out)
			if provider.IsNotFound(err) {
				continue
			}
			if err != nil {
				return zoneID{}, err
			}
			for _, found := range out.Zones {
				if strings.EqualFold(strings.TrimSuffix(found.Name, "."), z) && found.ID != "" {
					return zoneID{z, found.ID}, nil
				}
			}
		}
		return zoneID{}, provider.NoDomain("zone of this Hetzner DNS Console account", h.Hostname)
	})
	return z.name, z.id, err
}

type record struct {
	ID     string `json:"id,omitempty"`
	Name   string `json:"name"`
	TTL    int    `json:"ttl,omitempty"`
	Type   string `json:"type"`
	Value  string `json:"value"`
	ZoneID string `json:"zone_id"`
}

// Update points the hostname's A (or AAAA) record at addr.
func (h *hetznerDNS) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, zoneID, err := h.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	name := provider.Relative(h.Hostname, zone)
	var found *record
	for page := 1; page <= provider.MaxPages && found == nil; page++ {
		var out struct {
			Records []record `json:"records"`
			pagination
		}
		q := url.Values{"zone_id": {zoneID}, "page": {strconv.Itoa(page)}, "per_page": {"100"}}
		if _, err := h.API.Call(ctx, web.MethodGet, "/records", q, nil, &out); err != nil {
			return "", err
		}
		for i, r := range out.Records {
			if r.Type == typ && strings.EqualFold(r.Name, name) {
				found = &out.Records[i]
				break
			}
		}
		if page >= out.Meta.Pagination.LastPage {
			break
		}
	}
	want := record{Name: name, TTL: h.Settings.TTL, Type: typ, Value: addr.String(), ZoneID: zoneID}
	switch {
	case found == nil:
		_, err = h.API.Call(ctx, web.MethodPost, "/records", nil, want, nil)
		return "created", err
	case found.Value == addr.String():
		return "unchanged", nil
	}
	_, err = h.API.Call(ctx, web.MethodPut, "/records/"+url.PathEscape(found.ID), nil, want, nil)
	return "updated", err
}
