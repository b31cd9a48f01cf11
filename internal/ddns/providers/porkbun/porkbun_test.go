package porkbun_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/porkbun"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const (
	apiKey = "pk1_0123456789abcdef"
	secret = "sk1_fedcba9876543210"
)

// newFake serves testdata/porkbun.docs.json, written by hand from Porkbun's documentation, over an account
// holding example.net and example.org. Credentials travel in the body; a wrong pair is refused with HTTP 400
// {status: ERROR, message: "Invalid API key. (002)"}, as Porkbun answers it.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net", "example.org")
	srv := spectest.Serve(t, "testdata/porkbun.docs.json")
	srv.AuthStatus = http.StatusBadRequest
	srv.ReadRoles = []string{"find_zone", "list_records", "list_records_apex"}
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(raw))
		var c struct{ APIKey, SecretAPIKey string }
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return false
		}
		c.APIKey, _ = m["apikey"].(string)
		c.SecretAPIKey, _ = m["secretapikey"].(string)
		return !bad.Load() && c.APIKey == apiKey && c.SecretAPIKey == secret
	}
	srv.Refusal = func(status int, msg string) any {
		if status == http.StatusBadRequest && len(msg) > 0 && bytes.Contains([]byte(msg), []byte("credentials")) {
			msg = "Invalid API key. (002)"
		}
		return map[string]any{"status": "ERROR", "message": msg}
	}
	rec := func(r spectest.Rec) map[string]any {
		return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "content": r.Content, "ttl": strconv.Itoa(r.TTL), "prio": "0", "notes": ""}
	}
	invalid := spectest.Reply{Status: 400, Body: map[string]any{"status": "ERROR", "message": "Invalid domain."}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "find_zone" {
			list := []any{}
			for _, z := range st.Zones() {
				list = append(list, map[string]any{"domain": z, "status": "ACTIVE", "tld": "net"})
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"status": "SUCCESS", "domains": list}}
		}
		zone := r.Vars["domain"]
		if !st.HasZone(zone) {
			return invalid
		}
		name := zone
		if sub := r.Vars["subdomain"]; sub != "" {
			name = sub + "." + zone
		}
		b := r.Body.(map[string]any)
		switch r.Op.Role {
		case "list_records", "list_records_apex":
			list := []any{}
			for _, x := range st.List(zone, name, r.Vars["type"]) {
				list = append(list, rec(x))
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"status": "SUCCESS", "cloudflare": "disabled", "records": list}}
		case "update_record", "update_record_apex":
			old := st.List(zone, name, r.Vars["type"])
			if len(old) == 0 {
				return spectest.Reply{Status: 400, Body: map[string]any{"status": "ERROR", "message": "Edit error: We were unable to edit the DNS record."}}
			}
			ttl, _ := strconv.Atoi(b["ttl"].(string))
			st.Replace(zone, name, r.Vars["type"], []string{b["content"].(string)}, ttl)
			return spectest.Reply{Status: 200, Body: map[string]any{"status": "SUCCESS"}}
		case "create_record":
			if n, _ := b["name"].(string); n != "" {
				name = n + "." + zone
			}
			ttl, _ := strconv.Atoi(b["ttl"].(string))
			x := st.Add(zone, name, b["type"].(string), b["content"].(string), ttl)
			id, _ := strconv.Atoi(x.ID)
			return spectest.Reply{Status: 200, Body: map[string]any{"status": "SUCCESS", "id": id}}
		}
		return spectest.Reply{Status: 500, Body: map[string]any{"status": "ERROR", "message": "unexpected " + r.Op.Role}}
	}
	ct := http.Header{"Content-Type": {"application/json"}}
	good := `"apikey":"` + apiKey + `","secretapikey":"` + secret + `"`
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "porkbun", Hostname: hostname, Family: family, Settings: &porkbun.Settings{
				Endpoint: srv.Endpoint(), APIKey: apiKey, PasswordFile: ddnstest.WriteSecret(t, secret), TTL: 600}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no credentials in the body", Method: "POST", Path: "/api/json/v3/domain/listAll", Header: ct, Body: `{}`},
			{Why: "the keys in a header instead of the body", Method: "POST", Path: "/api/json/v3/domain/listAll",
				Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + secret}}, Body: `{"apikey":"","secretapikey":""}`},
			{Why: "a wrong secret key", Method: "POST", Path: "/api/json/v3/domain/listAll", Header: ct, Body: `{"apikey":"` + apiKey + `","secretapikey":"sk1_wrong"}`},
			{Why: "a GET", Method: "GET", Path: "/api/json/v3/dns/retrieveByNameType/example.net/A/home", Header: ct},
			{Why: "edit without content", Method: "POST", Path: "/api/json/v3/dns/editByNameType/example.net/A/home", Header: ct, Body: `{` + good + `,"ttl":"600"}`},
			{Why: "create without type", Method: "POST", Path: "/api/json/v3/dns/create/example.net", Header: ct, Body: `{` + good + `,"content":"192.0.2.1"}`},
			{Why: "ttl as a number", Method: "POST", Path: "/api/json/v3/dns/create/example.net", Header: ct, Body: `{` + good + `,"type":"A","content":"192.0.2.1","ttl":600}`},
			{Why: "a type outside the list", Method: "POST", Path: "/api/json/v3/dns/retrieveByNameType/example.net/PTR/home", Header: ct, Body: `{` + good + `}`},
			{Why: "a field the documentation lacks", Method: "POST", Path: "/api/json/v3/dns/create/example.net", Header: ct, Body: `{` + good + `,"type":"A","data":"192.0.2.1"}`},
			{Why: "a form body", Method: "POST", Path: "/api/json/v3/dns/create/example.net", Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: `apikey=x`},
		},
	}
}

func TestPorkbun(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// The zone is the longest of the account's domains that holds the hostname; the apex has no subdomain
// segment in the path.
func TestPorkbunZoneAndApex(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"a.b.example.net", "example.org"} {
		t.Run(host, func(t *testing.T) {
			f := newFake(t)
			zone := "example.net"
			if host == "example.org" {
				zone = host
			}
			p := f.Build(t, porkbun.Def, host, secret)
			for _, a := range []string{"203.0.113.10", "203.0.113.11"} {
				if _, err := p.Update(t.Context(), netip.MustParseAddr(a)); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.Store.List(zone, host, "A"); len(got) != 1 || got[0].Content != "203.0.113.11" {
				t.Errorf("records %v", got)
			}
			if r := f.Server.Refusals(); len(r) > 0 {
				t.Errorf("refusals %q", r)
			}
		})
	}
}

// A domain without API access is an auth hold that says what to switch on.
func TestPorkbunAPIAccessOff(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.Server.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "find_zone" {
			return spectest.Reply{Status: 200, Body: map[string]any{"status": "SUCCESS", "domains": []any{map[string]any{"domain": "example.net"}}}}
		}
		return spectest.Reply{Status: 400, Body: map[string]any{"status": "ERROR", "message": "Domain is not opted in to API access."}}
	}
	p := f.Build(t, porkbun.Def, "home.example.net", secret)
	_, err := p.Update(t.Context(), netip.MustParseAddr("203.0.113.10"))
	if !provider.IsAuth(err) {
		t.Fatalf("err = %v, want an auth hold", err)
	}
}
