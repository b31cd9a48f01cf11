package providers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
)

// Every API provider takes endpoint: an https URL, or plain http to a loopback address only; plain http to
// anywhere else is refused with the key's line and the fix, since the credentials travel with every request.
func TestEndpointOverride(t *testing.T) {
	t.Parallel()
	for _, p := range providers.All() {
		if !slices.Contains(p.Config.Keys, "endpoint") {
			continue
		}
		t.Run(p.Config.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				url, err string
			}{
				{"https://dns.example.net/api", ""},
				{"http://127.0.0.1:8053/api", ""},
				{"http://[::1]:8053", ""},
				{"http://192.0.2.53/api", "plain http to 192.0.2.53 would send the credentials unencrypted"},
				{"ftp://dns.example.net", "is not an https URL"},
				{"https://user:pw@dns.example.net", "must not carry credentials"},
			} {
				text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - " + strings.ReplaceAll(p.Example, "\n", "\n    ") +
					"\n    endpoint: '" + c.url + "'\n"
				_, err := config.Parse("hairpin.yaml", []byte(text))
				switch {
				case c.err == "" && err != nil:
					t.Errorf("%s refused: %v", c.url, err)
				case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), ".endpoint")):
					t.Errorf("%s: err = %v, want %q on the endpoint key", c.url, err, c.err)
				}
			}
		})
	}
}
