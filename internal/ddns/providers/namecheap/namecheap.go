// Package namecheap keeps the A record of a hostname at Namecheap through its dynamic DNS update, as its
// knowledge base describes it
// (https://www.namecheap.com/support/knowledgebase/article.aspx/29/11/how-to-dynamically-update-the-hosts-ip-with-an-http-request/);
// there is no machine-readable spec, and the test double in testdata is written from that page. One GET
// /update?host=&domain=&password=&ip= sets the record; the password is the domain's own Dynamic DNS password.
// Every answer is HTTP 200 with an XML interface-response whose ErrCount says whether it worked and whose
// errors say why not. The update never creates a record (the host must exist as an "A + Dynamic DNS Record")
// and publishes IPv4 only.
package namecheap

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/xmltree"
)

// DefaultEndpoint is the update service's base URL.
const DefaultEndpoint = "https://dynamicdns.park-your-domain.com"

// Settings are a namecheap entry's keys: the domain's Dynamic DNS password from a file or the environment, and
// the domain (zone) when it is not the hostname's last two labels.
type Settings struct {
	Endpoint     string `json:",omitempty"`
	PasswordFile string `json:",omitempty"`
	PasswordEnv  string `json:",omitempty"`
	Zone         string `json:",omitempty"`
}

// Def is the namecheap provider.
var Def = provider.Define(provider.Def{Kind: provider.KindAPI, Contract: provider.FromDocs,
	Doc:     "https://www.namecheap.com/support/knowledgebase/article.aspx/29/11/how-to-dynamically-update-the-hosts-ip-with-an-http-request/",
	Example: "provider: namecheap\nhostname: home.example.net\npassword_file: /etc/hairpin/namecheap.secret   # the domain's Dynamic DNS password",
	Config:  ddnsconf.Provider{Name: "namecheap", Keys: []string{"endpoint", "password_file", "password_env", "zone"}}},
	Decode, New)

// Decode reads a namecheap entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{}
	provider.DecodeAPI(k, &s.Endpoint, &s.Zone, nil, 0, 0)
	s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
	return s
}

type namecheap struct {
	env      provider.Env
	api      *provider.API // for typing HTTP failures
	base     *url.URL
	password string
	host     string // the record's name in the domain: @ for the apex
	domain   string
}

// New builds the provider for one entry.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	u, pw, err := provider.OpenSecret(env, s.Endpoint, DefaultEndpoint, e.Hostname, s.PasswordFile, s.PasswordEnv, "dynamic DNS password")
	if err != nil {
		return nil, err
	}
	hostname := provider.Canonical(e.Hostname)
	domain := provider.Canonical(s.Zone)
	if domain == "" {
		labels := strings.Split(hostname, ".")
		domain = strings.Join(labels[max(len(labels)-2, 0):], ".")
	}
	if hostname != domain && !strings.HasSuffix(hostname, "."+domain) {
		return nil, errfmt.Errorf("zone %s does not hold %s", domain, hostname)
	}
	return &namecheap{env: env, api: &provider.API{Env: env, Base: u, Vendor: "Namecheap"}, base: u, password: pw,
		host: provider.Relative(hostname, domain), domain: domain}, nil
}

// response is what hairpin reads of Namecheap's interface-response: the address recorded, the number of
// errors and the text of each (errors holds Err1, Err2, ...).
type response struct {
	IP       string
	ErrCount int
	Errors   []string
}

// parse reads an interface-response. Namecheap declares encoding="utf-16" but sends plain ASCII, so the
// declared charset is taken as UTF-8 unless the body starts with a UTF-16 byte order mark.
func parse(body []byte) (response, error) {
	var r response
	if len(body) >= 2 && (body[0] == 0xff && body[1] == 0xfe || body[0] == 0xfe && body[1] == 0xff) {
		return r, errfmt.Errorf("a UTF-16 answer")
	}
	doc, err := xmltree.ParseCharset(body, func(label string) error {
		if l := strings.ToLower(label); l == "utf-16" || l == "us-ascii" || l == "iso-8859-1" {
			return nil
		}
		return errfmt.Errorf("charset %q", label)
	})
	if err != nil {
		return r, err
	}
	if doc.Name != "interface-response" {
		return r, errfmt.Errorf("the answer is <%s>, not <interface-response>", doc.Name)
	}
	if r.ErrCount, err = xmltree.Int(doc.TextOf("ErrCount")); err != nil {
		return r, errfmt.Errorf("ErrCount: %w", err)
	}
	r.IP = doc.TextOf("IP")
	if errs := doc.Child("errors"); errs != nil {
		for _, e := range errs.Children {
			r.Errors = append(r.Errors, e.Text)
		}
	}
	return r, nil
}

// Update points the hostname's A record at addr.
func (n *namecheap) Update(ctx context.Context, addr netip.Addr) (string, error) {
	if !addr.Is4() {
		return "", provider.Hold("", "Namecheap's dynamic DNS publishes IPv4 addresses only")
	}
	u := *n.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/update"
	u.RawQuery = url.Values{"host": {n.host}, "domain": {n.domain}, "password": {n.password}, "ip": {addr.String()}}.Encode()
	req, err := web.NewRequest(context.Background(), web.MethodGet, u.String(), nil)
	if err != nil {
		return "", provider.Transient("building the request", err)
	}
	status, header, body, err := provider.DoHeader(ctx, n.env, req)
	if err != nil {
		return "", err
	}
	if err := n.api.Judge(status, header, body); err != nil {
		return "", err
	}
	r, err := parse(body)
	if err != nil {
		return "", provider.RetryLater(fmt.Sprintf("HTTP %d", status), provider.ServerTrouble, "Namecheap's answer is not the XML it documents")
	}
	if r.ErrCount == 0 {
		if r.IP != "" && r.IP != addr.String() {
			return "good", provider.Warn("IP "+r.IP, "Namecheap recorded another address than the one sent")
		}
		return "good", nil
	}
	why := ""
	if len(r.Errors) > 0 {
		why = strings.TrimSpace(r.Errors[0])
	}
	answer := fmt.Sprintf("ErrCount %d %s", r.ErrCount, why)
	switch w := strings.ToLower(why); {
	case strings.Contains(w, "password"):
		return "", provider.AuthHold(answer, "Namecheap refused the password: each domain has its own Dynamic DNS password (Advanced DNS, Dynamic DNS)")
	case strings.Contains(w, "record not found"), strings.Contains(w, "no records updated"):
		return "", provider.Hold(answer, fmt.Sprintf("Namecheap has no record %q in %s to update; add an \"A + Dynamic DNS Record\" for it in Advanced DNS (the update never creates one)", n.host, n.domain))
	case strings.Contains(w, "domain"):
		return "", provider.Hold(answer, fmt.Sprintf("Namecheap does not know the domain %s; set zone: to the domain as registered", n.domain))
	}
	return "", provider.Hold(answer, "Namecheap refused the update")
}
