package vultr_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/vultr"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const key = "VULTRAPIKEY0123456789"

// newFake serves Vultr's spec (testdata/vultr.json) over a store holding example.net and example.org (so the
// zone is picked from a list). Errors are {"error": ..., "status": N}, as the spec's description says.
func newFake(t *testing.T) *spectest.Fake {
	spec, err := spectest.Load("testdata/vultr.json")
	if err != nil {
		t.Fatal(err)
	}
	st := spectest.NewStore("example.net", "example.org")
	srv := spectest.New(t, spec)
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+key }
	srv.Refusal = func(status int, msg string) any { return map[string]any{"error": msg, "status": status} }
	rel := func(name, zone string) string {
		if name == zone {
			return ""
		}
		return strings.TrimSuffix(name, "."+zone)
	}
	abs := func(name, zone string) string {
		if name == "" {
			return zone
		}
		return name + "." + zone
	}
	rec := func(r spectest.Rec, zone string) map[string]any {
		return map[string]any{"id": r.ID, "type": r.Type, "name": rel(r.Name, zone), "data": r.Content, "ttl": r.TTL, "priority": 0}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"error": "Not found", "status": 404}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "find_zone" {
			var list []any
			for _, z := range st.Zones() {
				list = append(list, map[string]any{"domain": z, "date_created": "2024-01-01T00:00:00+00:00", "dns_sec": "disabled"})
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"domains": list, "meta": map[string]any{"total": len(list), "links": map[string]any{"next": "", "prev": ""}}}}
		}
		zone := r.Vars["dns-domain"]
		if !st.HasZone(zone) {
			return notFound
		}
		switch r.Op.Role {
		case "list_records":
			list := []any{}
			for _, x := range st.List(zone, "", "") {
				list = append(list, rec(x, zone))
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"records": list, "meta": map[string]any{"total": len(list), "links": map[string]any{"next": "", "prev": ""}}}}
		case "create_record":
			b := r.Body.(map[string]any)
			ttl, _ := b["ttl"].(json.Number).Int64()
			x := st.Add(zone, abs(b["name"].(string), zone), b["type"].(string), b["data"].(string), int(ttl))
			return spectest.Reply{Status: 201, Body: map[string]any{"record": rec(x, zone)}}
		case "update_record":
			b := r.Body.(map[string]any)
			st.Update(zone, r.Vars["record-id"], func(x *spectest.Rec) {
				if d, ok := b["data"].(string); ok {
					x.Content = d
				}
			})
			return spectest.Reply{Status: 204} // the only answer the spec documents for PATCH

		}
		return spectest.Reply{Status: 400, Body: map[string]any{"error": "unexpected " + r.Op.Role, "status": 400}}
	}
	auth := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "vultr", Hostname: hostname, Family: family, Settings: &vultr.Settings{TokenSettings: provider.TokenSettings{
				Endpoint: srv.Endpoint(), TokenFile: ddnstest.WriteSecret(t, key), TTL: 60}}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v2/domains"},
			{Why: "the key in X-API-Key", Method: "GET", Path: "/v2/domains", Header: http.Header{"X-Api-Key": {key}}},
			{Why: "a name filter the API lacks", Method: "GET", Path: "/v2/domains/example.net/records?name=home", Header: auth},
			{Why: "per_page not a number", Method: "GET", Path: "/v2/domains/example.net/records?per_page=all", Header: auth},
			{Why: "create without type", Method: "POST", Path: "/v2/domains/example.net/records", Header: auth, Body: `{"name":"x","data":"192.0.2.1"}`},
			{Why: "ttl as a string", Method: "PATCH", Path: "/v2/domains/example.net/records/1", Header: auth, Body: `{"data":"192.0.2.1","ttl":"60"}`},
			{Why: "type in an update, which the schema lacks", Method: "PATCH", Path: "/v2/domains/example.net/records/1", Header: auth, Body: `{"type":"A","data":"192.0.2.1"}`},
		},
	}
}

func TestVultr(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
