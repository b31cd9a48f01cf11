package dnsimple_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "dnsimpletoken0123456789"

// newFake serves DNSimple's spec (testdata/dnsimple.json) for account 1010 holding example.net and
// example.org. Errors are the spec's {message}.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net", "example.org")
	srv := spectest.Serve(t, "testdata/dnsimple.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+token }
	srv.Refusal = func(status int, msg string) any {
		if status == 400 {
			return map[string]any{"message": msg, "errors": map[string]any{}}
		}
		return map[string]any{"message": msg}
	}
	const stamp = "2026-01-01T00:00:00Z"
	rec := func(r spectest.Rec, zone string) map[string]any {
		id, _ := strconv.Atoi(r.ID)
		name := ""
		if r.Name != zone {
			name = strings.TrimSuffix(r.Name, "."+zone)
		}
		return map[string]any{"id": id, "zone_id": zone, "parent_id": nil, "name": name, "content": r.Content, "ttl": r.TTL, "priority": nil,
			"type": r.Type, "regions": []any{"global"}, "system_record": false, "created_at": stamp, "updated_at": stamp}
	}
	pagination := func(n int) map[string]any {
		return map[string]any{"current_page": 1, "per_page": 30, "total_entries": n, "total_pages": 1}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"message": "Zone not found"}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "whoami" {
			return spectest.Reply{Status: 200, Body: map[string]any{"data": map[string]any{"user": nil, "account": map[string]any{
				"id": 1010, "email": "me@example.net", "plan_identifier": "solo", "created_at": stamp, "updated_at": stamp}}}}
		}
		if r.Vars["account"] != "1010" {
			return notFound
		}
		if r.Op.Role == "find_zone" {
			var list []any
			for i, z := range st.Zones() {
				list = append(list, map[string]any{"id": i + 1, "account_id": 1010, "name": z, "reverse": false, "secondary": false,
					"last_transferred_at": nil, "active": true, "created_at": stamp, "updated_at": stamp})
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"data": list, "pagination": pagination(len(list))}}
		}
		zone := r.Vars["zone"]
		if !st.HasZone(zone) {
			return notFound
		}
		abs := func(name string) string {
			if name == "" {
				return zone
			}
			return name + "." + zone
		}
		switch r.Op.Role {
		case "list_records":
			list := []any{}
			name := ""
			if _, ok := r.Query["name"]; ok {
				name = abs(r.Query.Get("name"))
			}
			for _, x := range st.List(zone, name, r.Query.Get("type")) {
				list = append(list, rec(x, zone))
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"data": list, "pagination": pagination(len(list))}}
		case "create_record":
			b := r.Body.(map[string]any)
			ttl, _ := b["ttl"].(json.Number).Int64()
			x := st.Add(zone, abs(b["name"].(string)), b["type"].(string), b["content"].(string), int(ttl))
			return spectest.Reply{Status: 201, Body: map[string]any{"data": rec(x, zone)}}
		case "update_record":
			b := r.Body.(map[string]any)
			x, ok := st.Update(zone, r.Vars["zonerecord"], func(x *spectest.Rec) {
				if c, ok := b["content"].(string); ok {
					x.Content = c
				}
			})
			if !ok {
				return spectest.Reply{Status: 404, Body: map[string]any{"message": "Record not found"}}
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"data": rec(x, zone)}}
		}
		return notFound
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("dnsimple", token, 60),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v2/whoami"},
			{Why: "an account id that is not a number", Method: "GET", Path: "/v2/me/zones", Header: auth},
			{Why: "a page parameter the spec does not declare", Method: "GET", Path: "/v2/1010/zones?page=2", Header: auth},
			{Why: "a sort outside the enum", Method: "GET", Path: "/v2/1010/zones?sort=size", Header: auth},
			{Why: "create without content", Method: "POST", Path: "/v2/1010/zones/example.net/records", Header: auth, Body: `{"name":"x","type":"A"}`},
			{Why: "a negative ttl", Method: "PATCH", Path: "/v2/1010/zones/example.net/records/1", Header: auth, Body: `{"content":"192.0.2.1","ttl":-1}`},
			{Why: "a region outside the enum", Method: "PATCH", Path: "/v2/1010/zones/example.net/records/1", Header: auth, Body: `{"regions":["MARS"]}`},
			{Why: "PATCH without a body (required)", Method: "PATCH", Path: "/v2/1010/zones/example.net/records/1", Header: auth},
		},
	}
}

func TestDNSimple(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
