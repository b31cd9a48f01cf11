// Package gcloud keeps the A or AAAA record of a hostname in Google Cloud DNS through API v1, as Google's
// discovery document (dns.v1.json, a copy in testdata) describes: the managed zone is found with GET
// .../managedZones?dnsName=, the record set read with GET .../rrsets?name=&type=, replaced in one Change
// (POST .../changes with the old set in deletions and the new one in additions) and the change followed with
// GET .../changes/{id} until it is "done".
//
// A service account authenticates: its JSON key (token_file or token_env) signs a JWT (RS256) that Google's
// token endpoint (the key's token_uri) exchanges for an access token, as Google documents in "Using OAuth 2.0
// for Server to Server Applications". Hand-written: Google's client libraries would cost far more than these
// few lines.
package gcloud

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultEndpoint is Cloud DNS's base URL; paths carry /dns/v1.
const DefaultEndpoint = "https://dns.googleapis.com"

// Scope is the OAuth scope for reading and changing records.
const Scope = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"

// Settings are a gcloud entry's keys: the project, and the service account's JSON key from a file or the
// environment.
type Settings struct {
	Endpoint  string `json:",omitempty"`
	Project   string
	TokenFile string `json:",omitempty"`
	TokenEnv  string `json:",omitempty"`
	Zone      string `json:",omitempty"`
	TTL       int
}

// Def is the gcloud provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromSpec,
	Doc: "https://cloud.google.com/dns/docs/reference/rest/v1/changes/create",
	Example: "provider: gcloud\nhostname: home.example.net\nproject: my-project\n" +
		"token_file: /etc/hairpin/gcloud-key.json   # the service account's JSON key",
	Config: ddnsconf.Provider{Name: "gcloud", AAAA: true, Keys: []string{"endpoint", "project", "token_file", "token_env", "zone", "ttl"}}},
	Decode, New)

// Decode reads a gcloud entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60}
	provider.DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, 1, 86400)
	ddnsconf.Require(k, e.Provider, "project")
	s.Project, _ = k.String("project")
	s.TokenFile, s.TokenEnv = ddnsconf.Secret(k, "token_file", "token_env")
	return s
}

// ServiceAccount is the part of a service account's JSON key that signs.
type ServiceAccount struct {
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
	key         *rsa.PrivateKey
}

// ParseKey reads a service account's JSON key.
func ParseKey(data string) (*ServiceAccount, error) {
	var sa ServiceAccount
	if err := json.Unmarshal([]byte(data), &sa); err != nil {
		return nil, errfmt.Errorf("not a service account's JSON key: %w", err)
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil || sa.ClientEmail == "" {
		return nil, errfmt.Errorf("the JSON key has no client_email or no PEM private_key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if k, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, errfmt.Errorf("private_key: %w", err)
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errfmt.Errorf("private_key is not an RSA key")
	}
	sa.key = rk
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	return &sa, nil
}

// Assertion is the signed JWT that asks for an access token with scope, valid for an hour from now.
func (sa *ServiceAccount) Assertion(scope string, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iss": sa.ClientEmail, "scope": scope, "aud": sa.TokenURI,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	signing := head + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sa.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

type gcloud struct {
	api      *provider.API
	hostname string // with the final dot
	s        *Settings
	zone     provider.Once[string]
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, err := provider.ParseServer(s.Endpoint, DefaultEndpoint, env, e.Hostname)
	if err != nil {
		return nil, err
	}
	read := env.SecretBlock
	if read == nil {
		read = env.Secret
	}
	raw, err := read(s.TokenFile, s.TokenEnv)
	if err != nil {
		return nil, errfmt.Errorf("service account key: %w", err)
	}
	sa, err := ParseKey(raw)
	if err != nil {
		return nil, errfmt.Errorf("service account key: %w", err)
	}
	tok := &provider.OAuthToken{Endpoint: sa.TokenURI, Vendor: "Google's token endpoint", Refused: "Google refused the service account's key",
		Form: func() (url.Values, error) {
			assertion, err := sa.Assertion(Scope, time.Now())
			return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}, err
		}}
	g := &gcloud{s: s, hostname: provider.Canonical(e.Hostname) + "."}
	g.api = &provider.API{Env: env, Base: u, Vendor: "Google Cloud DNS", Message: message,
		Auth: func(r *web.Request, _ []byte) error { return tok.Bearer(r.Context(), env, r) }}
	return g, nil
}

func message(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if provider.JSONInto(body, &e) && e.Error.Message != "" {
		return strings.TrimPrefix(e.Error.Status+": "+e.Error.Message, ": ")
	}
	return ""
}

func (g *gcloud) project() string { return "/dns/v1/projects/" + url.PathEscape(g.s.Project) }

func (g *gcloud) findZone(ctx context.Context) (string, error) {
	return g.zone.Get(ctx, func(ctx context.Context) (string, error) {
		if g.s.Zone != "" {
			return g.s.Zone, nil
		}
		for _, c := range provider.ZoneCandidates(g.hostname) {
			var out struct {
				Zones []struct {
					Name    string `json:"name"`
					DNSName string `json:"dnsName"`
				} `json:"managedZones"`
			}
			if _, err := g.api.Call(ctx, web.MethodGet, g.project()+"/managedZones", url.Values{"dnsName": {c + "."}}, nil, &out); err != nil {
				return "", err
			}
			for _, mz := range out.Zones {
				if strings.EqualFold(strings.TrimSuffix(mz.DNSName, "."), c) {
					return mz.Name, nil
				}
			}
		}
		return "", provider.NoZone("Google Cloud", g.hostname)
	})
}

type rrset struct {
	Kind    string   `json:"kind,omitempty"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int      `json:"ttl"`
	RRDatas []string `json:"rrdatas"`
}

type change struct {
	Additions []rrset `json:"additions,omitempty"`
	Deletions []rrset `json:"deletions,omitempty"`
	ID        string  `json:"id,omitempty"`
	Status    string  `json:"status,omitempty"`
}

// Update replaces the hostname's A (or AAAA) record set with addr alone, in one change, and waits until
// Google reports it done.
func (g *gcloud) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := g.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	base := g.project() + "/managedZones/" + url.PathEscape(zone)
	var list struct {
		RRSets []rrset `json:"rrsets"`
	}
	if _, err := g.api.Call(ctx, web.MethodGet, base+"/rrsets", url.Values{"name": {g.hostname}, "type": {typ}}, nil, &list); err != nil {
		return "", err
	}
	ch := change{Additions: []rrset{{Kind: "dns#resourceRecordSet", Name: g.hostname, Type: typ, TTL: g.s.TTL, RRDatas: []string{addr.String()}}}}
	answer := "created"
	if len(list.RRSets) > 0 {
		old := list.RRSets[0]
		if len(old.RRDatas) == 1 && old.RRDatas[0] == addr.String() {
			return "unchanged", nil
		}
		old.Kind = "dns#resourceRecordSet"
		ch.Deletions, answer = []rrset{old}, "updated"
	}
	var got change
	if _, err := g.api.Call(ctx, web.MethodPost, base+"/changes", nil, ch, &got); err != nil {
		return "", err
	}
	delay := 500 * time.Millisecond
	for got.Status != "done" {
		if got.ID == "" {
			return "", provider.RetryLater("no change id", provider.ServerTrouble, "Google's answer names no change to follow")
		}
		if _, err := g.api.Call(ctx, web.MethodGet, base+"/changes/"+url.PathEscape(got.ID), nil, nil, &got); err != nil {
			if ctx.Err() != nil {
				return "", provider.Warn("pending", "Google accepted the change but had not applied it when the update's time ran out")
			}
			return "", err
		}
		if got.Status == "done" {
			break
		}
		select {
		case <-ctx.Done():
			return "", provider.Warn("pending", "Google accepted the change but had not applied it when the update's time ran out")
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
	return answer, nil
}
