package digitalocean_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/digitalocean"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

const token = "dop_v1_0123456789abcdef"

// newFake serves DigitalOcean's spec (testdata/digitalocean.json) over a store holding example.net. Errors are
// the spec's {id, message} body.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/digitalocean.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+token }
	srv.Refusal = func(status int, msg string) any {
		return map[string]any{"id": map[int]string{401: "unauthorized", 404: "not_found", 429: "too_many_requests"}[status] + "error", "message": msg}
	}
	rec := func(r spectest.Rec, zone string) map[string]any {
		id, _ := strconv.Atoi(r.ID)
		name := r.Name
		if name == zone {
			name = "@"
		} else {
			name = name[:len(name)-len(zone)-1]
		}
		return map[string]any{"id": id, "type": r.Type, "name": name, "data": r.Content, "ttl": r.TTL}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"id": "not_found", "message": "The resource you were accessing could not be found."}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		zone := r.Vars["domain_name"]
		if !st.HasZone(zone) {
			return notFound
		}
		switch r.Op.Role {
		case "get_domain":
			return spectest.Reply{Status: 200, Body: map[string]any{"domain": map[string]any{"name": zone}}}
		case "list_records":
			// The name filter is the record's fully qualified name, as the spec's parameter says.
			list := []any{}
			for _, x := range st.List(zone, r.Query.Get("name"), r.Query.Get("type")) {
				list = append(list, rec(x, zone))
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"domain_records": list, "links": map[string]any{}, "meta": map[string]any{"total": len(list)}}}
		case "create_record":
			b := r.Body.(map[string]any)
			name := b["name"].(string)
			if name == "@" {
				name = zone
			} else {
				name += "." + zone
			}
			ttl, _ := b["ttl"].(json.Number).Int64()
			x := st.Add(zone, name, b["type"].(string), b["data"].(string), int(ttl))
			return spectest.Reply{Status: 201, Body: map[string]any{"domain_record": rec(x, zone)}}
		case "update_record":
			b := r.Body.(map[string]any)
			x, ok := st.Update(zone, r.Vars["domain_record_id"], func(x *spectest.Rec) {
				if d, ok := b["data"].(string); ok {
					x.Content = d
				}
			})
			if !ok {
				return notFound
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"domain_record": rec(x, zone)}}
		}
		return spectest.Reply{Status: 500, Body: map[string]any{"id": "server_error", "message": "unexpected " + r.Op.Role}}
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("digitalocean", token, 60),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v2/domains/example.net"},
			{Why: "a Token instead of Bearer", Method: "GET", Path: "/v2/domains/example.net", Header: http.Header{"Authorization": {"Token " + token}}},
			{Why: "an unknown query parameter", Method: "GET", Path: "/v2/domains/example.net/records?hostname=x", Header: auth},
			{Why: "a type outside the enum", Method: "GET", Path: "/v2/domains/example.net/records?type=ALIAS", Header: auth},
			{Why: "per_page above 200", Method: "GET", Path: "/v2/domains/example.net/records?per_page=500", Header: auth},
			{Why: "create without data", Method: "POST", Path: "/v2/domains/example.net/records", Header: auth, Body: `{"type":"A","name":"x"}`},
			{Why: "ttl as a string", Method: "POST", Path: "/v2/domains/example.net/records", Header: auth, Body: `{"type":"A","name":"x","data":"192.0.2.1","ttl":"60"}`},
			{Why: "the read-only id sent", Method: "PATCH", Path: "/v2/domains/example.net/records/1", Header: auth, Body: `{"id":1,"type":"A","data":"192.0.2.1"}`},
			{Why: "a field the schema lacks", Method: "PATCH", Path: "/v2/domains/example.net/records/1", Header: auth, Body: `{"type":"A","content":"192.0.2.1"}`},
			{Why: "a path the spec lacks", Method: "DELETE", Path: "/v2/domains/example.net", Header: auth},
		},
	}
}

func TestDigitalOcean(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The zone is found from the hostname: a deeper name's zone is its nearest parent the account has.
func TestDigitalOceanZoneDiscovery(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	e := f.Entry(t, "a.b.example.net", "")
	p, err := digitalocean.Def.Build(e, provider.Env{HTTP: webtest.ClientOf(f.Server), Secret: func(file, _ string) (string, error) { return token, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Update(t.Context(), netipA); err != nil {
		t.Fatal(err)
	}
	if got := f.Store.List("example.net", "a.b.example.net", "A"); len(got) != 1 {
		t.Errorf("records %v", got)
	}
	if fmt.Sprint(f.Server.Refusals()) != "[]" {
		t.Errorf("refusals %q", f.Server.Refusals())
	}
}

var netipA = netip.MustParseAddr("203.0.113.10")
