package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// API is a JSON HTTP API as most DNS hosts offer it: a base URL, credentials on every request, JSON in and
// out, and HTTP statuses that say what went wrong.
type API struct {
	Env  Env
	Base *url.URL
	// Vendor names the provider in messages.
	Vendor string
	// Auth puts the credentials on a request (and may sign it: it sees the final URL and body).
	Auth func(req *web.Request, body []byte) error
	// Message extracts the vendor's error message from an error body, for status; nil: the first line.
	Message func(body []byte) string
}

// ErrNotFound is a 404: the zone or record does not exist, which callers looking for one expect.
var ErrNotFound = errors.New("not found")

// Call sends method to the base URL joined with path (its segments already escaped) and query, with in as the
// JSON body (nil: none), and decodes a 2xx answer into out (nil: ignored). A 404 is ErrNotFound; other
// failures are typed as the engine needs them: 401/403 hold as auth failures, 429 and 5xx pause (at least
// ServerTrouble, longer when Retry-After or a rate-limit reset header says so), other refusals hold.
func (a *API) Call(ctx context.Context, method, path string, query url.Values, in, out any) (web.Header, error) {
	u, err := url.Parse(a.Base.Scheme + "://" + a.Base.Host + strings.TrimSuffix(a.Base.EscapedPath(), "/") + path)
	if err != nil {
		return nil, Hold("", "the request path does not make a URL: "+err.Error())
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	req, err := web.NewRequest(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, Transient("building the request", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.Auth != nil {
		if err := a.Auth(req, body); err != nil {
			return nil, err
		}
	}
	status, header, answer, err := DoHeader(ctx, a.Env, req)
	if err != nil {
		return nil, err
	}
	if err := a.Judge(status, header, answer); err != nil {
		return header, err
	}
	if out != nil && len(bytes.TrimSpace(answer)) > 0 {
		if err := json.Unmarshal(answer, out); err != nil {
			return header, RetryLater(fmt.Sprintf("HTTP %d", status), ServerTrouble, a.Vendor+"'s answer is not the JSON its API documents")
		}
	}
	return header, nil
}

// Judge types a non-2xx answer; nil for 2xx.
func (a *API) Judge(status int, header web.Header, body []byte) error {
	if status/100 == 2 {
		return nil
	}
	msg := ""
	if a.Message != nil {
		msg = a.Message(body)
	}
	if msg == "" {
		msg = Clean(string(body))
	}
	answer := fmt.Sprintf("HTTP %d", status)
	if msg != "" {
		answer += " " + msg
	}
	switch {
	case status == web.StatusNotFound:
		return &Error{Kind: ErrHold, Answer: Clean(answer), Msg: a.Vendor + " has no such zone or record", Err: ErrNotFound}
	case status == web.StatusUnauthorized || status == web.StatusForbidden:
		return AuthHold(answer, a.Vendor+" refused the credentials (or they lack the permission to edit this zone)")
	case status == web.StatusConflict || status == web.StatusPreconditionFailed:
		// The record changed between our read and our write: read again, after the usual backoff.
		return &Error{Kind: ErrTransient, Answer: Clean(answer), Msg: "the record changed meanwhile at " + a.Vendor}
	case status == web.StatusTooManyRequests || status/100 == 5:
		return RetryLater(answer, max(ServerTrouble, RateLimitWait(header, time.Now())), a.Vendor+" is rate limiting or in trouble")
	case status/100 == 3:
		return Hold(Clean(fmt.Sprintf("HTTP %d to %s", status, redirectTarget(header.Get("Location")))),
			a.Vendor+" redirected the request, which hairpin does not follow: set server: to the API's URL")
	default:
		return Hold(answer, a.Vendor+" refused the request")
	}
}

// RateLimitWait reads how long a server asks to wait: Retry-After, or a rate-limit reset header as DNS APIs
// send them (RateLimit-Reset, X-RateLimit-Reset: a Unix time, or seconds when small), capped at MaxWait.
func RateLimitWait(h web.Header, now time.Time) time.Duration {
	if d := retryAfter(h.Get("Retry-After")); d > 0 {
		return d
	}
	for _, k := range []string{"RateLimit-Reset", "X-RateLimit-Reset", "X-Ratelimit-Reset"} {
		v, err := strconv.ParseInt(strings.TrimSpace(h.Get(k)), 10, 64)
		if err != nil || v <= 0 {
			continue
		}
		if v > 1_000_000_000 {
			return min(max(time.Unix(v, 0).Sub(now), 0), MaxWait)
		}
		return min(time.Duration(v)*time.Second, MaxWait)
	}
	return 0
}

// IsNotFound reports whether err is a 404 from an API.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Canonical is a DNS name as the providers compare it: lower case, without the final dot.
func Canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// ZoneCandidates lists the names a hostname's zone may have, longest first: the hostname itself, then each
// parent with at least two labels.
func ZoneCandidates(hostname string) []string {
	h := Canonical(hostname)
	var out []string
	for strings.Count(h, ".") >= 1 {
		out = append(out, h)
		_, h, _ = strings.Cut(h, ".")
	}
	return out
}

// Relative is the hostname relative to zone: "@" for the zone's apex, else the labels before it.
func Relative(hostname, zone string) string {
	h := Canonical(hostname)
	z := Canonical(zone)
	if h == z {
		return "@"
	}
	return strings.TrimSuffix(h, "."+z)
}

// Subname is the hostname relative to zone as APIs that name the apex "" want it: Relative, "" for "@".
func Subname(hostname, zone string) string {
	if r := Relative(hostname, zone); r != "@" {
		return r
	}
	return ""
}

// MaxPages bounds how many pages of a listing a provider reads: a zone of 200 records a page and 50 pages is
// larger than any home user's, and a server that always says "next" must not keep the update busy forever.
const MaxPages = 50

// RecordType is "A" for an IPv4 address, "AAAA" for an IPv6 one. Not inlined: the providers call it at a dozen
// places, and its netip checks copied into each grew the router build by ~5 KB.
//
//go:noinline
func RecordType(addr netip.Addr) string {
	if addr.Is6() && !addr.Is4In6() {
		return "AAAA"
	}
	return "A"
}

// CodeMessage reads the error body {error: {code, message}} as "code: message" (Azure's CloudError, Hetzner
// Cloud's error).
func CodeMessage(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if JSONInto(body, &e) && e.Error.Code != "" {
		return e.Error.Code + ": " + e.Error.Message
	}
	return ""
}

// JSONInto decodes body into v, reporting success.
func JSONInto(body []byte, v any) bool { return json.Unmarshal(body, v) == nil }

// PickZone chooses, among the zones an account lists, the one holding hostname: its longest parent (or the
// hostname itself).
func PickZone(hostname string, zones []string) (string, bool) {
	for _, c := range ZoneCandidates(hostname) {
		for _, z := range zones {
			if strings.EqualFold(strings.TrimSuffix(z, "."), c) {
				return z, true
			}
		}
	}
	return "", false
}

// NoDomain is the hold when nothing the account lists (what: "domain of this GoDaddy account") holds the
// hostname.
func NoDomain(what, hostname string) error {
	return Hold("", fmt.Sprintf("no %s holds %s (set zone: if it is there)", what, hostname))
}

// NoZone is the hold when no zone of the account holds the hostname.
func NoZone(vendor, hostname string) error {
	return Hold("", fmt.Sprintf("no zone of this %s account holds %s (set zone: if it is there under another name)", vendor, hostname))
}
