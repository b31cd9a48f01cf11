package ddns_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/duckdns"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/web/webtest"
)

// TestPartialSecretNeverShown: a provider answers "Z"*58 + " " + the secret. Answers are cut to 64
// characters; cutting before scrubbing left the secret's first 5 characters in logs (text and JSON), status
// and the state file. Nothing of 4 characters or more from the start of the secret may appear anywhere.
func TestPartialSecretNeverShown(t *testing.T) {
	const secret = "Qx7pa55-w0rd-that-is-long"
	for _, tc := range []struct {
		provider string
		status   int
		body     string
		entry    func(server, file string) provider.Entry
	}{
		{"dyndns2", 200, strings.Repeat("Z", 58) + " " + secret + "\n", func(server, file string) provider.Entry {
			return provider.Entry{Provider: "dyndns2", Hostname: "home.example.net", Settings: &dyndns2.Settings{Server: server, Username: "me", PasswordFile: file}}
		}},
		{"duckdns", 200, strings.Repeat("Z", 58) + " " + secret + "\n", func(server, file string) provider.Entry {
			return provider.Entry{Provider: "duckdns", Hostname: "myhome.duckdns.org", Settings: &duckdns.Settings{Server: server, TokenFile: file}}
		}},
		{"cloudflare", 400, fmt.Sprintf(`{"success":false,"errors":[{"code":1000,"message":%q}],"messages":[],"result":null}`,
			strings.Repeat("Z", 53)+" "+secret), func(server, file string) provider.Entry {
			return provider.Entry{Provider: "cloudflare", Hostname: "home.example.net", Settings: &cloudflare.Settings{Server: server + "/client/v4", ZoneID: "0123456789abcdef0123456789abcdef", TokenFile: file, TTL: 60}}
		}},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.provider+"/"+format, func(t *testing.T) {
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(tc.status)
					fmt.Fprint(w, tc.body)
				}))
				defer srv.Close()
				var logs bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&logs, nil)
				if format == "json" {
					h = slog.NewJSONHandler(&logs, nil)
				}
				dir := t.TempDir()
				e, err := ddns.New([]provider.Entry{tc.entry(srv.URL, writeSecret(t, secret))}, dir, testUA, slog.New(h),
					ddns.WithHTTPClient(webtest.ClientOf(srv)), ddns.WithClock(newFakeClock()))
				if err != nil {
					t.Fatal(err)
				}
				if err := force(t, e, addrA); err == nil {
					t.Fatal("the update succeeded; want the provider's refusal")
				}
				status, _ := json.Marshal(e.Status())
				places := map[string]string{"log": logs.String(), "status": string(status)}
				files, _ := filepath.Glob(filepath.Join(dir, "ddns", "*.json"))
				if len(files) == 0 {
					t.Fatal("no state file written")
				}
				for _, f := range files {
					b, _ := os.ReadFile(f)
					places["state file"] = string(b)
				}
				if !strings.Contains(string(status), "ZZZZ") {
					t.Errorf("status does not show the answer: %s", status)
				}
				for where, text := range places {
					for k := 4; k <= len(secret); k++ {
						if strings.Contains(text, secret[:k]) {
							t.Errorf("%s holds %q, the first %d characters of the secret:\n%s", where, secret[:k], k, text)
							break
						}
					}
				}
			})
		}
	}
}
