package cloudflare

import (
	"errors"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		kind   error
		auth   bool
	}{
		{"ok", 200, `{"success":true,"errors":[],"result":[]}`, nil, false},
		{"bad token", 403, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`, provider.ErrHold, true},
		{"invalid token code on 400", 400, `{"success":false,"errors":[{"code":6003,"message":"Invalid request headers"}]}`, provider.ErrHold, true},
		{"bad zone", 400, `{"success":false,"errors":[{"code":7003,"message":"Could not route"}]}`, provider.ErrHold, false},
		{"rate limited", 429, `{"success":false,"errors":[{"code":971,"message":"Please wait"}]}`, provider.ErrRetryLater, false},
		{"server error html", 502, `<html>Bad gateway</html>`, provider.ErrRetryLater, false},
		{"200 not json", 200, `nope`, provider.ErrRetryLater, false},
		{"200 success false", 200, `{"success":false,"errors":[]}`, provider.ErrHold, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.status, []byte(c.body), 0)
			if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) || provider.IsAuth(err) != c.auth {
				t.Errorf("%s: err = %v, want %v auth %v", c.name, err, c.kind, c.auth)
			}
		})
	}
}

func TestParseHonoursLongerRetryAfter(t *testing.T) {
	_, err := Parse(429, nil, 3*time.Hour)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.RetryAfter != 3*time.Hour {
		t.Fatalf("err = %#v", err)
	}
	_, err = Parse(429, nil, time.Second)
	if !errors.As(err, &pe) || pe.RetryAfter != provider.ServerTrouble {
		t.Fatalf("a short Retry-After shortened the pause: %#v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(200, []byte(`{"success":true,"errors":[],"result":[{"id":"x","content":"1.2.3.4"}]}`))
	f.Add(403, []byte(`{"success":false,"errors":[{"code":9109}]}`))
	f.Add(200, []byte(`{"errors":[{"code":"x"}]}`))
	f.Add(500, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		_, err := Parse(status, body, 0)
		var pe *provider.Error
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
