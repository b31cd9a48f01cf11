// Package ovh keeps the A or AAAA record of a hostname in an OVHcloud DNS zone through API 1.0, as the
// OpenAPI rendering in OVHcloud's own CLI (ovh/ovhcloud-cli, a copy in testdata) describes: the zone is the
// one of GET /domain/zone that holds the hostname, the record is found with GET
// /domain/zone/{zone}/record?fieldType=&subDomain= (ids) and read with GET .../record/{id}, changed with PUT
// .../record/{id} {target, ttl} or created with POST .../record {fieldType, subDomain, target, ttl}, and the
// zone is then refreshed (POST /domain/zone/{zone}/refresh), without which OVH does not serve the change.
//
// Requests carry OVH's application signature, which the spec leaves out and OVH documents in prose
// ("First steps with the OVHcloud APIs"): X-Ovh-Application (the application key), X-Ovh-Consumer (the
// consumer key), X-Ovh-Timestamp (Unix seconds) and X-Ovh-Signature, "$1$" and the SHA-1 in hex of
// application secret + consumer key + method + full URL + body + timestamp, joined with "+". The timestamp is
// the router's clock: OVH's /auth/time is not in the spec.
package ovh

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultEndpoint is OVHcloud Europe's API.
const DefaultEndpoint = "https://eu.api.ovh.com/1.0"

// Settings are an ovh entry's keys: the application key, the application secret (password_file/env) and
// the consumer key (token_file/env).
type Settings struct {
	Endpoint       string `json:",omitempty"`
	ApplicationKey string
	PasswordFile   string `json:",omitempty"`
	PasswordEnv    string `json:",omitempty"`
	TokenFile      string `json:",omitempty"`
	TokenEnv       string `json:",omitempty"`
	Zone           string `json:",omitempty"`
	TTL            int
}

// Def is the ovh provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromSpec,
	Doc: "https://help.ovhcloud.com/csm/en-api-getting-started-ovhcloud-api",
	Example: "provider: ovh\nhostname: home.example.net\napplication_key: 7kbG7Bk7S9Nt7ZSV\n" +
		"password_file: /etc/hairpin/ovh.secret   # the application secret\ntoken_file: /etc/hairpin/ovh.consumer   # the consumer key",
	Config: ddnsconf.Provider{Name: "ovh", AAAA: true, Keys: []string{"endpoint", "application_key", "password_file", "password_env", "token_file", "token_env", "zone", "ttl"}}},
	Decode, New)

// Decode reads an ovh entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60}
	provider.DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, 60, 86400)
	ddnsconf.Require(k, e.Provider, "application_key")
	s.ApplicationKey, _ = k.String("application_key")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	return s
}

type ovh struct {
	provider.Client
	s *Settings
}

// Sign sets the application signature headers on req; now is the timestamp.
func Sign(req *web.Request, body []byte, appKey, appSecret, consumer string, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	sum := sha1.Sum([]byte(strings.Join([]string{appSecret, consumer, req.Method, req.URL.String(), string(body), ts}, "+")))
	req.Header.Set("X-Ovh-Application", appKey)
	req.Header.Set("X-Ovh-Consumer", consumer)
	req.Header.Set("X-Ovh-Timestamp", ts)
	req.Header.Set("X-Ovh-Signature", "$1$"+hex.EncodeToString(sum[:]))
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Endpoint, DefaultEndpoint, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	secret, err := env.Secret(s.PasswordFile, s.PasswordEnv)
	if err != nil {
		return nil, errfmt.Errorf("application secret: %w", err)
	}
	consumer, err := env.Secret(s.TokenFile, s.TokenEnv)
	if err != nil {
		return nil, errfmt.Errorf("consumer key: %w", err)
	}
	for _, v := range []string{s.ApplicationKey, secret, consumer} {
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			return nil, errfmt.Errorf("the application key, application secret and consumer key must each be one word")
		}
	}
	api := &provider.API{Env: env, Base: u, Vendor: "OVHcloud", Message: message,
		Auth: func(r *web.Request, body []byte) error {
			Sign(r, body, s.ApplicationKey, secret, consumer, time.Now())
			return nil
		}}
	return &ovh{Client: provider.Client{API: api, Hostname: provider.Canonical(e.Hostname)}, s: s}, nil
}

func message(body []byte) string {
	var e struct {
		Class   string `json:"class"`
		Message string `json:"message"`
	}
	if provider.JSONInto(body, &e) && e.Message != "" {
		return strings.TrimPrefix(e.Class+": "+e.Message, ": ")
	}
	return ""
}

func (o *ovh) findZone(ctx context.Context) (string, error) {
	return o.Zone.Get(ctx, func(ctx context.Context) (string, error) {
		var zones []string
		if _, err := o.API.Call(ctx, web.MethodGet, "/domain/zone", nil, nil, &zones); err != nil {
			return "", err
		}
		z, ok := provider.Canonical(o.s.Zone), o.s.Zone != ""
		if !ok {
			z, ok = provider.PickZone(o.Hostname, zones)
		}
		if !ok {
			return "", provider.NoZone("OVHcloud", o.Hostname)
		}
		return z, nil
	})
}

// Update points the hostname's A (or AAAA) record at addr and refreshes the zone.
func (o *ovh) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := o.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ, sub := provider.RecordType(addr), provider.Subname(o.Hostname, zone)
	base := "/domain/zone/" + url.PathEscape(zone)
	var ids []int64
	if _, err := o.API.Call(ctx, web.MethodGet, base+"/record", url.Values{"fieldType": {typ}, "subDomain": {sub}}, nil, &ids); err != nil {
		return "", err
	}
	answer := "created"
	if len(ids) > 0 {
		var rec struct {
			Target string `json:"target"`
		}
		if _, err := o.API.Call(ctx, web.MethodGet, fmt.Sprintf("%s/record/%d", base, ids[0]), nil, nil, &rec); err != nil {
			return "", err
		}
		if rec.Target == addr.String() {
			return "unchanged", nil
		}
		in := struct {
			Target string `json:"target"`
			TTL    int    `json:"ttl"`
		}{addr.String(), o.s.TTL}
		if _, err := o.API.Call(ctx, web.MethodPut, fmt.Sprintf("%s/record/%d", base, ids[0]), nil, in, nil); err != nil {
			return "", err
		}
		answer = "updated"
	} else {
		in := struct {
			FieldType string `json:"fieldType"`
			SubDomain string `json:"subDomain"`
			Target    string `json:"target"`
			TTL       int    `json:"ttl"`
		}{typ, sub, addr.String(), o.s.TTL}
		if _, err := o.API.Call(ctx, web.MethodPost, base+"/record", nil, in, nil); err != nil {
			return "", err
		}
	}
	// Without the refresh OVH keeps serving the old zone.
	if _, err := o.API.Call(ctx, web.MethodPost, base+"/refresh", nil, nil, nil); err != nil {
		return "", err
	}
	return answer, nil
}
