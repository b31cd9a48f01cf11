// Package route53 keeps the A or AAAA record of a hostname in an Amazon Route 53 hosted zone, as the AWS
// Smithy model of Route 53 (aws/api-models-aws, a copy in testdata) describes: restXml over
// https://route53.amazonaws.com/2013-04-01, signed with Signature Version 4 (sigv4.go, hand-written and held
// to AWS's published test vectors; no SDK). The hosted zone comes from ListHostedZonesByName (or zone: its ID
// or name), the record set is read with ListResourceRecordSets starting at the name and type, replaced with
// an UPSERT in ChangeResourceRecordSets, and the change is followed with GetChange until INSYNC.
package route53

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// DefaultEndpoint is Route 53's global endpoint; its signing region is us-east-1.
const DefaultEndpoint = "https://route53.amazonaws.com"

const apiPath = "/2013-04-01"

// Settings are a route53 entry's keys: the access key ID, the secret access key from a file or the
// environment, and the hosted zone (its ID or name) when it is not to be found from the hostname.
type Settings struct {
	Endpoint     string `json:",omitempty"`
	AccessKeyID  string
	PasswordFile string `json:",omitempty"`
	PasswordEnv  string `json:",omitempty"`
	Zone         string `json:",omitempty"`
	TTL          int
	Region       string
}

// Def is the route53 provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromSpec,
	Doc: "https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html",
	Example: "provider: route53\nhostname: home.example.net\naccess_key_id: AKIAIOSFODNN7EXAMPLE\n" +
		"password_file: /etc/hairpin/aws.secret   # the secret access key",
	Config: ddnsconf.Provider{Name: "route53", AAAA: true, Keys: []string{"endpoint", "access_key_id", "password_file", "password_env", "zone", "ttl", "region"}}},
	Decode, New)

// Decode reads a route53 entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60, Region: "us-east-1"}
	s.Endpoint = ddnsconf.Endpoint(k, "endpoint")
	ddnsconf.Require(k, e.Provider, "access_key_id")
	s.AccessKeyID, _ = k.String("access_key_id")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	s.Zone, _ = k.String("zone")
	if ttl, ok := k.Int("ttl", 0, 2147483647); ok {
		s.TTL = ttl
	}
	if r, ok := k.String("region"); ok {
		s.Region = r
	}
	return s
}

type route53 struct {
	env      provider.Env
	base     *url.URL
	creds    Credentials
	hostname string // fully qualified, with the final dot
	s        *Settings
	now      func() time.Time
	zoneID   provider.Once[string]
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, secret, err := provider.OpenSecret(env, s.Endpoint, DefaultEndpoint, e.Hostname, s.PasswordFile, s.PasswordEnv, "secret access key")
	if err != nil {
		return nil, err
	}
	return &route53{env: env, base: u, s: s, now: time.Now,
		creds:    Credentials{KeyID: s.AccessKeyID, Secret: secret, Region: s.Region, Service: "route53"},
		hostname: strings.ToLower(strings.TrimSuffix(e.Hostname, ".")) + "."}, nil
}

// apiError is restXml's error envelope.
type apiError struct {
	Error struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

// call sends a signed request and decodes the XML answer into out.
func (r *route53) call(ctx context.Context, method, path string, query url.Values, in any, out any) error {
	var body []byte
	if in != nil {
		b, err := xml.Marshal(in)
		if err != nil {
			return err
		}
		body = append([]byte(xml.Header), b...)
	}
	u := r.base.Scheme + "://" + r.base.Host + strings.TrimSuffix(r.base.EscapedPath(), "/") + apiPath + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return provider.Transient("building the request", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	r.creds.Sign(req, body, r.now())
	status, header, answer, err := provider.DoHeader(ctx, r.env, req)
	if err != nil {
		return err
	}
	if status/100 == 2 {
		if out != nil && xml.Unmarshal(answer, out) != nil {
			return provider.RetryLater(fmt.Sprintf("HTTP %d", status), provider.ServerTrouble, "Route 53's answer is not the XML its API documents")
		}
		return nil
	}
	var e apiError
	_ = xml.Unmarshal(answer, &e)
	msg := fmt.Sprintf("HTTP %d %s %s", status, e.Error.Code, e.Error.Message)
	switch {
	case e.Error.Code == "Throttling" || e.Error.Code == "PriorRequestNotComplete" || status == http.StatusTooManyRequests || status/100 == 5:
		return provider.RetryLater(msg, max(provider.ServerTrouble, provider.RateLimitWait(header, time.Now())), "Route 53 is throttling or in trouble")
	case status == http.StatusForbidden || status == http.StatusUnauthorized || strings.HasPrefix(e.Error.Code, "InvalidClientTokenId") ||
		e.Error.Code == "SignatureDoesNotMatch" || e.Error.Code == "AccessDenied":
		return provider.AuthHold(msg, "AWS refused the credentials (the key needs route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets and GetChange)")
	case status == http.StatusNotFound:
		return &provider.Error{Kind: provider.ErrHold, Answer: provider.Clean(msg), Msg: "Route 53 has no such hosted zone or change", Err: provider.ErrNotFound}
	default:
		return provider.Hold(msg, "Route 53 refused the request")
	}
}

func (r *route53) findZone(ctx context.Context) (string, error) {
	return r.zoneID.Get(ctx, func(ctx context.Context) (string, error) {
		if id := strings.TrimPrefix(r.s.Zone, "/hostedzone/"); id != "" && !strings.Contains(id, ".") {
			return id, nil
		}
		candidates := provider.ZoneCandidates(r.hostname)
		if r.s.Zone != "" {
			candidates = []string{strings.ToLower(strings.TrimSuffix(r.s.Zone, "."))}
		}
		for _, c := range candidates {
			var out struct {
				HostedZones []struct {
					ID   string `xml:"Id"`
					Name string `xml:"Name"`
				} `xml:"HostedZones>HostedZone"`
			}
			if err := r.call(ctx, http.MethodGet, "/hostedzonesbyname", url.Values{"dnsname": {c}, "maxitems": {"1"}}, nil, &out); err != nil {
				return "", err
			}
			// The list starts at dnsname in the API's order: the first zone is the name's only when it matches.
			if len(out.HostedZones) > 0 && strings.EqualFold(strings.TrimSuffix(out.HostedZones[0].Name, "."), c) {
				return strings.TrimPrefix(out.HostedZones[0].ID, "/hostedzone/"), nil
			}
		}
		return "", provider.NoZone("AWS", r.hostname)
	})
}

type resourceRecord struct {
	Value string `xml:"Value"`
}

type recordSet struct {
	Name    string           `xml:"Name"`
	Type    string           `xml:"Type"`
	TTL     int              `xml:"TTL"`
	Records []resourceRecord `xml:"ResourceRecords>ResourceRecord"`
}

type changeRequest struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsRequest"`
	Changes []struct {
		Action string    `xml:"Action"`
		Set    recordSet `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

type changeInfo struct {
	Info struct {
		ID     string `xml:"Id"`
		Status string `xml:"Status"`
	} `xml:"ChangeInfo"`
}

// Update points the hostname's A (or AAAA) record set at addr alone.
func (r *route53) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := r.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	var list struct {
		Sets []recordSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	}
	path := "/hostedzone/" + url.PathEscape(zone) + "/rrset"
	if err := r.call(ctx, http.MethodGet, path, url.Values{"name": {r.hostname}, "type": {typ}, "maxitems": {"1"}}, nil, &list); err != nil {
		return "", err
	}
	if len(list.Sets) > 0 {
		s := list.Sets[0]
		if strings.EqualFold(s.Name, r.hostname) && s.Type == typ && len(s.Records) == 1 && s.Records[0].Value == addr.String() {
			return "unchanged", nil
		}
	}
	var req changeRequest
	req.Changes = make([]struct {
		Action string    `xml:"Action"`
		Set    recordSet `xml:"ResourceRecordSet"`
	}, 1)
	req.Changes[0].Action = "UPSERT"
	req.Changes[0].Set = recordSet{Name: r.hostname, Type: typ, TTL: r.s.TTL, Records: []resourceRecord{{addr.String()}}}
	var ch changeInfo
	if err := r.call(ctx, http.MethodPost, path, nil, req, &ch); err != nil {
		return "", err
	}
	return r.wait(ctx, ch)
}

// wait follows the change until Route 53 reports it INSYNC on all its servers. A change still PENDING when
// the update's time runs out is accepted with a warning: Route 53 has it and will apply it, and sending it
// again would change nothing.
func (r *route53) wait(ctx context.Context, ch changeInfo) (string, error) {
	delay := time.Second
	for {
		if ch.Info.Status == "INSYNC" {
			return "INSYNC", nil
		}
		id := strings.TrimPrefix(ch.Info.ID, "/change/")
		if id == "" {
			return "", provider.RetryLater("no change id", provider.ServerTrouble, "Route 53's answer names no change to follow")
		}
		if err := r.call(ctx, http.MethodGet, "/change/"+url.PathEscape(id), nil, nil, &ch); err != nil {
			if ctx.Err() != nil {
				return "", provider.Warn("PENDING", "Route 53 accepted the change but had not applied it everywhere when the update's time ran out")
			}
			return "", err
		}
		if ch.Info.Status == "INSYNC" {
			return "INSYNC", nil
		}
		select {
		case <-ctx.Done():
			return "", provider.Warn("PENDING", "Route 53 accepted the change but had not applied it everywhere when the update's time ran out")
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}
