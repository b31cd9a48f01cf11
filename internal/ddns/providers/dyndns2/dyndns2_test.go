package dyndns2

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

var sent = netip.MustParseAddr("203.0.113.10")

func TestParse(t *testing.T) {
	cases := []struct {
		status int
		body   string
		answer string
		kind   error // nil: success
		auth   bool
	}{
		{200, "good 203.0.113.10\n", "good 203.0.113.10", nil, false},
		{200, "nochg 203.0.113.10", "nochg 203.0.113.10", nil, false},
		{200, "good", "good", nil, false},
		{200, "good 127.0.0.1", "", provider.ErrHold, false},
		{200, "good 192.0.2.99", "", provider.ErrWarning, false},
		{200, "nochg 192.0.2.99", "", provider.ErrWarning, false},
		{200, "good ::ffff:203.0.113.10", "good ::ffff:203.0.113.10", nil, false},
		{200, "badauth", "", provider.ErrHold, true},
		{401, "badauth", "", provider.ErrHold, true},
		{401, "", "", provider.ErrHold, true},
		{200, "!donator", "", provider.ErrHold, false},
		{200, "notfqdn", "", provider.ErrHold, false},
		{200, "nohost", "", provider.ErrHold, false},
		{200, "numhost", "", provider.ErrHold, false},
		{200, "abuse", "", provider.ErrHold, false},
		{200, "badagent", "", provider.ErrHold, false},
		{200, "dnserr", "", provider.ErrRetryLater, false},
		{200, "911", "", provider.ErrRetryLater, false},
		{500, "<html>oops</html>", "", provider.ErrRetryLater, false},
		{502, "good 203.0.113.10", "", provider.ErrRetryLater, false},
		{200, "", "", provider.ErrRetryLater, false},
	}
	for _, c := range cases {
		answer, err := Parse(c.status, []byte(c.body), sent)
		if answer != c.answer || !errors.Is(err, c.kind) && (c.kind != nil || err != nil) || provider.IsAuth(err) != c.auth {
			t.Errorf("Parse(%d, %q) = %q, %v; want %q, kind %v, auth %v", c.status, c.body, answer, err, c.answer, c.kind, c.auth)
		}
		if c.kind == provider.ErrRetryLater {
			var pe *provider.Error
			if errors.As(err, &pe) && pe.RetryAfter < provider.ServerTrouble {
				t.Errorf("Parse(%d, %q): retry after %v, want at least 30 minutes", c.status, c.body, pe.RetryAfter)
			}
		}
	}
}

// FuzzParse: any answer gives either success with one of the success codes or a typed error, and never a
// panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"good 1.2.3.4", "nochg", "badauth", "911", "\x00\xff", "good 127.0.0.1\nnohost", "  \n"} {
		f.Add(200, []byte(s))
	}
	f.Add(401, []byte(""))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		answer, err := Parse(status, body, sent)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || answer != "" {
				t.Fatalf("untyped error or answer with error: %q, %v", answer, err)
			}
			if len([]rune(pe.Answer)) > provider.MaxAnswer+1 { // the engine cuts to 64 after scrubbing secrets
				t.Fatalf("answer not capped: %q", pe.Answer)
			}
			return
		}
		if len(answer) < 4 || (answer[:4] != "good" && answer[:5] != "nochg") {
			t.Fatalf("success with answer %q", answer)
		}
	})
}
