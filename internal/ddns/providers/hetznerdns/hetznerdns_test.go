package hetznerdns_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers/hetznerdns"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "LlGoDUQ39S6akqoav5meAsv5OIpeywhj"

// newFake serves testdata/hetzner-dns.docs.json, written by hand from the DNS Console's documentation, over an
// account holding example.net (zone id zn1). Errors are {message}; lists are paginated.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/hetzner-dns.docs.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Auth-API-Token") == token }
	srv.Refusal = func(status int, msg string) any {
		if status == http.StatusUnauthorized {
			msg = "Invalid authentication credentials"
		}
		return map[string]any{"message": msg}
	}
	const stamp = "2026-01-01 00:00:00 +0000 UTC"
	rel := func(name string) string {
		if name == "example.net" {
			return "@"
		}
		return strings.TrimSuffix(name, ".example.net")
	}
	abs := func(name string) string {
		if name == "@" {
			return "example.net"
		}
		return name + ".example.net"
	}
	out := func(r spectest.Rec) map[string]any {
		return map[string]any{"id": r.ID, "type": r.Type, "name": rel(r.Name), "value": r.Content, "ttl": r.TTL, "zone_id": "zn1", "created": stamp, "modified": stamp}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"message": "zone not found"}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		switch r.Op.Role {
		case "find_zone":
			if r.Query.Get("name") != "example.net" {
				return notFound
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"zones": []any{map[string]any{"id": "zn1", "name": "example.net", "ttl": 86400, "status": "verified"}},
				"meta": map[string]any{"pagination": map[string]any{"page": 1, "per_page": 100, "last_page": 1, "total_entries": 1}}}}
		case "list_records":
			if r.Query.Get("zone_id") != "zn1" {
				return notFound
			}
			all := st.List("example.net", "", "")
			per, _ := strconv.Atoi(r.Query.Get("per_page"))
			if per == 0 {
				per = 100
			}
			page, _ := strconv.Atoi(r.Query.Get("page"))
			page = max(page, 1)
			list := []any{}
			for i := (page - 1) * per; i < min(page*per, len(all)); i++ {
				list = append(list, out(all[i]))
			}
			last := max((len(all)+per-1)/per, 1)
			return spectest.Reply{Status: 200, Body: map[string]any{"records": list,
				"meta": map[string]any{"pagination": map[string]any{"page": page, "per_page": per, "last_page": last, "total_entries": len(all)}}}}
		}
		b := r.Body.(map[string]any)
		if b["zone_id"] != "zn1" {
			return spectest.Reply{Status: 422, Body: map[string]any{"message": "zone_id: zone not found"}}
		}
		ttl := 0
		if n, ok := b["ttl"].(json.Number); ok {
			v, _ := n.Int64()
			ttl = int(v)
		}
		switch r.Op.Role {
		case "create_record":
			x := st.Add("example.net", abs(b["name"].(string)), b["type"].(string), b["value"].(string), ttl)
			return spectest.Reply{Status: 200, Body: map[string]any{"record": out(x)}}
		case "update_record":
			x, ok := st.Update("example.net", r.Vars["RecordID"], func(x *spectest.Rec) {
				x.Name, x.Type, x.Content, x.TTL = abs(b["name"].(string)), b["type"].(string), b["value"].(string), ttl
			})
			if !ok {
				return spectest.Reply{Status: 404, Body: map[string]any{"message": "record not found"}}
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"record": out(x)}}
		}
		return spectest.Reply{Status: 500, Body: map[string]any{"message": "unexpected"}}
	}
	auth := http.Header{"Auth-API-Token": {token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("hetzner-dns", token, 60),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Auth-API-Token header", Method: "GET", Path: "/api/v1/zones"},
			{Why: "a bearer token instead of Auth-API-Token", Method: "GET", Path: "/api/v1/zones", Header: http.Header{"Authorization": {"Bearer " + token}}},
			{Why: "records without zone_id", Method: "GET", Path: "/api/v1/records", Header: auth},
			{Why: "an unknown query parameter", Method: "GET", Path: "/api/v1/records?zone_id=zn1&type=A", Header: auth},
			{Why: "create without value", Method: "POST", Path: "/api/v1/records", Header: auth, Body: `{"name":"x","type":"A","zone_id":"zn1"}`},
			{Why: "update without zone_id", Method: "PUT", Path: "/api/v1/records/1", Header: auth, Body: `{"name":"x","type":"A","value":"192.0.2.1"}`},
			{Why: "ttl as a string", Method: "POST", Path: "/api/v1/records", Header: auth, Body: `{"name":"x","type":"A","value":"192.0.2.1","zone_id":"zn1","ttl":"60"}`},
			{Why: "content instead of value", Method: "POST", Path: "/api/v1/records", Header: auth, Body: `{"name":"x","type":"A","content":"192.0.2.1","zone_id":"zn1"}`},
			{Why: "a PATCH", Method: "PATCH", Path: "/api/v1/records/1", Header: auth, Body: `{"value":"192.0.2.1"}`},
		},
	}
}

func TestHetznerDNS(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The record is found on a later page of the zone's records, and the deeper name's zone among its parents.
func TestHetznerDNSPagesAndZone(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for i := range 150 {
		f.Store.Add("example.net", fmt.Sprintf("h%03d.example.net", i), "A", "192.0.2.1", 60)
	}
	f.Store.Add("example.net", "a.b.example.net", "A", "192.0.2.2", 60)
	p := f.Build(t, hetznerdns.Def, "a.b.example.net", token)
	if ans, err := p.Update(t.Context(), netip.MustParseAddr("203.0.113.10")); err != nil || ans != "updated" {
		t.Fatalf("%s %v", ans, err)
	}
	if got := f.Store.List("example.net", "a.b.example.net", "A"); len(got) != 1 || got[0].Content != "203.0.113.10" {
		t.Errorf("records %v", got)
	}
	if r := f.Server.Refusals(); len(r) > 0 {
		t.Errorf("refusals %q", r)
	}
}
