package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
)

// TestDDNSUpdate runs `hairpin ddns update` against a dyndns2 test server (plain http, which the config
// allows with a warning): a first update, a no-op, a forced one, and an answer for another address than the one
// sent, shown as a warning.
func TestDDNSUpdate(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Query().Get("myip")+" "+r.UserAgent())
		if u, p, _ := r.BasicAuth(); u != "me" || p != "pw-cli-test" {
			fmt.Fprintln(w, "badauth")
			return
		}
		if ip := r.URL.Query().Get("myip"); ip == "203.0.113.12" {
			fmt.Fprintln(w, "good 192.0.2.99") // the provider took another address than the one sent
			return
		}
		if len(got) > 1 {
			fmt.Fprintln(w, "nochg "+r.URL.Query().Get("myip"))
			return
		}
		fmt.Fprintln(w, "good "+r.URL.Query().Get("myip"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	os.WriteFile(secret, []byte("pw-cli-test\n"), 0o600)
	cfg := filepath.Join(dir, "hairpin.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
wan:
  interface: eth0
lan:
  interface: br-lan
forwards:
  - {name: web, port: 443, to: 192.168.88.10}
ddns:
  - {provider: dyndns2, server: %q, hostname: home.example.net, username: me, password_file: %s}
`, filepath.Join(dir, "state"), srv.URL, secret)), 0o600)

	steps := []struct {
		args     []string
		code     int
		requests int
		out      string
	}{
		{[]string{"--address", "203.0.113.10"}, 0, 1, `good 203.0.113.10  ok`},
		{[]string{"--address", "203.0.113.10"}, 0, 1, `good 203.0.113.10  ok`},
		{[]string{"--address", "203.0.113.10", "--force"}, 0, 2, `nochg 203.0.113.10  ok`},
		{[]string{"--address", "203.0.113.12"}, 0, 3, `WARNING: the provider holds 192.0.2.99 for the hostname, not the 203.0.113.12 sent`},
		{[]string{"--address", "not-an-ip"}, 2, 3, ``},
	}
	for i, st := range steps {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), "test", append([]string{"ddns", "update", "-c", cfg}, st.args...), &stdout, &stderr)
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if code != st.code || n != st.requests || !strings.Contains(stdout.String(), st.out) {
			t.Fatalf("step %d: exit %d, %d requests, stdout %q, stderr %q", i, code, n, stdout.String(), stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), "pw-cli-test") {
			t.Fatalf("step %d printed the password", i)
		}
	}
	if want := "203.0.113.10 hairpin/test github.com/hairpin-nat/hairpin"; got[0] != want {
		t.Errorf("request = %q, want %q", got[0], want)
	}
}

// TestDDNSProviders: `hairpin ddns providers`, as the README and docs/ddns-providers.md tell users to type,
// lists every provider, one line each, with its kind, families and contract.
func TestDDNSProviders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), "test", []string{"ddns", "providers"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(providers.All())+1 || !strings.HasPrefix(lines[0], "PROVIDER") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	for i, p := range providers.All() {
		f := strings.Fields(lines[i+1])
		if f[0] != p.Config.Name || !strings.Contains(lines[i+1], p.Contract) || !strings.Contains(lines[i+1], strings.Join(p.Families(), ",")) {
			t.Errorf("line %q for %s", lines[i+1], p.Config.Name)
		}
	}
}
