package ddns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// TestServerWaitCapped: Cloudflare answering 429 with Retry-After: 3153600000 (a century) pauses the hostname
// for a day at most.
func TestServerWaitCapped(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3153600000")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"success":false,"errors":[{"code":971,"message":"rate limited"}],"messages":[],"result":null}`)
	}))
	defer srv.Close()
	t.Setenv("HAIRPIN_TEST_CF_TOKEN", "cf-token-0123456789")
	clock := newFakeClock()
	logger, _ := newLogger(t)
	entry := provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", Settings: &cloudflare.Settings{Server: srv.URL + "/client/v4", ZoneID: "0123456789abcdef0123456789abcdef", TokenEnv: "HAIRPIN_TEST_CF_TOKEN", TTL: 60}}
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), testUA, logger, ddns.WithHTTPClient(webtest.ClientOf(srv)), ddns.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := force(t, e, addrA); !errors.Is(err, provider.ErrRetryLater) {
		t.Fatalf("got %v, want a retry-later", err)
	}
	if wait := e.Status()[0].NextRetry.Sub(clock.Now()); wait > 24*time.Hour || wait < time.Hour {
		t.Errorf("waits %s, want at most 24h (and the server's wish beyond the default)", wait)
	}
}

// TestSavedWaitCapped: a state file whose next_retry lies a century ahead (the clock jumped back, or the file
// was edited) is recomputed on load to a day at most.
func TestSavedWaitCapped(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	s.Srv.Queue("dnserr")
	if err := force(t, e, addrA); !errors.Is(err, provider.ErrRetryLater) {
		t.Fatalf("got %v, want a retry-later", err)
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir, "ddns", "*.json"))
	if len(files) != 1 {
		t.Fatalf("state files: %v", files)
	}
	var st map[string]any
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["next_retry"] = s.Clock.Now().AddDate(100, 0, 0).Format(time.RFC3339)
	b, _ = json.Marshal(st)
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	e = s.Engine(t)
	if wait := e.Status()[0].NextRetry.Sub(s.Clock.Now()); wait > 24*time.Hour || wait <= 0 {
		t.Errorf("after loading, waits %s, want at most 24h", wait)
	}
}

// TestNetworkChangeEndsBackoff: a backoff after a network error ends when the network changes (the failure
// was likely the WAN address going away), while a wait the provider asked for does not. The negative
// control: before the change, the same update is refused as waiting.
func TestNetworkChangeEndsBackoff(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		ends         bool
	}{
		{"network error", "ABORT", true},
		{"provider asked to wait", "911", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ddnstest.NewDyndns2Setup(t)
			e := s.Engine(t)
			s.Srv.Queue(tc.answer)
			if err := force(t, e, addrA); err == nil {
				t.Fatal("the first update did not fail")
			}
			if err := e.Update(context.Background()); !errors.Is(err, provider.ErrRetryLater) {
				t.Fatalf("before the network change: %v, want a refusal to send before the wait is over", err)
			}
			if n := len(s.Srv.Requests()); n != 1 {
				t.Fatalf("%d requests during the wait, want 1", n)
			}
			e.NetworkChanged()
			err := e.Update(context.Background())
			if got := len(s.Srv.Requests()) == 2 && err == nil; got != tc.ends {
				t.Errorf("after the network change: %v with %d requests; want the wait ended: %v", err, len(s.Srv.Requests()), tc.ends)
			}
		})
	}
}
