package desec_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers/desec"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "i-T3b1h_OI-H9ab8tRS98stGtURe"

// newFake serves testdata/desec.docs.json, written by hand from deSEC's documentation, over an account holding
// example.net. Errors are {detail}; every path must end with a slash.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/desec.docs.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Token "+token }
	srv.Refusal = func(status int, msg string) any {
		if status == http.StatusUnauthorized {
			msg = "Invalid token."
		}
		return map[string]any{"detail": msg}
	}
	const stamp = "2026-01-01T00:00:00.000000Z"
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"detail": "Not found."}}
	out := func(zone, sub, typ string, records []string, ttl int) map[string]any {
		name := zone + "."
		if sub != "" {
			name = sub + "." + name
		}
		return map[string]any{"created": stamp, "domain": zone, "subname": sub, "name": name, "type": typ, "records": records, "ttl": ttl, "touched": stamp}
	}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if !strings.HasSuffix(r.HTTP.URL.Path, "/") {
			return notFound
		}
		if r.Op.Role == "find_zone" {
			list := []any{}
			q := strings.TrimSuffix(r.Query.Get("owns_qname"), ".")
			for _, z := range st.Zones() {
				if q == "" || q == z || strings.HasSuffix(q, "."+z) {
					list = append(list, map[string]any{"name": z, "created": stamp, "published": stamp, "minimum_ttl": 3600, "touched": stamp})
				}
			}
			return spectest.Reply{Status: 200, Body: list}
		}
		zone := r.Vars["name"]
		if !st.HasZone(zone) {
			return notFound
		}
		abs := func(sub string) string {
			if sub == "" || sub == "@" {
				return zone
			}
			return sub + "." + zone
		}
		records := func(v any) []string {
			var out []string
			for _, x := range v.([]any) {
				out = append(out, x.(string))
			}
			return out
		}
		sub := r.Vars["subname"]
		if sub == "@" {
			sub = ""
		}
		switch r.Op.Role {
		case "get_rrset":
			have := st.List(zone, abs(sub), r.Vars["type"])
			if len(have) == 0 {
				return notFound
			}
			var recs []string
			for _, x := range have {
				recs = append(recs, x.Content)
			}
			return spectest.Reply{Status: 200, Body: out(zone, sub, r.Vars["type"], recs, have[0].TTL)}
		case "create_rrset":
			b := r.Body.(map[string]any)
			sub, typ := b["subname"].(string), b["type"].(string)
			if len(st.List(zone, abs(sub), typ)) > 0 {
				return spectest.Reply{Status: 400, Body: map[string]any{"non_field_errors": []any{"Another RRset with the same subdomain and type exists for this domain."}}}
			}
			ttl, _ := b["ttl"].(json.Number).Int64()
			if ttl < 3600 {
				return spectest.Reply{Status: 400, Body: map[string]any{"ttl": []any{"Ensure this value is greater than or equal to 3600."}}}
			}
			st.Replace(zone, abs(sub), typ, records(b["records"]), int(ttl))
			return spectest.Reply{Status: 201, Body: out(zone, sub, typ, records(b["records"]), int(ttl))}
		case "update_rrset":
			b := r.Body.(map[string]any)
			have := st.List(zone, abs(sub), r.Vars["type"])
			if len(have) == 0 {
				return notFound
			}
			ttl := int64(have[0].TTL)
			if n, ok := b["ttl"].(json.Number); ok {
				ttl, _ = n.Int64()
			}
			st.Replace(zone, abs(sub), r.Vars["type"], records(b["records"]), int(ttl))
			return spectest.Reply{Status: 200, Body: out(zone, sub, r.Vars["type"], records(b["records"]), int(ttl))}
		}
		return spectest.Reply{Status: 500}
	}
	auth := http.Header{"Authorization": {"Token " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("desec", token, 3600),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/api/v1/domains/"},
			{Why: "a bearer token instead of Token", Method: "GET", Path: "/api/v1/domains/", Header: http.Header{"Authorization": {"Bearer " + token}}},
			{Why: "an unknown query parameter", Method: "GET", Path: "/api/v1/domains/?name=example.net", Header: auth},
			{Why: "create without records", Method: "POST", Path: "/api/v1/domains/example.net/rrsets/", Header: auth, Body: `{"subname":"x","type":"A","ttl":3600}`},
			{Why: "create without subname", Method: "POST", Path: "/api/v1/domains/example.net/rrsets/", Header: auth, Body: `{"type":"A","records":["192.0.2.1"],"ttl":3600}`},
			{Why: "records as a string", Method: "PATCH", Path: "/api/v1/domains/example.net/rrsets/home/A/", Header: auth, Body: `{"records":"192.0.2.1"}`},
			{Why: "the read-only name sent", Method: "PATCH", Path: "/api/v1/domains/example.net/rrsets/home/A/", Header: auth, Body: `{"records":["192.0.2.1"],"name":"home.example.net."}`},
			{Why: "a type outside the list", Method: "GET", Path: "/api/v1/domains/example.net/rrsets/home/ALIAS/", Header: auth},
			{Why: "a PUT of the whole RRset list", Method: "PUT", Path: "/api/v1/domains/example.net/rrsets/", Header: auth, Body: `[]`},
		},
	}
}

func TestDeSEC(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The apex is addressed as @ in the URL and created with an empty subname.
func TestDeSECApex(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	p := f.Build(t, desec.Def, "example.net", token)
	for _, a := range []string{"203.0.113.10", "203.0.113.11"} {
		if _, err := p.Update(t.Context(), netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.Store.List("example.net", "example.net", "A"); len(got) != 1 || got[0].Content != "203.0.113.11" {
		t.Errorf("records %v", got)
	}
	if r := f.Server.Refusals(); len(r) > 0 {
		t.Errorf("refusals %q", r)
	}
}
