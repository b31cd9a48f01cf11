package hetzner_test

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "hcloudtoken0123456789"

// newFake serves Hetzner's Cloud DNS spec (testdata/hetzner.json) over a store holding example.net (zone id
// 7). Changes are actions: the create and set_records answers say "running", and the store changes only when
// the action is polled, which then says "success", so a provider that does not wait for its action sees the
// old record.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/hetzner.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+token }
	srv.Refusal = func(status int, msg string) any {
		code := map[int]string{401: "unauthorized", 404: "not_found", 429: "rate_limit_exceeded", 500: "server_error"}[status]
		if code == "" {
			code = "invalid_input"
		}
		return map[string]any{"error": map[string]any{"code": code, "message": msg, "details": nil}}
	}
	var mu sync.Mutex
	pending := map[int]func(){}
	nextAction := 100
	newAction := func(apply func()) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		nextAction++
		pending[nextAction] = apply
		return actionBody(nextAction, "running")
	}
	abs := func(name, zone string) string {
		if name == "@" {
			return zone
		}
		return name + "." + zone
	}
	rrset := func(zone, name, typ string) (map[string]any, bool) {
		recs := st.List(zone, abs(name, zone), typ)
		if len(recs) == 0 {
			return nil, false
		}
		var values []any
		for _, r := range recs {
			values = append(values, map[string]any{"value": r.Content})
		}
		return map[string]any{"id": name + "/" + typ, "name": name, "type": typ, "ttl": recs[0].TTL, "labels": map[string]any{},
			"protection": map[string]any{"change": false}, "records": values, "zone": 7}, true
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"error": map[string]any{"code": "not_found", "message": "not found", "details": nil}}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		switch r.Op.Role {
		case "find_zone":
			zones := []any{}
			if r.Query.Get("name") == "example.net" {
				zones = append(zones, map[string]any{"id": 7, "name": "example.net", "ttl": 3600, "mode": "primary", "labels": map[string]any{},
					"created": "2026-01-01T00:00:00Z", "status": "ok", "record_count": len(st.List("example.net", "", "")),
					"protection": map[string]any{"delete": false}, "registrar": "other",
					"authoritative_nameservers": map[string]any{"assigned": []any{"hydrogen.ns.hetzner.com."}, "delegated": []any{}, "delegation_last_check": nil, "delegation_status": "unknown"}})
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"zones": zones, "meta": meta(len(zones))}}
		case "get_action":
			id, _ := strconv.Atoi(r.Vars["id"])
			mu.Lock()
			apply, ok := pending[id]
			delete(pending, id)
			mu.Unlock()
			if !ok {
				return notFound
			}
			apply()
			return spectest.Reply{Status: 200, Body: map[string]any{"action": actionBody(id, "success")["action"]}}
		}
		zone := r.Vars["id_or_name"]
		if zone != "example.net" && zone != "7" {
			return notFound
		}
		zone = "example.net"
		switch r.Op.Role {
		case "get_record":
			set, ok := rrset(zone, r.Vars["rr_name"], r.Vars["rr_type"])
			if !ok {
				return notFound
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"rrset": set}}
		case "create_record":
			b := r.Body.(map[string]any)
			name, typ := b["name"].(string), b["type"].(string)
			var values []string
			for _, v := range b["records"].([]any) {
				values = append(values, v.(map[string]any)["value"].(string))
			}
			act := newAction(func() { st.Replace(zone, abs(name, zone), typ, values, 60) })
			set := map[string]any{"id": name + "/" + typ, "name": name, "type": typ, "ttl": 60, "labels": map[string]any{},
				"protection": map[string]any{"change": false}, "records": b["records"], "zone": 7}
			return spectest.Reply{Status: 201, Body: map[string]any{"rrset": set, "action": act["action"]}}
		case "set_records":
			name, typ := r.Vars["rr_name"], r.Vars["rr_type"]
			if _, ok := rrset(zone, name, typ); !ok {
				return notFound
			}
			var values []string
			for _, v := range r.Body.(map[string]any)["records"].([]any) {
				values = append(values, v.(map[string]any)["value"].(string))
			}
			return spectest.Reply{Status: 201, Body: newAction(func() { st.Replace(zone, abs(name, zone), typ, values, 60) })}
		}
		return spectest.Reply{Status: 400, Body: map[string]any{"error": map[string]any{"code": "invalid_input", "message": "unexpected", "details": nil}}}
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("hetzner", token, 60),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v1/zones?name=example.net"},
			{Why: "the DNS Console's Auth-API-Token header", Method: "GET", Path: "/v1/zones?name=example.net", Header: http.Header{"Auth-Api-Token": {token}}},
			{Why: "a mode outside the enum", Method: "GET", Path: "/v1/zones?mode=master", Header: auth},
			{Why: "a record type outside the enum", Method: "GET", Path: "/v1/zones/example.net/rrsets?type=ALIAS", Header: auth},
			{Why: "set_records with a ttl, which its body lacks", Method: "POST", Path: "/v1/zones/example.net/rrsets/home/A/actions/set_records", Header: auth,
				Body: `{"records":[{"value":"192.0.2.1"}],"ttl":60}`},
			{Why: "set_records without records", Method: "POST", Path: "/v1/zones/example.net/rrsets/home/A/actions/set_records", Header: auth, Body: `{}`},
			{Why: "set_records with an empty list (minItems 1)", Method: "POST", Path: "/v1/zones/example.net/rrsets/home/A/actions/set_records", Header: auth, Body: `{"records":[]}`},
			{Why: "create with ttl below 60", Method: "POST", Path: "/v1/zones/example.net/rrsets", Header: auth, Body: `{"name":"x","type":"A","ttl":30,"records":[{"value":"192.0.2.1"}]}`},
			{Why: "a record value as a number", Method: "POST", Path: "/v1/zones/example.net/rrsets", Header: auth, Body: `{"name":"x","type":"A","records":[{"value":1}]}`},
		},
	}
}

func meta(n int) map[string]any {
	return map[string]any{"pagination": map[string]any{"page": 1, "per_page": 25, "previous_page": nil, "next_page": nil, "last_page": 1, "total_entries": n}}
}

func actionBody(id int, status string) map[string]any {
	finished := any(nil)
	if status == "success" {
		finished = "2026-01-01T00:00:01Z"
	}
	return map[string]any{"action": map[string]any{"id": id, "command": "set_rrset_records", "status": status, "progress": map[string]int{"running": 50, "success": 100}[status],
		"started": "2026-01-01T00:00:00Z", "finished": finished, "resources": []any{map[string]any{"id": 7, "type": "zone"}}, "error": nil}}
}

func TestHetzner(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
