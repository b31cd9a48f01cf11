package providers_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
)

// Every provider's example, as docs/ddns-providers.md shows it, is a config entry that parses into the
// provider's own settings.
func TestExamplesParse(t *testing.T) {
	t.Parallel()
	for _, p := range providers.All() {
		t.Run(p.Config.Name, func(t *testing.T) {
			t.Parallel()
			if p.Example == "" || p.Doc == "" || p.Kind == "" || p.Contract == "" {
				t.Fatalf("%s lacks its example, documentation link, kind or contract: %+v", p.Config.Name, p)
			}
			text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - " + strings.ReplaceAll(p.Example, "\n", "\n    ") + "\n"
			cfg, err := config.Parse("hairpin.yaml", []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if len(cfg.DDNS) != 1 || cfg.DDNS[0].Provider != p.Config.Name || cfg.DDNS[0].Settings == nil {
				t.Fatalf("parsed %+v", cfg.DDNS)
			}
			if got := p.Config.Decode(&keys{given: map[string]bool{}}, cfg.DDNS[0]); reflect.TypeOf(got) != reflect.TypeOf(cfg.DDNS[0].Settings) {
				t.Errorf("settings of type %T, the provider decodes %T", cfg.DDNS[0].Settings, got)
			}
		})
	}
}

// keys records which keys a provider's Decode asks for.
type keys struct {
	given map[string]bool
	asked []string
}

func (k *keys) ask(key string) { k.asked = append(k.asked, key) }

func (k *keys) Given(key string) bool                        { k.ask(key); return k.given[key] }
func (k *keys) String(key string) (string, bool)             { k.ask(key); return "", false }
func (k *keys) Int(key string, _, _ int) (int, bool)         { k.ask(key); return 0, false }
func (k *keys) Bool(key string) (bool, bool)                 { k.ask(key); return false, false }
func (k *keys) OneOf(key string, _ ...string) (string, bool) { k.ask(key); return "", false }
func (k *keys) Map(key string) (map[string]string, bool)     { k.ask(key); return nil, false }
func (k *keys) Errorf(key, _, _ string, _ ...any)            { k.ask(key) }
func (k *keys) Warnf(key, _, _ string, _ ...any)             { k.ask(key) }

var _ ddnsconf.Keys = (*keys)(nil)

// A provider's Decode reads exactly the keys it declares: a declared key it never reads would be accepted and
// ignored, and a key it reads without declaring it would be refused as not applying to it.
func TestDeclaredKeysAreRead(t *testing.T) {
	t.Parallel()
	for _, p := range providers.All() {
		t.Run(p.Config.Name, func(t *testing.T) {
			t.Parallel()
			k := &keys{given: map[string]bool{}}
			for _, fam := range []string{"", "both"} {
				p.Config.Decode(k, provider.Entry{Provider: p.Config.Name, Hostname: "home.example.net", Family: fam})
			}
			for _, key := range p.Config.Keys {
				if !slices.Contains(k.asked, key) {
					t.Errorf("declares %s but never reads it", key)
				}
			}
			for _, key := range k.asked {
				if !slices.Contains(p.Config.Keys, key) {
					t.Errorf("reads %s without declaring it", key)
				}
			}
		})
	}
}

func TestNamesUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, n := range providers.Names() {
		if seen[n] || n != strings.ToLower(n) {
			t.Errorf("provider name %q repeated or not lower case", n)
		}
		seen[n] = true
	}
	if fmt.Sprint(providers.Names()) != fmt.Sprint(namesOf(ddnsconf.All())) {
		t.Errorf("config knows %v, the engine %v", namesOf(ddnsconf.All()), providers.Names())
	}
}

func namesOf(ps []ddnsconf.Provider) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// endpoint: is https, or plain http only to a loopback address, for every API provider that takes it; the
// control is the same URL on loopback, which parses.
func TestEndpointHTTPOnlyToLoopback(t *testing.T) {
	t.Parallel()
	for _, p := range providers.All() {
		if !slices.Contains(p.Config.Keys, "endpoint") {
			continue
		}
		t.Run(p.Config.Name, func(t *testing.T) {
			t.Parallel()
			parse := func(endpoint string) error {
				text := "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - " + strings.ReplaceAll(p.Example, "\n", "\n    ") +
					"\n    endpoint: " + endpoint + "\n"
				_, err := config.Parse("hairpin.yaml", []byte(text))
				return err
			}
			if err := parse("http://dns.example.net/v1"); err == nil || !strings.Contains(err.Error(), "plain http to dns.example.net") {
				t.Errorf("http to another host: %v", err)
			}
			for _, ok := range []string{"http://127.0.0.1:8080/v1", "http://[::1]:8080/v1", "https://dns.example.net/v1"} {
				if err := parse(ok); err != nil {
					t.Errorf("%s: %v", ok, err)
				}
			}
		})
	}
}
