package gcloud_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/gcloud"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func key(t *testing.T) *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

// tokenServer is Google's token endpoint as "Using OAuth 2.0 for Server to Server Applications" describes it:
// a form POST with grant_type jwt-bearer and the assertion, an RS256 JWT from the service account whose
// signature, audience, scope and lifetime it checks, answered with {access_token, expires_in, token_type}.
func tokenServer(t *testing.T, pub *rsa.PublicKey, email, accessToken string) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny := func(why string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, why)
		}
		if r.Method != http.MethodPost || r.ParseForm() != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			deny("bad grant")
			return
		}
		parts := strings.Split(r.Form.Get("assertion"), ".")
		if len(parts) != 3 {
			deny("not a JWT")
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			deny("Invalid JWT Signature.")
			return
		}
		var claims struct {
			Iss, Scope, Aud string
			Iat, Exp        int64
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if json.Unmarshal(raw, &claims) != nil || claims.Iss != email || claims.Scope != gcloud.Scope ||
			claims.Aud != "https://"+r.Host+"/token" || claims.Exp-claims.Iat > 3600 {
			deny("bad claims")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, accessToken)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newFake serves Cloud DNS's discovery document (testdata/google.json) for project my-project with managed
// zone "home-zone" (example.net.). A change answers "pending" and is applied when it is polled, which then
// says "done": a provider that does not follow its change sees the old record set. Errors are Google's
// {error: {code, message, status}}.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/google.json")
	srv.Prefix = "" // the document's paths carry /dns/v1
	const email, access = "hairpin@my-project.iam.gserviceaccount.com", "ya29.test-access-token"
	tok := tokenServer(t, &key(t).PublicKey, email, access)
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && r.Header.Get("Authorization") == "Bearer "+access }
	srv.Refusal = func(status int, msg string) any {
		s := map[int]string{401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}[status]
		if s == "" {
			s = "INVALID_ARGUMENT"
		}
		return map[string]any{"error": map[string]any{"code": status, "message": msg, "status": s}}
	}
	var mu sync.Mutex
	pending := map[string]func(){}
	n := 0
	rrset := func(name, typ string) (map[string]any, bool) {
		recs := st.List("example.net", name, typ)
		if len(recs) == 0 {
			return nil, false
		}
		var datas []any
		for _, x := range recs {
			datas = append(datas, x.Content)
		}
		return map[string]any{"kind": "dns#resourceRecordSet", "name": recs[0].Name + ".", "type": typ, "ttl": recs[0].TTL, "rrdatas": datas}, true
	}
	notFound := spectest.Reply{Status: 404, Body: map[string]any{"error": map[string]any{"code": 404, "message": "not found", "status": "NOT_FOUND"}}}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Vars["project"] != "my-project" {
			return notFound
		}
		if r.Op.Role == "find_zone" {
			zones := []any{}
			if r.Query.Get("dnsName") == "example.net." {
				zones = append(zones, map[string]any{"kind": "dns#managedZone", "name": "home-zone", "dnsName": "example.net.", "id": "1234"})
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"kind": "dns#managedZonesListResponse", "managedZones": zones}}
		}
		if r.Vars["managedZone"] != "home-zone" {
			return notFound
		}
		switch r.Op.Role {
		case "list_records":
			sets := []any{}
			if set, ok := rrset(r.Query.Get("name"), r.Query.Get("type")); ok {
				sets = append(sets, set)
			}
			return spectest.Reply{Status: 200, Body: map[string]any{"kind": "dns#resourceRecordSetsListResponse", "rrsets": sets}}
		case "change_records":
			b := r.Body.(map[string]any)
			var apply []func()
			for _, d := range asList(b["deletions"]) {
				d := d.(map[string]any)
				name, typ := d["name"].(string), d["type"].(string)
				if cur, ok := rrset(name, typ); !ok || fmt.Sprint(cur["rrdatas"]) != fmt.Sprint(d["rrdatas"]) {
					return spectest.Reply{Status: 412, Body: map[string]any{"error": map[string]any{"code": 412, "message": "deletion does not match", "status": "FAILED_PRECONDITION"}}}
				}
				apply = append(apply, func() { st.Replace("example.net", name, typ, nil, 0) })
			}
			for _, a := range asList(b["additions"]) {
				a := a.(map[string]any)
				name, typ := a["name"].(string), a["type"].(string)
				var values []string
				for _, v := range asList(a["rrdatas"]) {
					values = append(values, v.(string))
				}
				apply = append(apply, func() { st.Replace("example.net", name, typ, values, 60) })
			}
			mu.Lock()
			n++
			id := fmt.Sprint(n)
			pending[id] = func() {
				for _, f := range apply {
					f()
				}
			}
			mu.Unlock()
			reply := map[string]any{"kind": "dns#change", "id": id, "status": "pending"}
			for _, k := range []string{"additions", "deletions"} {
				if v, ok := b[k]; ok {
					reply[k] = v
				}
			}
			return spectest.Reply{Status: 200, Body: reply}
		case "get_change":
			mu.Lock()
			f, ok := pending[r.Vars["changeId"]]
			delete(pending, r.Vars["changeId"])
			mu.Unlock()
			if !ok {
				return notFound
			}
			f()
			return spectest.Reply{Status: 200, Body: map[string]any{"kind": "dns#change", "id": r.Vars["changeId"], "status": "done"}}
		}
		return notFound
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key(t))
	keyJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": email, "token_uri": tok.URL + "/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	auth := http.Header{"Authorization": {"Bearer " + access}, "Content-Type": {"application/json"}}
	base := "/dns/v1/projects/my-project/managedZones/home-zone"
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "gcloud", Hostname: hostname, Family: family, Settings: &gcloud.Settings{
				Endpoint: srv.URL, Project: "my-project", TokenFile: ddnstest.WriteSecret(t, string(keyJSON)), TTL: 60}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no access token", Method: "GET", Path: "/dns/v1/projects/my-project/managedZones"},
			{Why: "the key in the wrong header", Method: "GET", Path: "/dns/v1/projects/my-project/managedZones", Header: http.Header{"X-Goog-Api-Key": {access}}},
			{Why: "a query parameter the document lacks", Method: "GET", Path: base + "/rrsets?filter=A", Header: auth},
			{Why: "maxResults not a number", Method: "GET", Path: base + "/rrsets?maxResults=many", Header: auth},
			{Why: "a ttl as a string", Method: "POST", Path: base + "/changes", Header: auth, Body: `{"additions":[{"name":"x.example.net.","type":"A","ttl":"60","rrdatas":["192.0.2.1"]}]}`},
			{Why: "rrdatas as a string", Method: "POST", Path: base + "/changes", Header: auth, Body: `{"additions":[{"name":"x.example.net.","type":"A","ttl":60,"rrdatas":"192.0.2.1"}]}`},
			{Why: "a field the schema lacks", Method: "POST", Path: base + "/changes", Header: auth, Body: `{"additions":[{"name":"x.example.net.","type":"A","ttl":60,"content":"192.0.2.1"}]}`},
			{Why: "a change without a body", Method: "POST", Path: base + "/changes", Header: auth},
		},
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestGCloud(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}
