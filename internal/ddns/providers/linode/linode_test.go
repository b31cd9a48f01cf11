package linode_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers/linode"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "linodepat0123456789abcdef"

// newFake serves Linode's spec (testdata/linode.json) over a store holding example.org (id 11) and
// example.net (id 12). Errors are the spec's {errors: [{reason}]}.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.org", "example.net")
	ids := map[string]string{"11": "example.org", "12": "example.net"}
	srv := spectest.Serve(t, "testdata/linode.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+token }
	srv.Refusal = func(status int, msg string) any {
		return map[string]any{"errors": []any{map[string]any{"reason": msg}}}
	}
	rec := func(r spectest.Rec, zone string) map[string]any {
		id, _ := strconv.Atoi(r.ID)
		m := map[string]any{"id": id, "type": r.Type, "target": r.Content, "ttl_sec": r.TTL}
		if r.Name != zone {
			m["name"] = strings.TrimSuffix(r.Name, "."+zone)
		}
		return m
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"errors": []any{map[string]any{"reason": "Not found"}}}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "find_zone" {
			list := []any{map[string]any{"id": 11, "domain": "example.org", "type": "master"}, map[string]any{"id": 12, "domain": "example.net", "type": "master"}}
			return spectest.Reply{Status: 200, Body: map[string]any{"data": list, "page": 1, "pages": 1, "results": 2}}
		}
		zone, ok := ids[r.Vars["domainId"]]
		if !ok {
			return notFound
		}
		switch r.Op.Role {
		case "list_records":
			// Pages of page_size records (default 100), as the spec's page/pages/results describe.
			all := st.List(zone, "", "")
			size, page := 100, 1
			if n, err := strconv.Atoi(r.Query.Get("page_size")); err == nil {
				size = n
			}
			if n, err := strconv.Atoi(r.Query.Get("page")); err == nil {
				page = n
			}
			list := []any{}
			for i := (page - 1) * size; i < len(all) && i < page*size; i++ {
				list = append(list, rec(all[i], zone))
			}
			pages := max(1, (len(all)+size-1)/size)
			return spectest.Reply{Status: 200, Body: map[string]any{"data": list, "page": page, "pages": pages, "results": len(all)}}
		case "create_record":
			b := r.Body.(map[string]any)
			name := zone
			if n, _ := b["name"].(string); n != "" {
				name = n + "." + zone
			}
			ttl, _ := b["ttl_sec"].(json.Number).Int64()
			x := st.Add(zone, name, b["type"].(string), b["target"].(string), int(ttl))
			return spectest.Reply{Status: 200, Body: rec(x, zone)}
		case "replace_record":
			b := r.Body.(map[string]any)
			x, ok := st.Update(zone, r.Vars["recordId"], func(x *spectest.Rec) {
				if d, ok := b["target"].(string); ok {
					x.Content = d
				}
			})
			if !ok {
				return notFound
			}
			return spectest.Reply{Status: 200, Body: rec(x, zone)}
		}
		return spectest.Reply{Status: 400, Body: map[string]any{"errors": []any{map[string]any{"reason": "unexpected " + r.Op.Role}}}}
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("linode", token, 300),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v4/domains"},
			{Why: "an API version outside the enum", Method: "GET", Path: "/v3/domains", Header: auth},
			{Why: "page_size below 25", Method: "GET", Path: "/v4/domains?page_size=10", Header: auth},
			{Why: "a domain id that is not a number", Method: "GET", Path: "/v4/domains/example.net/records", Header: auth},
			{Why: "a type outside the enum", Method: "POST", Path: "/v4/domains/12/records", Header: auth, Body: `{"type":"ALIAS","name":"x","target":"192.0.2.1"}`},
			{Why: "a field the schema forbids (additionalProperties: false)", Method: "POST", Path: "/v4/domains/12/records", Header: auth, Body: `{"type":"A","name":"x","target":"192.0.2.1","content":"x"}`},
			{Why: "create without type", Method: "POST", Path: "/v4/domains/12/records", Header: auth, Body: `{"name":"x","target":"192.0.2.1"}`},
			{Why: "PATCH, which the spec lacks for records", Method: "PATCH", Path: "/v4/domains/12/records/1", Header: auth, Body: `{"target":"192.0.2.1"}`},
		},
	}
}

func TestLinode(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The record may be on a later page: the provider reads the pages until it finds it and changes it in place
// (the control: the fake does page, so a provider reading one page would create a second record).
func TestLinodePages(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for i := range 600 {
		f.Store.Add("example.net", fmt.Sprintf("h%d.example.net", i), "A", "192.0.2.1", 300)
	}
	f.Store.Add("example.net", "home.example.net", "A", "192.0.2.99", 300)
	p := f.Build(t, linode.Def, "home.example.net", token)
	if _, err := p.Update(t.Context(), netip.MustParseAddr("203.0.113.10")); err != nil {
		t.Fatal(err)
	}
	if got := f.Store.List("example.net", "home.example.net", "A"); len(got) != 1 || got[0].Content != "203.0.113.10" {
		t.Errorf("home's A records %v", got)
	}
	if len(f.Server.Refusals()) > 0 {
		t.Errorf("refusals %q", f.Server.Refusals())
	}
}
