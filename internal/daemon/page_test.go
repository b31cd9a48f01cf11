package daemon

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
)

// The page is small, served with a strict CSP, and loads nothing from anywhere else.
func TestPageServed(t *testing.T) {
	h := start(t, baseConfig, statusObs)
	addr := serve(t, h, "127.0.0.1:0")
	if n := PageSize(); n > 40<<10 {
		t.Errorf("the page is %d bytes, more than 40 KB", n)
	}
	foreign := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|@import|url\(\s*["']?https?:`)
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html"}, {"/page.js", "text/javascript"}, {"/page.css", "text/css"}, {"/favicon.svg", "image/svg+xml"},
	} {
		resp, err := http.Get("http://" + addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s = %d %q CSP %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), csp)
		}
		if m := foreign.Find(body); m != nil {
			t.Errorf("%s loads from elsewhere: %s", tc.path, m)
		}
		if tc.path == "/" && (strings.Contains(string(body), "<script>") || strings.Contains(string(body), "style=")) {
			t.Errorf("the page has inline script or style, which the CSP refuses")
		}
	}
	resp, err := http.Get("http://" + addr + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", resp.StatusCode)
	}
}

// The page's actions are refused without control, without the token, and from another origin even with it;
// the accepted ones do what they say.
func TestPageActionsGuarded(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "control.token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, "daemon: {control: true, status: \"127.0.0.1:9469\", control_token_file: "+tokenFile+"}\n"+baseConfig, statusObs)
	addr := serve(t, h, "127.0.0.1:0")
	readOnly := serve(t, start(t, baseConfig, statusObs), "127.0.0.1:0")
	do := func(addr, path, token, origin string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, addr, path, token, origin string
		want                            int
		body                            string
	}{
		{"read-only listener", readOnly, "/probe", "t0ken-for-tests", "", http.StatusForbidden, "read-only"},
		{"no token", addr, "/probe", "", "", http.StatusUnauthorized, "Authorization: Bearer"},
		{"wrong token", addr, "/ddns/update", "guess", "", http.StatusUnauthorized, "Bearer"},
		{"another origin", addr, "/reload", "t0ken-for-tests", "http://evil.example", http.StatusForbidden, "cross-origin"},
		{"probe without wan.probe", addr, "/probe", "t0ken-for-tests", "http://" + addr, http.StatusConflict, "wan.probe"},
		{"ddns with a fake engine that cannot force", addr, "/ddns/update", "t0ken-for-tests", "", http.StatusConflict, "no dynamic DNS"},
		{"reload from the page itself", addr, "/reload", "t0ken-for-tests", "http://" + addr, http.StatusOK, "reloaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := do(tc.addr, tc.path, tc.token, tc.origin); code != tc.want || !strings.Contains(body, tc.body) {
				t.Errorf("POST %s = %d %q, want %d with %q", tc.path, code, body, tc.want, tc.body)
			}
		})
	}
	if n := reloads(h.d); n != 1 {
		t.Errorf("%d reloads, want the one accepted", n)
	}
}

type forcingDDNS struct {
	*fakeDDNS
	forced atomic.Int32
}

func (f *forcingDDNS) ForceUpdate(context.Context) error { f.forced.Add(1); return nil }

// "Update DNS now" reaches the providers at most once per 30 seconds, however often it is pressed.
func TestPageForceDNSBounded(t *testing.T) {
	engine := &forcingDDNS{fakeDDNS: &fakeDDNS{}}
	h := startWithDeps(t, "daemon: {control: true}\n"+baseConfig, statusObs, netip.Addr{}, &backend.Fake{}, func(d *Deps) {
		d.NewDDNS = func(*config.Config) (DDNS, error) { return engine, nil }
	})
	sock := filepath.Join(t.TempDir(), "s.sock")
	serve(t, h, sock)
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests} {
		if code, body := post(t, sock, "/ddns/update", ""); code != want {
			t.Errorf("press %d: %d %q, want %d", i+1, code, body, want)
		}
	}
	if n := engine.forced.Load(); n != 1 {
		t.Errorf("%d forced updates, want 1", n)
	}
}
