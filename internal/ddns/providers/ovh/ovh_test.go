package ovh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/ovh"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
	"github.com/hairpin-nat/hairpin/internal/web"
)

const (
	appKey    = "7kbG7Bk7S9Nt7ZSV"
	appSecret = "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF"
	consumer  = "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1"
)

// verify recomputes the application signature as OVH documents it, and refuses a timestamp more than five
// minutes off.
func verify(r *http.Request) bool {
	ts, err := strconv.ParseInt(r.Header.Get("X-Ovh-Timestamp"), 10, 64)
	if err != nil || r.Header.Get("X-Ovh-Application") != appKey || r.Header.Get("X-Ovh-Consumer") != consumer ||
		time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	check, _ := web.NewRequest(context.Background(), r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	ovh.Sign(check, body, appKey, appSecret, consumer, time.Unix(ts, 0))
	return check.Header.Get("X-Ovh-Signature") == r.Header.Get("X-Ovh-Signature")
}

// newFake serves OVHcloud's /domain/zone spec (testdata/ovh.json) for the zones example.net and example.org.
// Record changes are staged and served only after POST /domain/zone/{zone}/refresh, as the spec's summaries
// warn, so a provider that does not refresh leaves the old record in place. Errors are OVH's {class, message}.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net", "example.org")
	srv := spectest.Serve(t, "testdata/ovh.json")
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && verify(r) }
	srv.Refusal = func(status int, msg string) any {
		class := map[int]string{401: "Client::Unauthorized", 403: "Client::Forbidden", 404: "Client::NotFound", 429: "Client::TooManyRequests"}[status]
		if class == "" {
			class = "Client::BadRequest"
		}
		return map[string]any{"class": class, "message": msg}
	}
	var mu sync.Mutex
	var staged []func()
	stage := func(f func()) {
		mu.Lock()
		staged = append(staged, f)
		mu.Unlock()
	}
	abs := func(sub, zone string) string {
		if sub == "" {
			return zone
		}
		return sub + "." + zone
	}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		if r.Op.Role == "find_zone" {
			return spectest.Reply{Status: 200, Body: st.Zones()}
		}
		zone := r.Vars["zoneName"]
		if !st.HasZone(zone) {
			return spectest.Reply{Status: 404, Body: map[string]any{"class": "Client::NotFound", "message": "This service does not exist"}}
		}
		switch r.Op.Role {
		case "list_records":
			ids := []int{}
			name := ""
			if _, ok := r.Query["subDomain"]; ok {
				name = abs(r.Query.Get("subDomain"), zone)
			}
			for _, x := range st.List(zone, name, r.Query.Get("fieldType")) {
				id, _ := strconv.Atoi(x.ID)
				ids = append(ids, id)
			}
			return spectest.Reply{Status: 200, Body: ids}
		case "get_record":
			x, ok := st.Get(zone, r.Vars["id"])
			if !ok {
				break
			}
			id, _ := strconv.Atoi(x.ID)
			return spectest.Reply{Status: 200, Body: map[string]any{"id": id, "fieldType": x.Type, "subDomain": strings.TrimSuffix(strings.TrimSuffix(x.Name, zone), "."),
				"target": x.Content, "ttl": x.TTL, "zone": zone}}
		case "replace_record":
			target, _ := r.Body.(map[string]any)["target"].(string)
			id := r.Vars["id"]
			stage(func() { st.Update(zone, id, func(x *spectest.Rec) { x.Content = target }) })
			return spectest.Reply{Status: 200}
		case "create_record":
			b := r.Body.(map[string]any)
			sub, _ := b["subDomain"].(string)
			ttl, _ := b["ttl"].(json.Number).Int64()
			typ, target := b["fieldType"].(string), b["target"].(string)
			stage(func() { st.Add(zone, abs(sub, zone), typ, target, int(ttl)) })
			return spectest.Reply{Status: 200, Body: map[string]any{"id": 1, "fieldType": typ, "subDomain": sub, "target": target, "ttl": ttl, "zone": zone}}
		case "refresh_zone":
			mu.Lock()
			fs := staged
			staged = nil
			mu.Unlock()
			for _, f := range fs {
				f()
			}
			return spectest.Reply{Status: 200}
		}
		return spectest.Reply{Status: 404, Body: map[string]any{"class": "Client::NotFound", "message": "not found"}}
	}
	sign := func(secret string) func(*http.Request, []byte) {
		return func(hr *http.Request, body []byte) { ovh.Sign(asWeb(hr), body, appKey, secret, consumer, time.Now()) }
	}
	ct := http.Header{"Content-Type": {"application/json"}}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "ovh", Hostname: hostname, Family: family, Settings: &ovh.Settings{Endpoint: srv.Endpoint(), ApplicationKey: appKey,
				PasswordFile: ddnstest.WriteSecret(t, appSecret), TokenFile: ddnstest.WriteSecret(t, consumer), TTL: 60}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no signature", Method: "GET", Path: "/1.0/domain/zone"},
			{Why: "signed with another application secret", Method: "GET", Path: "/1.0/domain/zone", Sign: sign("x" + appSecret)},
			{Why: "a fieldType outside the enum", Method: "GET", Path: "/1.0/domain/zone/example.net/record?fieldType=ALIAS", Sign: sign(appSecret)},
			{Why: "a query parameter the spec lacks", Method: "GET", Path: "/1.0/domain/zone/example.net/record?name=home", Sign: sign(appSecret)},
			{Why: "create without target", Method: "POST", Path: "/1.0/domain/zone/example.net/record", Header: ct, Sign: sign(appSecret), Body: `{"fieldType":"A","subDomain":"x"}`},
			{Why: "the read-only zone sent", Method: "POST", Path: "/1.0/domain/zone/example.net/record", Header: ct, Sign: sign(appSecret), Body: `{"fieldType":"A","target":"192.0.2.1","zone":"example.net"}`},
			{Why: "ttl as a string", Method: "PUT", Path: "/1.0/domain/zone/example.net/record/1", Header: ct, Sign: sign(appSecret), Body: `{"target":"192.0.2.1","ttl":"60"}`},
			{Why: "a refresh with a body", Method: "POST", Path: "/1.0/domain/zone/example.net/refresh", Header: ct, Sign: sign(appSecret), Body: `{"now":true}`},
		},
	}
}

func TestOVH(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// asWeb is the conformance suite's net/http request as the signer sees it; the header is shared, so what the
// signer sets is sent.
func asWeb(r *http.Request) *web.Request {
	return &web.Request{Method: r.Method, URL: r.URL, Host: r.Host, Header: web.Header(r.Header)}
}
