// Package rfc2136 updates an A record with a standard DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), as
// BIND, Knot and PowerDNS accept it: delete the name's A records and add the new one in one message.
package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// Algorithms maps the config's tsig_algorithm to the wire name.
var Algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

type rfc2136 struct {
	server string
	zone   string
	name   string
	key    string
	alg    string
	secret string
	ttl    uint32
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ provider.Provider = (*rfc2136)(nil)

// New builds the provider for one entry. server is host:port (port 53 when left out); zone defaults to the
// hostname's parent.
func New(e config.DDNS, env provider.Env) (provider.Provider, error) {
	server := e.Server
	if server == "" {
		return nil, errors.New("rfc2136 needs server (the primary's address, e.g. 192.0.2.53:53)")
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	zone := e.Zone
	if zone == "" {
		_, parent, ok := strings.Cut(strings.TrimSuffix(e.Hostname, "."), ".")
		if !ok {
			return nil, fmt.Errorf("hostname %q has no parent zone; set zone", e.Hostname)
		}
		zone = parent
	}
	if !dns.IsSubDomain(dns.Fqdn(zone), dns.Fqdn(e.Hostname)) {
		return nil, fmt.Errorf("hostname %q is not inside zone %q", e.Hostname, zone)
	}
	if e.TSIGKey == "" {
		return nil, errors.New("rfc2136 needs tsig_key (the key's name on the server)")
	}
	algName := e.TSIGAlgorithm
	if algName == "" {
		algName = "hmac-sha256"
	}
	alg, ok := Algorithms[algName]
	if !ok {
		return nil, fmt.Errorf("tsig_algorithm %q is not one of hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512", algName)
	}
	secret, err := env.Secret(e.TSIGSecretFile, e.TSIGSecretEnv)
	if err != nil {
		return nil, fmt.Errorf("tsig secret: %w", err)
	}
	secret = KeySecret(secret)
	if env.Sensitive != nil {
		env.Sensitive(secret)
	}
	if _, err := base64.StdEncoding.DecodeString(secret); err != nil || secret == "" {
		return nil, errors.New("tsig secret is not base64 (give the value of the key's secret line)")
	}
	ttl := e.TTL
	if ttl <= 0 {
		ttl = 60
	}
	return &rfc2136{server: server, zone: dns.CanonicalName(zone), name: dns.CanonicalName(e.Hostname),
		key: dns.CanonicalName(e.TSIGKey), alg: alg, secret: secret, ttl: uint32(ttl), dial: env.Dial}, nil
}

func (p *rfc2136) Update(ctx context.Context, addr netip.Addr) (string, error) {
	if !addr.Is4() {
		return "", provider.Transient("only IPv4 addresses are sent", nil)
	}
	m := new(dns.Msg)
	m.SetUpdate(p.zone)
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: p.name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: p.name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: p.ttl},
		A: addr.AsSlice()}})
	m.SetTsig(p.key, p.alg, 300, time.Now().Unix())
	c := &dns.Client{Net: "udp", TsigSecret: map[string]string{p.key: p.secret}, Timeout: 10 * time.Second}
	if p.dial == nil {
		r, _, err := c.ExchangeContext(ctx, m, p.server)
		return Classify(r, err)
	}
	conn, err := p.dial(ctx, "udp", p.server)
	if err != nil {
		return Classify(nil, err)
	}
	defer conn.Close()
	r, _, err := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: conn})
	return Classify(r, err)
}

// Classify turns the server's answer into the engine's terms. A TSIG error (BADSIG, BADKEY, BADTIME, which
// RFC 8945 sends with rcode NOTAUTH) is an auth failure, and so is REFUSED, the key not being allowed to update
// this name: both hold. SERVFAIL and
// network errors are transient. Any other rcode says the zone or name is wrong: hold.
func Classify(r *dns.Msg, err error) (string, error) {
	if r == nil {
		if err == nil {
			err = errors.New("no answer")
		}
		return "", provider.Transient("no answer from the DNS server", err)
	}
	answer := dns.RcodeToString[r.Rcode]
	if answer == "" {
		answer = fmt.Sprintf("RCODE%d", r.Rcode)
	}
	if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		name := dns.RcodeToString[int(t.Error)]
		if name == "" {
			name = fmt.Sprintf("%d", t.Error)
		}
		answer += " (TSIG " + name + ")"
		return "", provider.AuthHold(answer, "the server rejected the TSIG key (check tsig_key, tsig_algorithm and the secret)")
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		if err != nil {
			// The update went through but the reply's signature did not verify: someone else answered, or
			// the secret differs in a way the server tolerated. Either way, do not trust it.
			return "", provider.AuthHold(answer+" (unverified reply)", "the reply's TSIG signature did not verify")
		}
		return answer, nil
	case dns.RcodeNotAuth:
		// Without a TSIG error, NOTAUTH is RFC 2136's "not authoritative for the zone".
		return "", provider.Hold(answer, "the server is not authoritative for the zone (check zone and server)")
	case dns.RcodeRefused:
		return "", provider.AuthHold(answer, "the server refused the update (its update policy does not allow this key and name)")
	case dns.RcodeServerFailure:
		return "", provider.Transient("the DNS server failed", errors.New(answer))
	default:
		return "", provider.Hold(answer, "the server rejected the update (check zone and hostname)")
	}
}

// KeySecret accepts a secret file holding either the bare base64 value or a key clause as tsig-keygen prints
// it (key "name" { algorithm ...; secret "..."; };), so the same file can serve BIND and hairpin.
func KeySecret(s string) string {
	if _, after, ok := strings.Cut(s, "secret"); ok && strings.Contains(s, "{") {
		if _, v, ok := strings.Cut(after, `"`); ok {
			v, _, _ = strings.Cut(v, `"`)
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(s)
}
