package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
)

// Every key a provider's schema names is one the config decodes, and an entry with all of them parses: the
// providers' schemas and the config cannot drift apart.
func TestEveryProviderSchemaParses(t *testing.T) {
	sample := map[string]string{
		"username": "u", "zone_id": "0123abcd", "tsig_key": "hairpin", "zone": "example.net", "ttl": "60", "proxied": "false",
	}
	for _, p := range providers.All() {
		s := p.Schema
		t.Run(s.Name, func(t *testing.T) {
			host := "home.example.net"
			if s.Hostname != nil {
				host = "home"
			}
			fields := []string{"provider: " + s.Name, "hostname: " + host}
			keys := append(append([]string(nil), s.Required...), s.Optional...)
			if len(s.AAAARequired) > 0 {
				fields = append(fields, "family: both")
				keys = append(keys, s.AAAARequired...)
			}
			for _, k := range keys {
				v, ok := sample[k]
				switch {
				case k == "server" && s.HTTPServer:
					v = "https://ddns.example.net"
				case k == "server":
					v = "192.0.2.53"
				case len(s.Values[k]) > 0:
					v = s.Values[k][0]
				case !ok:
					t.Fatalf("no sample value for key %s of provider %s: add one to this test", k, s.Name)
				}
				fields = append(fields, k+": "+v)
			}
			for _, pair := range s.Secrets {
				fields = append(fields, pair[1]+": HAIRPIN_TEST_SECRET")
			}
			text := fmt.Sprintf("wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - {%s}\n", strings.Join(fields, ", "))
			cfg, err := Parse("hairpin.yaml", []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if len(cfg.DDNS) != 1 || cfg.DDNS[0].Provider != s.Name {
				t.Errorf("ddns = %+v", cfg.DDNS)
			}
		})
	}
}
