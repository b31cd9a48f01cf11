package ddns

import (
	"net/http"
	"net/url"
	"testing"
)

func TestNoRedirectDowngrade(t *testing.T) {
	c := newHTTPClient()
	req := func(s string) *http.Request { u, _ := url.Parse(s); return &http.Request{URL: u} }
	if err := c.CheckRedirect(req("http://members.example/nic/update"), []*http.Request{req("https://members.example/nic/update")}); err == nil {
		t.Error("a redirect from https to http was followed")
	}
	if err := c.CheckRedirect(req("https://other.example/nic/update"), []*http.Request{req("https://members.example/nic/update")}); err != nil {
		t.Errorf("an https redirect was refused: %v", err)
	}
}

func TestBackoffBounds(t *testing.T) {
	for n := 1; n < 40; n++ {
		hi := min(BackoffBase<<min(n-1, 15), BackoffMax)
		for range 50 {
			if d := backoff(n); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, hi/2, hi)
			}
		}
	}
}
