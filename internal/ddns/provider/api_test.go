package provider

import (
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// RateLimitWait reads Retry-After first, then the reset headers DNS APIs send, as a Unix time (DigitalOcean,
// Hetzner, Linode) or as seconds, capped at MaxWait; a header in the past or unreadable asks for nothing.
func TestRateLimitWait(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name string
		h    web.Header
		want time.Duration
	}{
		{"Retry-After seconds", web.Header{"Retry-After": {"120"}, "Ratelimit-Reset": {"1800000600"}}, 120 * time.Second},
		{"RateLimit-Reset as Unix time", web.Header{"Ratelimit-Reset": {"1800000600"}}, 10 * time.Minute},
		{"X-RateLimit-Reset as seconds", web.Header{"X-Ratelimit-Reset": {"30"}}, 30 * time.Second},
		{"a reset in the past", web.Header{"Ratelimit-Reset": {"1799999000"}}, 0},
		{"a reset a year away, capped", web.Header{"Ratelimit-Reset": {"1831536000"}}, MaxWait},
		{"unreadable", web.Header{"Ratelimit-Reset": {"soon"}}, 0},
		{"none", web.Header{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := RateLimitWait(c.h, now); got != c.want {
				t.Errorf("RateLimitWait = %v, want %v", got, c.want)
			}
		})
	}
}

// Judge types every non-2xx answer the way the engine needs, whatever the body.
func TestJudge(t *testing.T) {
	t.Parallel()
	a := &API{Vendor: "X"}
	for status, want := range map[int]error{200: nil, 204: nil, 401: ErrAuth, 403: ErrAuth, 404: ErrNotFound, 409: ErrTransient,
		412: ErrTransient, 422: ErrHold, 301: ErrHold, 302: ErrHold, 307: ErrHold, 429: ErrRetryLater, 500: ErrRetryLater, 503: ErrRetryLater} {
		err := a.Judge(status, web.Header{}, []byte(`{"message":"x"}`))
		if (want == nil) != (err == nil) || want != nil && !isKind(err, want) {
			t.Errorf("Judge(%d) = %v, want %v", status, err, want)
		}
	}
	// A redirect names where it points, but never the path or query, where a token may sit.
	err := a.Judge(302, web.Header{"Location": {"https://api.example.net/v2/zones?token=SECRET"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 302 to https://api.example.net") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Judge(302) = %v", err)
	}
}

func isKind(err, kind error) bool {
	e, ok := err.(*Error)
	return ok && (e.Is(kind) || e.Err == kind)
}

func FuzzJudge(f *testing.F) {
	f.Add(429, []byte(`{"error":"slow down"}`), "120")
	f.Add(500, []byte("<html>"), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		err := (&API{Vendor: "X"}).Judge(status, web.Header{"Retry-After": {retry}}, body)
		if status/100 == 2 {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		e, ok := err.(*Error)
		if !ok || e.RetryAfter > MaxWait || len([]rune(e.Answer)) > MaxAnswer+1 {
			t.Fatalf("Judge(%d) = %#v", status, err)
		}
	})
}

// TestNames pins how the providers name a hostname within its zone: folded to lower case without the final
// dot, "@" or "" for the apex as the API wants it, and the zones it may lie in, longest first.
func TestNames(t *testing.T) {
	tests := []struct {
		hostname, zone, canonical, relative, subname string
	}{
		{"Home.Example.NET.", "example.net", "home.example.net", "home", "home"},
		{"example.net", "Example.Net.", "example.net", "@", ""},
		{"a.b.example.net", "example.net", "a.b.example.net", "a.b", "a.b"},
	}
	for _, tt := range tests {
		t.Run(tt.hostname, func(t *testing.T) {
			if got := Canonical(tt.hostname); got != tt.canonical {
				t.Errorf("Canonical = %q, want %q", got, tt.canonical)
			}
			if got := Relative(tt.hostname, tt.zone); got != tt.relative {
				t.Errorf("Relative = %q, want %q", got, tt.relative)
			}
			if got := Subname(tt.hostname, tt.zone); got != tt.subname {
				t.Errorf("Subname = %q, want %q", got, tt.subname)
			}
		})
	}
	if got := strings.Join(ZoneCandidates("Home.Example.NET."), " "); got != "home.example.net example.net" {
		t.Errorf("ZoneCandidates = %q", got)
	}
	if err := NoDomain("domain of this Example account", "home.example.net"); !IsHold(err) ||
		!strings.Contains(err.Error(), "no domain of this Example account holds home.example.net (set zone: if it is there)") {
		t.Errorf("NoDomain = %v", err)
	}
}
