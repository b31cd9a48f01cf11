package vultr_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers/vultr"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const key = "VULTRAPIKEY0123456789"

// newFake serves Vultr's spec (testdata/vultr.json) over a store holding example.net and example.org (so the
// zone is picked from a list). Errors are {"error": ..., "status": N}, as the spec's description says.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net", "example.org")
	srv := spectest.Serve(t, "testdata/vultr.json")
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
			// Cursor pages of per_page records (default 100), as the spec's meta.links.next describes.
			all := st.List(zone, "", "")
			per, start := 100, 0
			if n, err := strconv.Atoi(r.Query.Get("per_page")); err == nil && n > 0 {
				per = n
			}
			if c := r.Query.Get("cursor"); c != "" {
				start, _ = strconv.Atoi(strings.TrimPrefix(c, "at-"))
			}
			list := []any{}
			for i := start; i < len(all) && i < start+per; i++ {
				list = append(list, rec(all[i], zone))
			}
			next := ""
			if start+per < len(all) {
				next = "at-" + strconv.Itoa(start+per)
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"records": list, "meta": map[string]any{"total": len(all), "links": map[string]any{"next": next, "prev": ""}}}}
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
		Entry:          srv.TokenEntry("vultr", key, 60),
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

// The record may be on a later page: the provider follows the cursor, finds it and changes it in place rather
// than creating a second one (the control: the fake does page, so a provider reading one page would create).
func TestVultrPages(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for i := range 700 {
		f.Store.Add("example.net", fmt.Sprintf("h%d.example.net", i), "A", "192.0.2.1", 60)
	}
	f.Store.Add("example.net", "home.example.net", "A", "192.0.2.99", 60)
	p := f.Build(t, vultr.Def, "home.example.net", key)
	if _, err := p.Update(t.Context(), netip.MustParseAddr("203.0.113.10")); err != nil {
		t.Fatal(err)
	}
	got := f.Store.List("example.net", "home.example.net", "A")
	if len(got) != 1 || got[0].Content != "203.0.113.10" {
		t.Errorf("home's A records %v", got)
	}
	pages := 0
	for _, c := range f.Server.Calls() {
		if strings.HasPrefix(c, "list_records") {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("%d pages read, want 2: %q", pages, f.Server.Calls())
	}
}
