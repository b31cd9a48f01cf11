package azure_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/azure"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

const (
	tenant, client, secret = "tenant-1", "client-1", "azure-client-secret"
	sub, group             = "sub-1", "dns"
	access                 = "eyJ0eXAiOiJKV1QiLCJhbGciOi.azure.access"
)

// loginServer is the identity platform's token endpoint for the client-credentials grant, as Microsoft
// documents it: POST /{tenant}/oauth2/v2.0/token with grant_type, client_id, client_secret and scope
// https://management.azure.com/.default; a wrong secret gets 401 invalid_client.
func loginServer(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/"+tenant+"/oauth2/v2.0/token" || r.ParseForm() != nil || r.Form.Get("grant_type") != "client_credentials" ||
			r.Form.Get("scope") != "https://management.azure.com/.default" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		if r.Form.Get("client_id") != client || r.Form.Get("client_secret") != secret {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, access)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newFake serves Azure DNS's Swagger (testdata/azure.json) for subscription sub-1, resource group dns, zone
// example.net. PUT honours If-Match (the etag) and If-None-Match: *, answering 412 when they do not hold.
// Errors are the CloudError body.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/azure.json")
	login := loginServer(t)
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+access }
	cloudError := func(code, msg string) map[string]any {
		return map[string]any{"error": map[string]any{"code": code, "message": msg}}
	}
	srv.Refusal = func(status int, msg string) any {
		code := map[int]string{401: "AuthenticationFailed", 403: "AuthorizationFailed", 404: "NotFound", 429: "TooManyRequests"}[status]
		if code == "" {
			code = "BadRequest"
		}
		return cloudError(code, msg)
	}
	etag := func(recs []spectest.Rec) string {
		var s []string
		for _, r := range recs {
			s = append(s, r.Content)
		}
		return fmt.Sprintf("%x", strings.Join(s, ","))
	}
	set := func(zone, name, typ string) (map[string]any, string, bool) {
		fq := zone
		if name != "@" {
			fq = name + "." + zone
		}
		recs := st.List(zone, fq, typ)
		if len(recs) == 0 {
			return nil, "", false
		}
		var list []any
		for _, r := range recs {
			if typ == "A" {
				list = append(list, map[string]any{"ipv4Address": r.Content})
			} else {
				list = append(list, map[string]any{"ipv6Address": r.Content})
			}
		}
		tag := etag(recs)
		return map[string]any{"id": "/subscriptions/sub-1/x", "name": name, "type": "Microsoft.Network/dnszones/" + typ, "etag": tag,
			"properties": map[string]any{"TTL": recs[0].TTL, "fqdn": fq + ".", typ + "Records": list}}, tag, true
	}
	notFound := spectest.Reply{Status: 404, Body: cloudError("NotFound", "The resource was not found")}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Vars["subscriptionId"] != sub || r.Vars["resourceGroupName"] != group || r.Query.Get("api-version") != "2018-05-01" || !st.HasZone(r.Vars["zoneName"]) {
			return notFound
		}
		zone := r.Vars["zoneName"]
		switch r.Op.Role {
		case "get_zone":
			return spectest.Reply{Status: 200, Body: map[string]any{"id": "/subscriptions/sub-1/z", "name": zone, "location": "global", "etag": "z1",
				"properties": map[string]any{"zoneType": "Public"}}}
		case "get_record":
			body, _, ok := set(zone, r.Vars["relativeRecordSetName"], r.Vars["recordType"])
			if !ok {
				return notFound
			}
			return spectest.Reply{Status: 200, Body: body}
		case "replace_record":
			name, typ := r.Vars["relativeRecordSetName"], r.Vars["recordType"]
			_, tag, exists := set(zone, name, typ)
			h := r.HTTP.Header
			if (h.Get("If-None-Match") == "*" && exists) || (h.Get("If-Match") != "" && h.Get("If-Match") != tag) {
				return spectest.Reply{Status: 412, Body: cloudError("PreconditionFailed", "The record set has been modified")}
			}
			props := r.Body.(map[string]any)["properties"].(map[string]any)
			var values []string
			for _, x := range asList(props[typ+"Records"]) {
				for _, v := range x.(map[string]any) {
					values = append(values, v.(string))
				}
			}
			fq := zone
			if name != "@" {
				fq = name + "." + zone
			}
			ttl, _ := props["TTL"].(json.Number).Int64()
			st.Replace(zone, fq, typ, values, int(ttl))
			body, _, _ := set(zone, name, typ)
			if exists {
				return spectest.Reply{Status: 200, Body: body}
			}
			return spectest.Reply{Status: 201, Body: body}
		}
		return notFound
	}
	auth := http.Header{"Authorization": {"Bearer " + access}, "Content-Type": {"application/json"}}
	base := "/subscriptions/sub-1/resourceGroups/dns/providers/Microsoft.Network/dnsZones/example.net"
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "azure", Hostname: hostname, Family: family, Settings: &azure.Settings{Endpoint: srv.URL, LoginEndpoint: login.URL,
				TenantID: tenant, ClientID: client, PasswordFile: ddnstest.WriteSecret(t, secret), SubscriptionID: sub, ResourceGroup: group, TTL: 60}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no access token", Method: "GET", Path: base + "?api-version=2018-05-01"},
			{Why: "the client secret as a Basic credential", Method: "GET", Path: base + "?api-version=2018-05-01", Header: http.Header{"Authorization": {"Basic Y2xpZW50LTE6c2VjcmV0"}}},
			{Why: "no api-version (required)", Method: "GET", Path: base, Header: auth},
			{Why: "a record type outside the enum", Method: "GET", Path: base + "/ALIAS/home?api-version=2018-05-01", Header: auth},
			{Why: "TTL as a string", Method: "PUT", Path: base + "/A/home?api-version=2018-05-01", Header: auth, Body: `{"properties":{"TTL":"60","ARecords":[{"ipv4Address":"192.0.2.1"}]}}`},
			{Why: "the read-only fqdn sent", Method: "PUT", Path: base + "/A/home?api-version=2018-05-01", Header: auth, Body: `{"properties":{"fqdn":"home.example.net.","ARecords":[{"ipv4Address":"192.0.2.1"}]}}`},
			{Why: "a record field the schema lacks", Method: "PUT", Path: base + "/A/home?api-version=2018-05-01", Header: auth, Body: `{"properties":{"ARecords":[{"address":"192.0.2.1"}]}}`},
			{Why: "a PUT without a body (required)", Method: "PUT", Path: base + "/A/home?api-version=2018-05-01", Header: auth},
		},
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestAzure(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
