package cloudflare_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// cloudflareServer follows Cloudflare API v4 (developers.cloudflare.com/api, "DNS Records for a Zone"):
// GET /zones/{zone_id}/dns_records?type=A&name=... lists records, POST /zones/{zone_id}/dns_records creates
// one, PATCH or PUT /zones/{zone_id}/dns_records/{id} changes one. Requests carry "Authorization: Bearer
// TOKEN"; every answer is the envelope {success, errors: [{code, message}], messages, result}. A bad token
// gets 403 with code 10000 "Authentication error"; an unknown zone 400 with code 7003. A test may set fail to
// answer every request with a given status and error code.
type cloudflareServer struct {
	*httptest.Server
	zone, token string

	mu         sync.Mutex
	records    map[string]cfRecord // by id
	nextID     int
	writes     []string // "PATCH name content", "POST name content"
	uas        []string
	fail       int // HTTP status to answer everything with; 0: behave
	failCode   int
	retryAfter string
}

type cfRecord struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     int    `json:"ttl"`
	Proxied bool   `json:"proxied"`
}

func newCloudflareServer(t *testing.T, zone, token string) *cloudflareServer {
	s := &cloudflareServer{zone: zone, token: token, records: map[string]cfRecord{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func cfReply(w http.ResponseWriter, status int, result any, errs ...map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if errs == nil {
		errs = []map[string]any{}
	}
	json.NewEncoder(w).Encode(map[string]any{"success": status/100 == 2, "errors": errs, "messages": []any{}, "result": result})
}

func (s *cloudflareServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uas = append(s.uas, r.UserAgent())
	if s.fail != 0 {
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		cfReply(w, s.fail, nil, map[string]any{"code": s.failCode, "message": "failure"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		cfReply(w, http.StatusForbidden, nil, map[string]any{"code": 10000, "message": "Authentication error"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/client/v4/zones/"+s.zone+"/dns_records")
	if !ok {
		cfReply(w, http.StatusBadRequest, nil, map[string]any{"code": 7003, "message": "Could not route to /zones/..., perhaps your object identifier is invalid?"})
		return
	}
	id := strings.TrimPrefix(rest, "/")
	switch {
	case r.Method == http.MethodGet && id == "":
		q := r.URL.Query()
		out := []cfRecord{}
		for _, rec := range s.records {
			if rec.Type == q.Get("type") && rec.Name == q.Get("name") {
				out = append(out, rec)
			}
		}
		cfReply(w, http.StatusOK, out)
	case r.Method == http.MethodPost && id == "":
		var rec cfRecord
		if json.NewDecoder(r.Body).Decode(&rec) != nil {
			cfReply(w, http.StatusBadRequest, nil, map[string]any{"code": 9207, "message": "Request body is invalid."})
			return
		}
		s.nextID++
		rec.ID = fmt.Sprintf("rec%d", s.nextID)
		s.records[rec.ID] = rec
		s.writes = append(s.writes, "POST "+rec.Name+" "+rec.Content)
		cfReply(w, http.StatusOK, rec)
	case (r.Method == http.MethodPatch || r.Method == http.MethodPut) && id != "":
		old, ok := s.records[id]
		if !ok {
			cfReply(w, http.StatusNotFound, nil, map[string]any{"code": 81044, "message": "Record does not exist."})
			return
		}
		var rec cfRecord
		if json.NewDecoder(r.Body).Decode(&rec) != nil {
			cfReply(w, http.StatusBadRequest, nil, map[string]any{"code": 9207, "message": "Request body is invalid."})
			return
		}
		rec.ID = old.ID
		s.records[id] = rec
		s.writes = append(s.writes, r.Method+" "+rec.Name+" "+rec.Content)
		cfReply(w, http.StatusOK, rec)
	default:
		cfReply(w, http.StatusMethodNotAllowed, nil, map[string]any{"code": 10405, "message": "Method not allowed"})
	}
}

func (s *cloudflareServer) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

const (
	cfZone  = "023e105f4ecef8ad9ca31a8372d0c353"
	cfToken = "cf-Token-0123456789abcdef"
)

func newCloudflareEngine(t *testing.T, srv *cloudflareServer, token, zone string) (*ddns.Engine, *ddnstest.FakeClock) {
	t.Helper()
	t.Setenv("HAIRPIN_TEST_CF_TOKEN", token)
	logger, lb := ddnstest.NewLogger(t)
	clock := ddnstest.NewFakeClock()
	entry := provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", Settings: &cloudflare.Settings{Server: srv.URL + "/client/v4", ZoneID: zone, TokenEnv: "HAIRPIN_TEST_CF_TOKEN", TTL: 60}}
	e, err := ddns.New([]provider.Entry{entry}, t.TempDir(), ddnstest.UserAgent, logger, ddns.WithHTTPClient(webtest.ClientOf(srv)), ddns.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddnstest.AssertNoSecret(t, lb, e, token) })
	return e, clock
}

// TestCloudflareCreatesThenPatches: the first update creates the record, a change patches it, an unchanged
// address (forced) writes nothing.
func TestCloudflareCreatesThenPatches(t *testing.T) {
	srv := newCloudflareServer(t, cfZone, cfToken)
	e, _ := newCloudflareEngine(t, srv, cfToken, cfZone)
	steps := []struct {
		addr   string
		answer string
		writes int
	}{
		{addrA.String(), "created", 1},
		{addrB.String(), "updated", 2},
		{addrB.String(), "unchanged", 2},
	}
	for _, st := range steps {
		if err := ddnstest.Force(t, e, netip.MustParseAddr(st.addr)); err != nil {
			t.Fatal(err)
		}
		if got := e.Status()[0].Answer; got != st.answer {
			t.Errorf("answer for %s = %q, want %q", st.addr, got, st.answer)
		}
		if got := len(srv.Writes()); got != st.writes {
			t.Errorf("after %s: %d writes, want %d (%v)", st.addr, got, st.writes, srv.Writes())
		}
	}
	want := []string{"POST home.example.net 203.0.113.10", "PATCH home.example.net 203.0.113.11"}
	if got := srv.Writes(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("writes = %v, want %v", got, want)
	}
	for _, ua := range srv.uas {
		if ua != ddnstest.UserAgent {
			t.Errorf("User-Agent %q, want %q", ua, ddnstest.UserAgent)
		}
	}
}

func TestCloudflareFailures(t *testing.T) {
	cases := []struct {
		name       string
		token      string
		zone       string
		fail, code int
		retryAfter string
		check      func(error) bool
		wait       time.Duration
	}{
		{name: "bad token", token: "wrong-token-xyz", zone: cfZone, check: provider.IsAuth},
		{name: "unknown zone", token: cfToken, zone: "0000", check: func(err error) bool { return provider.IsHold(err) && !provider.IsAuth(err) }},
		{name: "401", token: cfToken, zone: cfZone, fail: 401, code: 9109, check: provider.IsAuth},
		{name: "429 with Retry-After", token: cfToken, zone: cfZone, fail: 429, code: 971, retryAfter: "7200",
			check: func(err error) bool { return errors.Is(err, provider.ErrRetryLater) }, wait: 2 * time.Hour},
		{name: "503", token: cfToken, zone: cfZone, fail: 503, code: 0,
			check: func(err error) bool { return errors.Is(err, provider.ErrRetryLater) }, wait: 30 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newCloudflareServer(t, cfZone, cfToken)
			srv.fail, srv.failCode, srv.retryAfter = c.fail, c.code, c.retryAfter
			e, clock := newCloudflareEngine(t, srv, c.token, c.zone)
			err := ddnstest.Force(t, e, addrA)
			if !c.check(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			st := e.Status()[0]
			if c.wait != 0 && st.NextRetry.Sub(clock.Now()) != c.wait {
				t.Errorf("next retry in %v, want %v", st.NextRetry.Sub(clock.Now()), c.wait)
			}
			if len(srv.Writes()) != 0 {
				t.Errorf("writes = %v", srv.Writes())
			}
		})
	}
}

var (
	addrA = netip.MustParseAddr("203.0.113.10")
	addrB = netip.MustParseAddr("203.0.113.11")
)
