// Package rfc2136 updates an A record with a standard DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), as
// BIND, Knot and PowerDNS accept it. One update:
//
//  1. asks the server for the name's A records and sends nothing when it already holds exactly the wanted
//     one (PowerDNS would otherwise delete and re-add it and bump the zone's serial);
//  2. sends, over TCP, "no CNAME at the name" as a prerequisite, then the deletion of the name's A records
//     and the new record, in one message (without the prerequisite, RFC 2136 section 3.4.2.2 has the server
//     ignore an A record at a CNAME silently and still answer NOERROR);
//  3. after NOERROR, asks the server again and reports success only when it serves the new address.
package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/dnswire"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Algorithms maps the config's tsig_algorithm to the wire name.
var Algorithms = map[string]string{
	"hmac-sha1":   dnswire.HmacSHA1,
	"hmac-sha224": dnswire.HmacSHA224,
	"hmac-sha256": dnswire.HmacSHA256,
	"hmac-sha384": dnswire.HmacSHA384,
	"hmac-sha512": dnswire.HmacSHA512,
}

// DefaultAlgorithm is the tsig_algorithm of an entry that names none.
const DefaultAlgorithm = "hmac-sha256"

// Fudge is the TSIG time window hairpin asks for (RFC 8945 recommends 300 s); a server whose clock is further
// off answers BADTIME.
const Fudge = 300

// DialTimeout bounds connecting to the server, so that a dead route fails in seconds, not at the update's
// overall timeout.
const DialTimeout = 5 * time.Second

// exchangeTimeout bounds one query or update once connected.
const exchangeTimeout = 10 * time.Second

// UnsignedRefusalsToHold is how many error answers in a row without a valid TSIG record it takes to hold:
// one could be forged, but a server refusing the same signed update this often over TCP means it.
const UnsignedRefusalsToHold = 3

// PlausibleClock is a time this router's clock is surely past once it is set; before it, refusals may be the
// clock's fault.
var PlausibleClock = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type rfc2136 struct {
	server string
	zone   string
	name   string
	key    dnswire.Key
	ttl    uint32
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ provider.Provider = (*rfc2136)(nil)

// Settings are an rfc2136 entry's own keys.
type Settings struct {
	Server         string // host[:port], port 53 when left out
	Zone           string // default: the hostname's parent
	TSIGKey        string
	TSIGAlgorithm  string
	TSIGSecretFile string
	TSIGSecretEnv  string
	TTL            int
}

// Def is the rfc2136 provider.
var Def = provider.Define(provider.Def{Kind: provider.KindRFC2136, Contract: provider.FromRFC,
	Doc:     "https://www.rfc-editor.org/rfc/rfc2136",
	Example: "provider: rfc2136\nhostname: home.example.net\nserver: 192.0.2.53\ntsig_key: hairpin-key\ntsig_secret_file: /etc/hairpin/tsig.key",
	Config:  ddnsconf.Provider{Name: "rfc2136", Keys: []string{"server", "zone", "tsig_key", "tsig_algorithm", "tsig_secret_file", "tsig_secret_env", "ttl"}, AAAA: true}},
	Decode, New)

// Decode reads an rfc2136 entry's keys.
func Decode(k provider.Keys, e provider.Entry) *Settings {
	s := &Settings{TTL: 60, TSIGAlgorithm: DefaultAlgorithm}
	ddnsconf.Require(k, e.Provider, "server")
	ddnsconf.Require(k, e.Provider, "tsig_key")
	s.TSIGSecretFile, s.TSIGSecretEnv = ddnsconf.Secret(k, "tsig_secret_file", "tsig_secret_env")
	s.Zone, _ = k.String("zone")
	s.TSIGKey, _ = k.String("tsig_key")
	for _, n := range [][2]string{{"zone", s.Zone}, {"tsig_key", s.TSIGKey}} {
		if err := dnswire.CheckName(n[1]); n[1] != "" && err != nil {
			k.Errorf(n[0], "write a DNS name: labels of 1 to 63 characters joined by dots", "%q cannot be sent in a DNS message: %v", n[1], err)
		}
	}
	if alg, ok := k.OneOf("tsig_algorithm", algorithmNames()...); ok {
		s.TSIGAlgorithm = alg
	}
	if ttl, ok := k.Int("ttl", 1, 86400); ok {
		s.TTL = ttl
	}
	s.Server = ddnsconf.HostPort(k, "server")
	return s
}

// algorithmNames lists the tsig_algorithm values, from Algorithms.
func algorithmNames() []string {
	names := make([]string, 0, len(Algorithms))
	for n := range Algorithms {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New builds the provider for one entry. server is host:port (port 53 when left out); zone defaults to the
// hostname's parent.
func New(e provider.Entry, s *Settings, env provider.Env) (provider.Provider, error) {
	server := s.Server
	if server == "" {
		return nil, errors.New("rfc2136 needs server (the primary's address, e.g. 192.0.2.53:53)")
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	zone := s.Zone
	if zone == "" {
		_, parent, ok := strings.Cut(strings.TrimSuffix(e.Hostname, "."), ".")
		if !ok {
			return nil, errfmt.Errorf("hostname %q has no parent zone; set zone", e.Hostname)
		}
		zone = parent
	}
	if !dnswire.IsSubDomain(zone, e.Hostname) {
		return nil, errfmt.Errorf("hostname %q is not inside zone %q", e.Hostname, zone)
	}
	if s.TSIGKey == "" {
		return nil, errors.New("rfc2136 needs tsig_key (the key's name on the server)")
	}
	algName := s.TSIGAlgorithm
	if algName == "" {
		algName = DefaultAlgorithm
	}
	alg, ok := Algorithms[algName]
	if !ok {
		return nil, errfmt.Errorf("tsig_algorithm %q is not one of %s", algName, strings.Join(algorithmNames(), ", "))
	}
	raw, err := env.SecretBlock(s.TSIGSecretFile, s.TSIGSecretEnv)
	if err != nil {
		return nil, errfmt.Errorf("tsig secret: %w", err)
	}
	k, err := ParseKeyFile(raw)
	if k.Secret != "" && env.Sensitive != nil {
		env.Sensitive(k.Secret)
	}
	if err != nil {
		return nil, errfmt.Errorf("tsig secret: %w", err)
	}
	if err := k.agrees(s.TSIGKey, algName); err != nil {
		return nil, errfmt.Errorf("tsig secret %s: %w", secretSource(s), err)
	}
	secret, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return nil, errors.New("tsig secret: the secret is not base64") // ParseKeyFile has checked it
	}
	for _, n := range [][2]string{{"hostname", e.Hostname}, {"zone", zone}, {"tsig_key", s.TSIGKey}} {
		if err := dnswire.CheckName(n[1]); err != nil {
			return nil, errfmt.Errorf("%s %q cannot be sent in a DNS message: %w", n[0], n[1], err)
		}
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 60
	}
	return &rfc2136{server: server, zone: dnswire.CanonicalName(zone), name: dnswire.CanonicalName(e.Hostname),
		key: dnswire.Key{Name: dnswire.CanonicalName(s.TSIGKey), Algorithm: alg, Secret: secret}, ttl: uint32(ttl), dial: env.Dial}, nil
}

func secretSource(s *Settings) string {
	if s.TSIGSecretFile != "" {
		return s.TSIGSecretFile
	}
	return "$" + s.TSIGSecretEnv
}

// agrees checks the key name and algorithm the secret file states, if any, against the config: a mismatch
// would only show up later as the server's BADKEY or BADSIG.
func (k Key) agrees(name, alg string) error {
	var errs []error
	if k.Name != "" && dnswire.CanonicalName(k.Name) != dnswire.CanonicalName(name) {
		errs = append(errs, errfmt.Errorf("the file is for key %q but tsig_key is %q (set tsig_key: %s)", k.Name, name, k.Name))
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		errs = append(errs, errfmt.Errorf("the file's key uses %s but tsig_algorithm is %s (set tsig_algorithm: %s)", k.Algorithm, alg, k.Algorithm))
	}
	return errors.Join(errs...)
}

func (p *rfc2136) Update(ctx context.Context, addr netip.Addr) (string, error) {
	addr = addr.Unmap()
	// An IPv4 address replaces the A records, an IPv6 one the AAAA records; the other family is left alone.
	rrtype := dnswire.TypeA
	if addr.Is6() {
		rrtype = dnswire.TypeAAAA
	}
	// Query first: an update that changes nothing is not free on every server (PowerDNS deletes and re-adds
	// the record and bumps the serial, which sends NOTIFY and zone transfers to every secondary). A failed
	// query is no reason not to try the update.
	if held, err := p.lookup(ctx, rrtype); err == nil && held.exactly(addr, p.ttl) {
		return "unchanged", nil
	}
	// RFC 2136 section 2.4.3 "RRset does not exist" (class NONE), then 2.5.2 "delete an RRset" (class ANY)
	// and 2.5.1 "add to an RRset".
	m := p.update()
	m.Answer(dnswire.RR{Name: p.name, Type: dnswire.TypeCNAME, Class: dnswire.ClassNONE})
	m.Authority(dnswire.RR{Name: p.name, Type: rrtype, Class: dnswire.ClassANY})
	m.Authority(dnswire.RR{Name: p.name, Type: rrtype, Class: dnswire.ClassINET, TTL: p.ttl, Data: addr.AsSlice()})
	sent := time.Now()
	r, verr, err := p.exchange(ctx, m, sent, Fudge)
	if err != nil {
		return "", provider.Transient("no answer from the DNS server", err)
	}
	answer, cerr := Classify(r, verr, p.name, sent)
	if cerr != nil && errors.Is(cerr, errUnsigned) {
		// Some servers (PowerDNS) answer a bad key, a bad signature and a clock off by more than the fudge
		// alike, with a bare REFUSED. A signed probe can tell the clock apart.
		clock, keyOK := p.probe(ctx)
		if clock != nil {
			return "", clock
		}
		return "", p.count(cerr, keyOK)
	}
	if cerr != nil {
		return "", p.count(cerr, false)
	}
	// NOERROR is not proof: the server may have applied nothing (an update policy that drops what it does not
	// allow, a record type clash). Success is what the server serves afterwards.
	held, err := p.lookup(ctx, rrtype)
	switch {
	case err != nil:
		return "", provider.Transient("the server answered NOERROR but could not be asked whether it serves the new address", err)
	case held.cname != "":
		return "", provider.Hold(answer, cnameMsg(p.name, held.cname))
	case !held.has(addr):
		return "", provider.Transient(fmt.Sprintf("the server answered NOERROR but serves %s for %s, not %s",
			held.list(), strings.TrimSuffix(p.name, "."), addr), nil)
	}
	return answer, nil
}

// update starts an UPDATE of the zone.
func (p *rfc2136) update() *dnswire.Builder {
	m := dnswire.NewBuilder(dnswire.Header{ID: dnswire.NewID(), Opcode: dnswire.OpcodeUpdate})
	m.Question(p.zone, dnswire.TypeSOA, dnswire.ClassINET)
	return m
}

// count marks an untrusted error answer as one that holds when it repeats UnsignedRefusalsToHold times in a
// row; the engine keeps the count, in the hostname's saved state. keyOK says a signed query showed that the
// server accepts the key.
func (p *rfc2136) count(err *provider.Error, keyOK bool) error {
	if !errors.Is(err, errUnsigned) {
		return err
	}
	if now := time.Now(); now.Before(PlausibleClock) {
		// PowerDNS refuses a clock off by more than the probe's widest window (18 hours) just like a wrong key.
		// A router without a real-time clock boots in 1970 or thereabouts: until NTP has set the clock, a
		// refusal may be the clock's fault, so it is never a reason to hold.
		err.Msg += fmt.Sprintf("; not held: this router's clock reads %s, which cannot be right (set it with NTP)",
			now.UTC().Format(time.RFC3339))
		return err
	}
	key := strings.TrimSuffix(p.key.Name, ".")
	why := fmt.Sprintf("check that it knows tsig_key %s with this secret and algorithm, and that its update policy "+
		"allows the key this name", key)
	if keyOK {
		why = fmt.Sprintf("it accepts key %s for a change-nothing update, so its update policy does not allow the key this name", key)
	}
	err.HoldAfter = UnsignedRefusalsToHold
	err.HoldMsg = fmt.Sprintf("the server refused %d signed updates in a row over TCP without a valid TSIG record in its "+
		"answers: %s", UnsignedRefusalsToHold, why)
	return err
}

// probeAt sends a signed update that cannot change anything, its only content the prerequisite that a name
// no one uses exists, with time window fudge. (A query will not do: PowerDNS ignores TSIG on queries.) ok says
// the server signed its answer with the key: the key, the secret and the router's clock within fudge of the
// server's are all right. server is the time the answer was signed at. Replaying a probe changes nothing
// either, so a wide window gives nothing away.
func (p *rfc2136) probeAt(ctx context.Context, fudge uint16) (ok bool, server time.Time) {
	m := p.update()
	// RFC 2136 section 2.4.4 "name is in use" (class ANY, type ANY).
	m.Answer(dnswire.RR{Name: "_hairpin-clock-probe." + p.zone, Type: dnswire.TypeANY, Class: dnswire.ClassANY})
	r, verr, err := p.exchange(ctx, m, time.Now(), fudge)
	if err != nil || r == nil {
		return false, time.Time{}
	}
	t := r.TSIG
	if t == nil || t.Error != dnswire.RcodeSuccess || (verr != nil && !errors.Is(verr, dnswire.ErrTime)) {
		return false, time.Time{}
	}
	return true, time.Unix(int64(t.TimeSigned), 0)
}

// wideFudge is the widest TSIG time window, 18 hours: enough for any clock a router boots with.
const wideFudge = 1<<16 - 1

// probe finds out whether an unexplained refusal was the router's clock. If the server accepts the key with
// the widest time window, the key is right (keyOK); if it then refuses it with the normal window, the clock is
// off, by as much as the narrowest window it accepts (found by bisection, since PowerDNS signs its answer
// with the request's time rather than its own and says nothing else about its clock).
func (p *rfc2136) probe(ctx context.Context) (clock *provider.Error, keyOK bool) {
	ok, server := p.probeAt(ctx, wideFudge)
	if !ok {
		return nil, false
	}
	now := time.Now()
	if d := server.Sub(now); d > Fudge*time.Second || d < -Fudge*time.Second {
		return &provider.Error{Kind: provider.ErrTransient, Answer: "REFUSED",
			Msg: clockDiff("the server refused the update; a signed probe shows its clock differs", now, server)}, true
	}
	if ok, _ := p.probeAt(ctx, Fudge); ok {
		return nil, true // the clock is fine: the refusal was something else
	}
	lo, hi := uint16(Fudge), uint16(wideFudge) // refused at lo, accepted at hi
	for hi-lo > 2 && ctx.Err() == nil {
		mid := lo + (hi-lo)/2
		if ok, _ := p.probeAt(ctx, mid); ok {
			hi = mid
		} else {
			lo = mid
		}
	}
	return &provider.Error{Kind: provider.ErrTransient, Answer: "REFUSED",
		Msg: fmt.Sprintf("the server refused the update but accepts the key with a wider time window: this router's clock "+
			"(%s) differs from the server's by about %d s%s", now.UTC().Format(time.RFC3339), hi, clockFix)}, true
}

// records is what the server serves at the name: the addresses of one type (A or AAAA) with their TTLs.
type records struct {
	rrtype uint16
	addrs  []netip.Addr
	ttls   []uint32
	cname  string
}

func (h records) exactly(addr netip.Addr, ttl uint32) bool {
	return h.cname == "" && len(h.addrs) == 1 && h.has(addr) && h.ttls[0] == ttl
}

func (h records) has(addr netip.Addr) bool {
	for _, a := range h.addrs {
		if a == addr {
			return true
		}
	}
	return false
}

func (h records) list() string {
	if len(h.addrs) == 0 {
		return "no " + dnswire.TypeName(h.rrtype) + " record"
	}
	var s []string
	for _, a := range h.addrs {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// lookup asks the server itself (the primary the update goes to, not a resolver's cache) what it serves for
// rrtype (A or AAAA).
func (p *rfc2136) lookup(ctx context.Context, rrtype uint16) (records, error) {
	m := dnswire.NewBuilder(dnswire.Header{ID: dnswire.NewID()})
	m.Question(p.name, rrtype, dnswire.ClassINET)
	r, _, err := p.exchange(ctx, m, time.Time{}, 0)
	if err != nil {
		return records{}, err
	}
	if r.Rcode != dnswire.RcodeSuccess && r.Rcode != dnswire.RcodeNameError {
		return records{}, errfmt.Errorf("query answered %s", rcodeName(r.Rcode))
	}
	if !r.Authoritative {
		return records{}, errors.New("the server does not answer authoritatively for the name")
	}
	h := records{rrtype: rrtype}
	for _, rr := range r.Answer {
		if !strings.EqualFold(rr.Name, p.name) {
			continue
		}
		switch rr.Type {
		case dnswire.TypeA, dnswire.TypeAAAA:
			if rr.Addr.IsValid() && rr.Type == rrtype {
				h.addrs, h.ttls = append(h.addrs, rr.Addr), append(h.ttls, rr.TTL)
			}
		case dnswire.TypeCNAME:
			h.cname = rr.Target
		}
	}
	return h, nil
}

// errUnsigned marks an error answer that carried no valid signature.
var errUnsigned = errors.New("the answer is not signed")

// exchange sends m over TCP (no truncation, and an answer cannot be forged by one spoofed datagram) and reads
// the answer. With a signing time, m is signed with the key at that time, with time window fudge, and verr
// says whether the answer's signature verified (nil) or why not.
func (p *rfc2136) exchange(ctx context.Context, m *dnswire.Builder, signAt time.Time, fudge uint16) (r *dnswire.Msg, verr error, err error) {
	wire, err := m.Finish()
	if err != nil {
		return nil, nil, err
	}
	var mac []byte
	if !signAt.IsZero() {
		if wire, mac, err = dnswire.Sign(wire, p.key, signAt, fudge, nil); err != nil {
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, DialTimeout+exchangeTimeout)
	defer cancel()
	dial := p.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: DialTimeout}).DialContext
	}
	dctx, dcancel := context.WithTimeout(ctx, DialTimeout)
	conn, err := dial(dctx, "tcp", p.server)
	dcancel()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := dnswire.WriteStream(conn, wire); err != nil {
		return nil, nil, err
	}
	raw, err := dnswire.ReadStream(conn)
	if err != nil {
		return nil, nil, err
	}
	if r, err = dnswire.Parse(raw); err != nil {
		return nil, nil, errfmt.Errorf("unreadable answer: %w", err)
	}
	if len(wire) >= 2 && r.ID != uint16(wire[0])<<8|uint16(wire[1]) {
		return nil, nil, errors.New("answer to another message")
	}
	if mac != nil {
		if r.TSIG == nil {
			verr = errUnsigned
		} else {
			verr = dnswire.Verify(raw, r, p.key, mac, time.Now())
		}
	}
	return r, verr, nil
}

func rcodeName(rc int) string { return dnswire.RcodeName(rc) }

func cnameMsg(name, target string) string {
	n := strings.TrimSuffix(name, ".")
	if target != "" {
		return fmt.Sprintf("%s is a CNAME (for %s); point the update at the name that holds the address", n,
			strings.TrimSuffix(target, "."))
	}
	return fmt.Sprintf("%s is a CNAME; point the update at the name that holds the address", n)
}

// Classify turns the server's answer to a signed update into the engine's terms. verr is nil when the
// answer's TSIG signature verified, else why not (errUnsigned when it had no TSIG record). sent is the time
// the update was signed with.
//
//   - A TSIG error (the answer's TSIG record names it; RFC 8945 has such answers unsigned, since the server
//     could not check the key): BADTIME is the router's clock, retried with backoff; BADSIG, BADKEY and the
//     rest are a wrong key, held.
//   - An error answer without a valid signature is not trusted: over UDP anyone could forge one. It is
//     transient, marked errUnsigned, and the provider holds after UnsignedRefusalsToHold in a row.
//   - A signed answer is believed: YXRRSET means the prerequisite found a CNAME, REFUSED an update policy
//     that does not allow the key this name, SERVFAIL is transient, anything else holds.
func Classify(r *dnswire.Msg, verr error, name string, sent time.Time) (string, *provider.Error) {
	if r == nil {
		return "", provider.Transient("no answer from the DNS server", verr)
	}
	answer := rcodeName(r.Rcode)
	if t := r.TSIG; t != nil && t.Error != dnswire.RcodeSuccess {
		answer += " (TSIG " + rcodeName(t.Error) + ")"
		if t.Error == dnswire.RcodeBadTime {
			return "", &provider.Error{Kind: provider.ErrTransient, Answer: answer, Msg: clockMsg(t, sent)}
		}
		switch t.Error {
		case dnswire.RcodeBadSig:
			return "", provider.AuthHold(answer, "the server knows the key but the signature does not verify: the secret or tsig_algorithm differs from the server's")
		case dnswire.RcodeBadKey:
			return "", provider.AuthHold(answer, "the server does not know the key: check tsig_key and tsig_algorithm")
		}
		return "", provider.AuthHold(answer, "the server rejected the TSIG key (check tsig_key, tsig_algorithm and the secret)")
	}
	trusted := verr == nil || errors.Is(verr, dnswire.ErrTime) // ErrTime: the MAC verified, only the time is off
	if !trusted {
		why := "unsigned"
		if !errors.Is(verr, errUnsigned) {
			why = "with a TSIG signature that does not verify (" + verr.Error() + ")"
		}
		if r.Rcode == dnswire.RcodeServerFailure {
			return "", provider.Transient("the DNS server failed", errors.New(answer))
		}
		return "", &provider.Error{Kind: provider.ErrTransient, Answer: answer + " (" + strings.Fields(why)[0] + ")",
			Msg: fmt.Sprintf("the server's answer came %s; not trusted, retrying with backoff", why), Err: errUnsigned}
	}
	n := strings.TrimSuffix(name, ".")
	switch r.Rcode {
	case dnswire.RcodeSuccess:
		return answer, nil
	case dnswire.RcodeYXRrset:
		return "", provider.Hold(answer, cnameMsg(name, ""))
	case dnswire.RcodeNXRrset, dnswire.RcodeYXDomain, dnswire.RcodeNameError:
		return "", provider.Hold(answer, fmt.Sprintf("a prerequisite of the update of %s failed", n))
	case dnswire.RcodeNotAuth:
		return "", provider.Hold(answer, "the server is not authoritative for the zone (check zone and server)")
	case dnswire.RcodeNotZone:
		return "", provider.Hold(answer, fmt.Sprintf("%s is not in the zone (check zone and hostname)", n))
	case dnswire.RcodeRefused:
		return "", provider.AuthHold(answer, fmt.Sprintf("the server refused the update: its update policy does not allow this key to change %s", n))
	case dnswire.RcodeServerFailure:
		return "", provider.Transient("the DNS server failed", errors.New(answer))
	default:
		return "", provider.Hold(answer, "the server rejected the update (check zone and hostname)")
	}
}

// clockMsg says how far the router's clock is from the server's. RFC 8945 section 5.2.3 has the server put its
// own time in the BADTIME answer's Other Data; servers that do not, leave only the request's time to quote.
func clockMsg(t *dnswire.TSIG, sent time.Time) string {
	const what = "the server rejected the update's time (BADTIME)"
	if server, ok := serverTime(t, sent); ok {
		return clockDiff(what, sent, server)
	}
	return fmt.Sprintf("%s: this router's clock (%s) differs from the server's by more than %d s%s", what,
		sent.UTC().Format(time.RFC3339), Fudge, clockFix)
}

const clockFix = "; TSIG allows 300 s. Set the router's clock (NTP); retrying with backoff"

func clockDiff(what string, router, server time.Time) string {
	diff := router.Sub(server).Round(time.Second)
	dir := "ahead of"
	if diff < 0 {
		dir, diff = "behind", -diff
	}
	return fmt.Sprintf("%s: this router's clock is about %d s %s the server's (server time %s, router time %s)%s",
		what, int64(diff/time.Second), dir, server.UTC().Format(time.RFC3339), router.UTC().Format(time.RFC3339), clockFix)
}

// serverTime reads the 48-bit time in a BADTIME answer's Other Data, or else a Time Signed that is not the
// request's own (some servers sign the error with their clock).
func serverTime(t *dnswire.TSIG, sent time.Time) (time.Time, bool) {
	if len(t.Other) == 6 {
		var v int64
		for _, c := range t.Other {
			v = v<<8 | int64(c)
		}
		return time.Unix(v, 0), true
	}
	if d := int64(t.TimeSigned) - sent.Unix(); t.TimeSigned != 0 && (d > Fudge || d < -Fudge) {
		return time.Unix(int64(t.TimeSigned), 0), true
	}
	return time.Time{}, false
}
