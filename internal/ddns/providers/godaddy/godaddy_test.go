package godaddy_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/godaddy"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const (
	key    = "dKD4Nx0123456789abcdef"
	secret = "Fedcba9876543210"
)

// newFake serves testdata/godaddy.docs.json, written by hand from GoDaddy's documentation, over an account
// holding example.net. Errors are {code, message}.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/godaddy.docs.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool {
		return !bad.Load() && r.Header.Get("Authorization") == "sso-key "+key+":"+secret
	}
	codes := map[int]string{400: "INVALID_BODY", 401: "UNABLE_TO_AUTHENTICATE", 404: "NOT_FOUND", 415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR"}
	srv.Refusal = func(status int, msg string) any {
		if status == 429 {
			return map[string]any{"code": codes[status], "message": msg, "retryAfterSec": 3600}
		}
		return map[string]any{"code": codes[status], "message": msg}
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"code": "UNKNOWN_DOMAIN", "message": "The given domain is not registered, or does not have a zone file"}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		zone := r.Vars["domain"]
		if !st.HasZone(zone) {
			return notFound
		}
		name := zone
		if n := r.Vars["name"]; n != "@" && n != "" {
			name = n + "." + zone
		}
		switch r.Op.Role {
		case "get_domain":
			return spectest.Reply{Status: 200, Body: map[string]any{"domain": zone, "domainId": 1, "status": "ACTIVE"}}
		case "list_records":
			list := []any{}
			for _, x := range st.List(zone, name, r.Vars["type"]) {
				list = append(list, map[string]any{"data": x.Content, "name": r.Vars["name"], "type": x.Type, "ttl": x.TTL})
			}
			return spectest.Reply{Status: 200, Body: list}
		case "replace_records":
			var contents []string
			ttl := 3600
			for _, it := range r.Body.([]any) {
				m := it.(map[string]any)
				contents = append(contents, m["data"].(string))
				if n, ok := m["ttl"].(json.Number); ok {
					v, _ := n.Int64()
					ttl = int(v)
				}
			}
			st.Replace(zone, name, r.Vars["type"], contents, ttl)
			return spectest.Reply{Status: 200}
		}
		return spectest.Reply{Status: 500, Body: map[string]any{"code": "INTERNAL_SERVER_ERROR", "message": "unexpected " + r.Op.Role}}
	}
	auth := http.Header{"Authorization": {"sso-key " + key + ":" + secret}, "Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "godaddy", Hostname: hostname, Family: family, Settings: &godaddy.Settings{
				Endpoint: srv.Endpoint(), APIKey: key, PasswordFile: ddnstest.WriteSecret(t, secret), TTL: 600}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no Authorization header", Method: "GET", Path: "/v1/domains/example.net"},
			{Why: "a bearer token instead of sso-key", Method: "GET", Path: "/v1/domains/example.net", Header: http.Header{"Authorization": {"Bearer " + secret}}},
			{Why: "sso-key without the secret", Method: "GET", Path: "/v1/domains/example.net", Header: http.Header{"Authorization": {"sso-key " + key}}},
			{Why: "a PUT without data", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `[{"ttl":600}]`},
			{Why: "a PUT with one object, not a list", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `{"data":"192.0.2.1"}`},
			{Why: "an empty list", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `[]`},
			{Why: "ttl below 600", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `[{"data":"192.0.2.1","ttl":60}]`},
			{Why: "ttl as a string", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `[{"data":"192.0.2.1","ttl":"600"}]`},
			{Why: "the name in the body (a PATCH-style record)", Method: "PUT", Path: "/v1/domains/example.net/records/A/home", Header: auth, Body: `[{"data":"192.0.2.1","name":"home","type":"A"}]`},
			{Why: "a type outside the enum", Method: "GET", Path: "/v1/domains/example.net/records/ALIAS/home", Header: auth},
			{Why: "a PATCH of the whole zone", Method: "PATCH", Path: "/v1/domains/example.net/records", Header: auth, Body: `[]`},
		},
	}
}

func TestGoDaddy(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The apex is the name "@"; a deeper name finds its zone among its parents.
func TestGoDaddyApexAndZone(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"example.net", "a.b.example.net"} {
		t.Run(host, func(t *testing.T) {
			f := newFake(t)
			p := f.Build(t, godaddy.Def, host, secret)
			if _, err := p.Update(t.Context(), netip.MustParseAddr("203.0.113.10")); err != nil {
				t.Fatal(err)
			}
			if got := f.Store.List("example.net", host, "A"); len(got) != 1 || got[0].Content != "203.0.113.10" {
				t.Errorf("records %v", got)
			}
			if r := f.Server.Refusals(); len(r) > 0 {
				t.Errorf("refusals %q", r)
			}
		})
	}
}
