package provider

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "https://user:pw@www.duckdns.org/update?domains=x&token=SECRET#frag", Err: errors.New("dial tcp: refused")}
	got := RedactURL(err).Error()
	if strings.Contains(got, "SECRET") || strings.Contains(got, "pw") || !strings.Contains(got, "www.duckdns.org/update") {
		t.Fatalf("RedactURL = %q", got)
	}
	plain := errors.New("x")
	if RedactURL(plain) != plain {
		t.Fatal("a non-URL error was rewritten")
	}
}

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"good 1.2.3.4\n":                     "good 1.2.3.4",
		"  badauth\r\nmore":                  "badauth",
		"a\x00b\x1bc":                        "abc",
		strings.Repeat("x", 100):             strings.Repeat("x", 64) + "…",
		"<html><body>error</body></html>\nx": "<html><body>error</body></html>",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			if got := Sanitize(in); got != want {
				t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	auth := AuthHold("badauth", "wrong password")
	if !IsAuth(auth) || !IsHold(auth) || IsRetryLater(auth) {
		t.Error("AuthHold predicates")
	}
	hold := Hold("nohost", "no such host")
	if IsAuth(hold) || !IsHold(hold) {
		t.Error("Hold predicates")
	}
	later := RetryLater("911", ServerTrouble, "maintenance")
	if IsHold(later) || !IsRetryLater(later) {
		t.Error("RetryLater predicates")
	}
	if tr := Transient("no answer", errors.New("timeout")); IsHold(tr) || !errors.Is(tr, ErrTransient) {
		t.Error("Transient predicates")
	}
	if got := auth.Error(); got != "badauth: wrong password" {
		t.Errorf("Error() = %q", got)
	}
}
