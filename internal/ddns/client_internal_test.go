package ddns

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// TestNoRedirectFollowed: a provider's redirect is its answer, reported as such; following it could send the
// credentials elsewhere, or in clear. The control: the target of the redirect is reachable and never asked.
func TestNoRedirectFollowed(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			followed.Add(1)
			io.WriteString(w, "good")
			return
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	defer srv.Close()
	c := newHTTPClient()
	defer c.CloseIdleConnections()
	for path, want := range map[string]int{"/nic/update": http.StatusFound, "/moved": http.StatusOK} {
		req, _ := web.NewRequest(context.Background(), "GET", srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if n := followed.Load(); n != 1 {
		t.Errorf("/moved asked %d times, want once (by the control)", n)
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
