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
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/xmltree"
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
	provider.DecodeAPI(k, &s.Endpoint, &s.Zone, &s.TTL, 0, 2147483647)
	ddnsconf.Require(k, e.Provider, "access_key_id")
	s.AccessKeyID, _ = k.String("access_key_id")
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
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
		hostname: provider.Canonical(e.Hostname) + "."}, nil
}

// call sends a signed request with body (XML, or nil) and returns the answer's document element.
func (r *route53) call(ctx context.Context, method, path string, query url.Values, body []byte) (*xmltree.Element, error) {
	u := r.base.Scheme + "://" + r.base.Host + strings.TrimSuffix(r.base.EscapedPath(), "/") + apiPath + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := web.NewRequest(context.Background(), method, u, bytes.NewReader(body))
	if err != nil {
		return nil, provider.Transient("building the request", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	r.creds.Sign(req, body, r.now())
	status, header, answer, err := provider.DoHeader(ctx, r.env, req)
	if err != nil {
		return nil, err
	}
	if status/100 == 2 {
		doc, err := xmltree.Parse(answer)
		if err != nil {
			return nil, notTheXML(status)
		}
		return doc, nil
	}
	// restXml's error envelope; an answer that is not one has no code.
	doc, _ := xmltree.Parse(answer)
	code := doc.TextOf("Error", "Code")
	msg := fmt.Sprintf("HTTP %d %s %s", status, code, doc.TextOf("Error", "Message"))
	switch {
	case code == "Throttling" || code == "PriorRequestNotComplete" || status == web.StatusTooManyRequests || status/100 == 5:
		return nil, provider.RetryLater(msg, max(provider.ServerTrouble, provider.RateLimitWait(header, time.Now())), "Route 53 is throttling or in trouble")
	case status == web.StatusForbidden || status == web.StatusUnauthorized || strings.HasPrefix(code, "InvalidClientTokenId") ||
		code == "SignatureDoesNotMatch" || code == "AccessDenied":
		return nil, provider.AuthHold(msg, "AWS refused the credentials (the key needs route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets and GetChange)")
	case status == web.StatusNotFound:
		return nil, &provider.Error{Kind: provider.ErrHold, Answer: provider.Clean(msg), Msg: "Route 53 has no such hosted zone or change", Err: provider.ErrNotFound}
	default:
		return nil, provider.Hold(msg, "Route 53 refused the request")
	}
}

func notTheXML(status int) error {
	return provider.RetryLater(fmt.Sprintf("HTTP %d", status), provider.ServerTrouble, "Route 53's answer is not the XML its API documents")
}

func (r *route53) findZone(ctx context.Context) (string, error) {
	return r.zoneID.Get(ctx, func(ctx context.Context) (string, error) {
		if id := strings.TrimPrefix(r.s.Zone, "/hostedzone/"); id != "" && !strings.Contains(id, ".") {
			return id, nil
		}
		candidates := provider.ZoneCandidates(r.hostname)
		if r.s.Zone != "" {
			candidates = []string{provider.Canonical(r.s.Zone)}
		}
		for _, c := range candidates {
			doc, err := r.call(ctx, web.MethodGet, "/hostedzonesbyname", url.Values{"dnsname": {c}, "maxitems": {"1"}}, nil)
			if err != nil {
				return "", err
			}
			// The list starts at dnsname in the API's order: the first zone is the name's only when it matches.
			if z := doc.Path("HostedZones", "HostedZone"); z != nil && strings.EqualFold(strings.TrimSuffix(z.TextOf("Name"), "."), c) {
				return strings.TrimPrefix(z.TextOf("Id"), "/hostedzone/"), nil
			}
		}
		return "", provider.NoZone("AWS", r.hostname)
	})
}

// changeInfo is what ChangeResourceRecordSets and GetChange say of a change.
type changeInfo struct {
	ID, Status string
}

// read takes the change's ID and status from an answer; what the answer leaves out keeps its value, as
// xml.Unmarshal into the same struct did.
func (ch *changeInfo) read(doc *xmltree.Element) {
	if e := doc.Path("ChangeInfo", "Id"); e != nil {
		ch.ID = e.Text
	}
	if e := doc.Path("ChangeInfo", "Status"); e != nil {
		ch.Status = e.Text
	}
}

// changeRequest is the body of ChangeResourceRecordSets that UPSERTs name's record set of typ as value alone.
func changeRequest(name, typ string, ttl int, value string) []byte {
	return []byte(xmltree.Header + `<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">` +
		`<ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet>` +
		`<Name>` + xmltree.EscapeText(name) + `</Name><Type>` + xmltree.EscapeText(typ) + `</Type><TTL>` + strconv.Itoa(ttl) + `</TTL>` +
		`<ResourceRecords><ResourceRecord><Value>` + xmltree.EscapeText(value) + `</Value></ResourceRecord></ResourceRecords>` +
		`</ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`)
}

// Update points the hostname's A (or AAAA) record set at addr alone.
func (r *route53) Update(ctx context.Context, addr netip.Addr) (string, error) {
	zone, err := r.findZone(ctx)
	if err != nil {
		return "", err
	}
	typ := provider.RecordType(addr)
	path := "/hostedzone/" + url.PathEscape(zone) + "/rrset"
	doc, err := r.call(ctx, web.MethodGet, path, url.Values{"name": {r.hostname}, "type": {typ}, "maxitems": {"1"}}, nil)
	if err != nil {
		return "", err
	}
	sets := doc.Child("ResourceRecordSets").All("ResourceRecordSet")
	for _, s := range sets {
		if _, err := xmltree.Int(s.TextOf("TTL")); err != nil {
			return "", notTheXML(web.StatusOK)
		}
	}
	if len(sets) > 0 {
		s := sets[0]
		records := s.Child("ResourceRecords").All("ResourceRecord")
		if strings.EqualFold(s.TextOf("Name"), r.hostname) && s.TextOf("Type") == typ && len(records) == 1 && records[0].TextOf("Value") == addr.String() {
			return "unchanged", nil
		}
	}
	doc, err = r.call(ctx, web.MethodPost, path, nil, changeRequest(r.hostname, typ, r.s.TTL, addr.String()))
	if err != nil {
		return "", err
	}
	var ch changeInfo
	ch.read(doc)
	return r.wait(ctx, ch)
}

// wait follows the change until Route 53 reports it INSYNC on all its servers. A change still PENDING when
// the update's time runs out is accepted with a warning: Route 53 has it and will apply it, and sending it
// again would change nothing.
func (r *route53) wait(ctx context.Context, ch changeInfo) (string, error) {
	delay := time.Second
	for {
		if ch.Status == "INSYNC" {
			return "INSYNC", nil
		}
		id := strings.TrimPrefix(ch.ID, "/change/")
		if id == "" {
			return "", provider.RetryLater("no change id", provider.ServerTrouble, "Route 53's answer names no change to follow")
		}
		doc, err := r.call(ctx, web.MethodGet, "/change/"+url.PathEscape(id), nil, nil)
		if err != nil {
			if ctx.Err() != nil {
				return "", provider.Warn("PENDING", "Route 53 accepted the change but had not applied it everywhere when the update's time ran out")
			}
			return "", err
		}
		ch.read(doc)
		if ch.Status == "INSYNC" {
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
