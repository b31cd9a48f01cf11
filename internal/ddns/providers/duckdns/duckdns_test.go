package duckdns

import (
	"errors"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

func TestParse(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   error
	}{
		{200, "OK", nil},
		{200, "OK\n203.0.113.10\n\nUPDATED", nil},
		{200, "KO", provider.ErrHold},
		{400, "KO", provider.ErrHold},
		{500, "", provider.ErrRetryLater},
		{200, "<html>", provider.ErrRetryLater},
		{401, "", provider.ErrAuth},
	}
	for _, c := range cases {
		_, err := Parse(c.status, []byte(c.body))
		if c.kind == nil && err != nil || c.kind != nil && !errors.Is(err, c.kind) {
			t.Errorf("Parse(%d, %q) = %v, want %v", c.status, c.body, err, c.kind)
		}
	}
}

func TestSubdomain(t *testing.T) {
	for in, want := range map[string]string{"home": "home", "home.duckdns.org": "home", "home.duckdns.org.": "home", "a.b": "a.b"} {
		t.Run(in, func(t *testing.T) {
			if got := Subdomain(in); got != want {
				t.Errorf("Subdomain(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"OK", "KO", "", "OK\n1.2.3.4", "\xff"} {
		f.Add(200, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		answer, err := Parse(status, body)
		var pe *provider.Error
		if err != nil && !errors.As(err, &pe) || err == nil && answer != "OK" {
			t.Fatalf("Parse = %q, %v", answer, err)
		}
	})
}
