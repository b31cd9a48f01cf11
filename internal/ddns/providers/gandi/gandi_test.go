package gandi_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const token = "gandi-pat-0123456789"

// newFake serves testdata/gandi-docs.json, written by hand from Gandi's LiveDNS documentation (no vendor
// spec exists), for the domain example.net.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/gandi-docs.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+token }
	srv.Refusal = func(status int, msg string) any {
		return map[string]any{"code": status, "message": msg, "object": "HTTP" + http.StatusText(status), "cause": http.StatusText(status)}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"code": 404, "message": "Can't find the DNS record", "object": "dns-record", "cause": "Not Found"}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		zone := r.Vars["fqdn"]
		if !st.HasZone(zone) {
			return notFound
		}
		name := zone
		if n := r.Vars["rrset_name"]; n != "@" {
			name = n + "." + zone
		}
		switch r.Op.Role {
		case "get_zone":
			return spectest.Reply{Status: 200, Body: map[string]any{"fqdn": zone, "automatic_snapshots": true}}
		case "get_record":
			recs := st.List(zone, name, r.Vars["rrset_type"])
			if len(recs) == 0 {
				return notFound
			}
			var values []any
			for _, x := range recs {
				values = append(values, x.Content)
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"rrset_name": r.Vars["rrset_name"], "rrset_type": r.Vars["rrset_type"], "rrset_ttl": recs[0].TTL, "rrset_values": values}}
		case "replace_record":
			b := r.Body.(map[string]any)
			var values []string
			for _, v := range b["rrset_values"].([]any) {
				values = append(values, v.(string))
			}
			ttl, _ := b["rrset_ttl"].(json.Number).Int64()
			st.Replace(zone, name, r.Vars["rrset_type"], values, int(ttl))
			return spectest.Reply{Status: 201, Body: map[string]any{"message": "DNS Record Created"}}
		}
		return notFound
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry:          srv.TokenEntry("gandi", token, 300),
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no token", Method: "GET", Path: "/v5/livedns/domains/example.net"},
			{Why: "the old Apikey header", Method: "GET", Path: "/v5/livedns/domains/example.net", Header: http.Header{"X-Api-Key": {token}}},
			{Why: "a type outside the list", Method: "GET", Path: "/v5/livedns/domains/example.net/records/home/ALIASX", Header: auth},
			{Why: "a ttl below 300", Method: "PUT", Path: "/v5/livedns/domains/example.net/records/home/A", Header: auth, Body: `{"rrset_values":["192.0.2.1"],"rrset_ttl":60}`},
			{Why: "no values", Method: "PUT", Path: "/v5/livedns/domains/example.net/records/home/A", Header: auth, Body: `{"rrset_values":[]}`},
			{Why: "values as a string", Method: "PUT", Path: "/v5/livedns/domains/example.net/records/home/A", Header: auth, Body: `{"rrset_values":"192.0.2.1"}`},
		},
	}
}

func TestGandi(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
