package route53_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/route53"
	"github.com/hairpin-nat/hairpin/internal/ddns/spectest"
	"github.com/hairpin-nat/hairpin/internal/web"
)

const (
	keyID  = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	ns     = "https://route53.amazonaws.com/doc/2013-04-01/"
)

// verify recomputes the request's SigV4 signature with the secret, as AWS does: same scope, same signed
// headers, same body.
func verify(r *http.Request, secret string) bool {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+keyID+"/") || !strings.Contains(auth, "/us-east-1/route53/aws4_request") {
		return false
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	check, _ := web.NewRequest(context.Background(), r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		check.Header.Set("Content-Type", ct)
	}
	route53.Credentials{KeyID: keyID, Secret: secret, Region: "us-east-1", Service: "route53"}.Sign(check, body, at)
	return check.Header.Get("Authorization") == auth
}

func xmlError(code, msg string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0"?><ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`, ns, code, msg))
}

// newFake serves Route 53's Smithy model (testdata/route53.json) for hosted zone Z0123456789 (example.net),
// with requests signed as SigV4 requires. A change is PENDING when submitted and applied to the store only
// when GetChange is asked, which then says INSYNC: a provider that does not follow its change sees the old
// record. Errors are restXml's ErrorResponse.
func newFake(t *testing.T) *spectest.Fake {
	st := spectest.NewStore("example.net")
	srv := spectest.Serve(t, "testdata/route53.json")
	srv.Prefix = "" // the model's paths carry /2013-04-01
	var bad atomic.Bool
	srv.Authorized = func(r *http.Request) bool { return !bad.Load() && verify(r, secret) }
	srv.Refusal = func(status int, msg string) any {
		code := map[int]string{401: "InvalidClientTokenId", 403: "SignatureDoesNotMatch", 404: "NoSuchHostedZone", 400: "InvalidInput", 429: "Throttling"}[status]
		if code == "" {
			code = "InternalFailure"
		}
		return xmlError(code, msg)
	}
	var mu sync.Mutex
	pending := map[string]func(){}
	n := 0
	const stamp = "2026-01-01T00:00:00Z"
	change := func(id, status string) []byte {
		return []byte(fmt.Sprintf(`<?xml version="1.0"?><ChangeResourceRecordSetsResponse xmlns="%s"><ChangeInfo><Id>/change/%s</Id><Status>%s</Status><SubmittedAt>%s</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`, ns, id, status, stamp))
	}
	notFound := spectest.Reply{Status: 404, Body: xmlError("NoSuchHostedZone", "No hosted zone found")}
	srv.Handle = func(r *spectest.Request) spectest.Reply {
		switch r.Op.Role {
		case "find_zone":
			zones := ""
			// The list starts at dnsname in the API's order, so a name without a zone still lists the next zone.
			if name := strings.TrimSuffix(r.Query.Get("dnsname"), "."); name <= "example.net" || strings.HasSuffix(name, "example.net") {
				zones = `<HostedZone><Id>/hostedzone/Z0123456789</Id><Name>example.net.</Name><CallerReference>ref-1</CallerReference></HostedZone>`
			}
			return spectest.Reply{Status: 200, Body: []byte(fmt.Sprintf(`<?xml version="1.0"?><ListHostedZonesByNameResponse xmlns="%s"><HostedZones>%s</HostedZones><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListHostedZonesByNameResponse>`, ns, zones))}
		case "get_change":
			id := r.Vars["Id"]
			mu.Lock()
			apply, ok := pending[id]
			delete(pending, id)
			mu.Unlock()
			if !ok {
				return spectest.Reply{Status: 404, Body: xmlError("NoSuchChange", "no such change")}
			}
			apply()
			return spectest.Reply{Status: 200, Body: []byte(strings.ReplaceAll(string(change(id, "INSYNC")), "ChangeResourceRecordSetsResponse", "GetChangeResponse"))}
		}
		if r.Vars["HostedZoneId"] != "Z0123456789" {
			return notFound
		}
		switch r.Op.Role {
		case "list_records":
			// Record sets in the API's order from (name, type) on; the fake lists the one asked for first.
			var sets strings.Builder
			for _, typ := range []string{r.Query.Get("type"), "TXT"} {
				recs := st.List("example.net", r.Query.Get("name"), typ)
				if len(recs) == 0 {
					continue
				}
				fmt.Fprintf(&sets, "<ResourceRecordSet><Name>%s.</Name><Type>%s</Type><TTL>%d</TTL><ResourceRecords>", recs[0].Name, typ, recs[0].TTL)
				for _, x := range recs {
					fmt.Fprintf(&sets, "<ResourceRecord><Value>%s</Value></ResourceRecord>", x.Content)
				}
				sets.WriteString("</ResourceRecords></ResourceRecordSet>")
			}
			return spectest.Reply{Status: 200, Body: []byte(fmt.Sprintf(`<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="%s"><ResourceRecordSets>%s</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`, ns, sets.String()))}
		case "change_records":
			batch := r.Body.(map[string]any)["ChangeBatch"].(map[string]any)
			var applies []func()
			for _, c := range batch["Changes"].([]any) {
				c := c.(map[string]any)
				set := c["ResourceRecordSet"].(map[string]any)
				var values []string
				for _, rr := range set["ResourceRecords"].([]any) {
					values = append(values, rr.(map[string]any)["Value"].(string))
				}
				name, typ := set["Name"].(string), set["Type"].(string)
				if c["Action"] != "UPSERT" {
					return spectest.Reply{Status: 400, Body: xmlError("InvalidChangeBatch", "the fake takes UPSERT only")}
				}
				applies = append(applies, func() { st.Replace("example.net", name, typ, values, 60) })
			}
			mu.Lock()
			n++
			id := fmt.Sprintf("C%04d", n)
			pending[id] = func() {
				for _, a := range applies {
					a()
				}
			}
			mu.Unlock()
			return spectest.Reply{Status: 200, Body: change(id, "PENDING")}
		}
		return notFound
	}
	sign := func(secret string) func(*http.Request, []byte) {
		return func(hr *http.Request, body []byte) {
			route53.Credentials{KeyID: keyID, Secret: secret, Region: "us-east-1", Service: "route53"}.Sign(asWeb(hr), body, time.Now())
		}
	}
	xmlCT := http.Header{"Content-Type": {"application/xml"}}
	batch := func(inner string) string {
		return `<?xml version="1.0"?><ChangeResourceRecordSetsRequest xmlns="` + ns + `"><ChangeBatch><Changes><Change>` + inner + `</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
	}
	return &spectest.Fake{Server: srv, Store: st, Zone: "example.net", AAAA: true,
		Entry: func(t *testing.T, hostname, family string) provider.Entry {
			return provider.Entry{Provider: "route53", Hostname: hostname, Family: family, Settings: &route53.Settings{
				Endpoint: srv.URL, AccessKeyID: keyID, PasswordFile: ddnstest.WriteSecret(t, secret), TTL: 60, Region: "us-east-1"}}
		},
		BadCredentials: func() { bad.Store(true) },
		Malformed: []spectest.Malformed{
			{Why: "no signature", Method: "GET", Path: "/2013-04-01/hostedzonesbyname?dnsname=example.net"},
			{Why: "a bearer token instead of a signature", Method: "GET", Path: "/2013-04-01/hostedzonesbyname", Header: http.Header{"Authorization": {"Bearer " + secret}}},
			{Why: "signed with another secret", Method: "GET", Path: "/2013-04-01/hostedzonesbyname", Sign: sign("wrong" + secret)},
			{Why: "a record type outside the enum", Method: "GET", Path: "/2013-04-01/hostedzone/Z0123456789/rrset?type=ALIAS", Sign: sign(secret)},
			{Why: "maxitems not a number", Method: "GET", Path: "/2013-04-01/hostedzone/Z0123456789/rrset?maxitems=all", Sign: sign(secret)},
			{Why: "an action outside the enum", Method: "POST", Path: "/2013-04-01/hostedzone/Z0123456789/rrset", Header: xmlCT, Sign: sign(secret),
				Body: batch(`<Action>REPLACE</Action><ResourceRecordSet><Name>x.example.net.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>`)},
			{Why: "a TTL that is not a number", Method: "POST", Path: "/2013-04-01/hostedzone/Z0123456789/rrset", Header: xmlCT, Sign: sign(secret),
				Body: batch(`<Action>UPSERT</Action><ResourceRecordSet><Name>x.example.net.</Name><Type>A</Type><TTL>soon</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>`)},
			{Why: "an element the model lacks", Method: "POST", Path: "/2013-04-01/hostedzone/Z0123456789/rrset", Header: xmlCT, Sign: sign(secret),
				Body: batch(`<Action>UPSERT</Action><ResourceRecordSet><Name>x.example.net.</Name><Type>A</Type><Content>192.0.2.1</Content></ResourceRecordSet>`)},
			{Why: "the wrong namespace", Method: "POST", Path: "/2013-04-01/hostedzone/Z0123456789/rrset", Header: xmlCT, Sign: sign(secret),
				Body: `<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2012-12-12/"><ChangeBatch/></ChangeResourceRecordSetsRequest>`},
			{Why: "JSON instead of XML", Method: "POST", Path: "/2013-04-01/hostedzone/Z0123456789/rrset", Header: http.Header{"Content-Type": {"application/json"}}, Sign: sign(secret), Body: `{}`},
		},
	}
}

func TestRoute53(t *testing.T) {
	t.Parallel()
	spectest.Conformance(t, newFake)
}

// asWeb is the conformance suite's net/http request as the signer sees it; the header is shared, so what the
// signer sets is sent.
func asWeb(r *http.Request) *web.Request {
	return &web.Request{Method: r.Method, URL: r.URL, Host: r.Host, Header: web.Header(r.Header)}
}
