package ddns_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
)

const cfgHeader = "wan:\n  interface: eth0\nlan:\n  interface: br-lan\nforwards:\n  - {name: web, port: 443, to: 192.168.88.10}\nddns:\n"

// TestConfigDDNS checks the per-provider validation of ddns entries in internal/config/ddns.go.
func TestConfigDDNS(t *testing.T) {
	cases := []struct {
		name  string
		ddns  string
		errs  []string // "key: problem" fragments, in order
		warns []string
	}{
		{name: "the issue's example", ddns: `
  - provider: dyndns2
    server: https://members.dyndns.org
    hostname: home.example.net
    username: me
    password_file: /etc/hairpin/dyndns.secret
  - provider: rfc2136
    server: 192.0.2.53:53
    zone: example.net
    hostname: home.example.net
    tsig_key: hairpin-key
    tsig_algorithm: hmac-sha256
    tsig_secret_file: /etc/hairpin/tsig.secret
    ttl: 60
  - provider: cloudflare
    hostname: home.example.org
    zone_id: 023e105f4ecef8ad9ca31a8372d0c353
    token_env: CF_API_TOKEN
    proxied: false
  - provider: duckdns
    hostname: myhome.duckdns.org
    token_file: /etc/hairpin/duckdns.token`},
		{name: "missing secret and username", ddns: `
  - provider: dyndns2
    hostname: home.example.net`,
			errs: []string{"ddns[0].username: required key is missing", "ddns[0].password_file: the secret is missing"}},
		{name: "file and env", ddns: `
  - {provider: duckdns, hostname: myhome, token_file: /a, token_env: B}`,
			errs: []string{"ddns[0].token_env: token_file and token_env are both given"}},
		{name: "key of another provider", ddns: `
  - {provider: dyndns2, hostname: home.example.net, username: me, password_env: P, tsig_key: k}`,
			errs: []string{"ddns[0].tsig_key: does not apply to provider dyndns2"}},
		{name: "rfc2136 needs server and key", ddns: `
  - {provider: rfc2136, hostname: home.example.net, tsig_secret_env: S, tsig_algorithm: md5}`,
			errs: []string{"ddns[0].server: required key is missing", "ddns[0].tsig_key: required key is missing", `ddns[0].tsig_algorithm: "md5" is not allowed`}},
		{name: "bad hostnames", ddns: `
  - {provider: dyndns2, hostname: home, username: me, password_env: P}
  - {provider: duckdns, hostname: a.b.duckdns.org, token_env: T}`,
			errs: []string{`ddns[0].hostname: "home" is not a fully qualified host name`, `ddns[1].hostname: "a.b.duckdns.org" is not a DuckDNS name`}},
		{name: "duplicate", ddns: `
  - {provider: duckdns, hostname: myhome, token_env: T}
  - {provider: duckdns, hostname: myhome, token_env: T}`,
			errs: []string{"ddns[1].hostname: myhome appears twice for provider duckdns"}},
		{name: "server forms", ddns: `
  - {provider: dyndns2, hostname: home.example.net, username: me, password_env: P, server: "ftp://x"}
  - {provider: rfc2136, hostname: home.example.net, tsig_key: k, tsig_secret_env: S, server: "192.0.2.53:99999"}
  - {provider: cloudflare, hostname: home.example.net, zone_id: z, token_env: T, server: "https://u:p@api.example"}`,
			errs: []string{`ddns[0].server: "ftp://x" is not an http(s) URL`, `ddns[1].server: "192.0.2.53:99999" has a bad port`, "ddns[2].server: the URL must not carry credentials"}},
		{name: "plain http warns", ddns: `
  - {provider: dyndns2, hostname: home.example.net, username: me, password_env: P, server: "http://192.0.2.80"}`,
			warns: []string{"ddns[0].server: plain http sends the credentials unencrypted"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("hairpin.yaml", []byte(cfgHeader+strings.TrimPrefix(c.ddns, "\n")+"\n"))
			var errs config.Errors
			if err != nil && !errors.As(err, &errs) {
				t.Fatal(err)
			}
			var ddnsErrs []config.Issue
			for _, is := range errs {
				if strings.HasPrefix(is.Key, "ddns") {
					ddnsErrs = append(ddnsErrs, is)
				}
			}
			if len(ddnsErrs) != len(c.errs) || len(errs) != len(ddnsErrs) {
				t.Fatalf("errors:\n%v\nwant %d ddns errors: %q", err, len(c.errs), c.errs)
			}
			for i, want := range c.errs {
				if got := ddnsErrs[i].Key + ": " + ddnsErrs[i].Problem; !strings.HasPrefix(got, want) {
					t.Errorf("error %d = %q, want %q", i, got, want)
				}
			}
			if cfg == nil {
				return
			}
			var warns []string
			for _, w := range cfg.Warnings {
				if strings.HasPrefix(w.Key, "ddns") {
					warns = append(warns, w.Key+": "+w.Problem)
				}
			}
			if strings.Join(warns, "\n") != strings.Join(c.warns, "\n") {
				t.Errorf("warnings = %q, want %q", warns, c.warns)
			}
			if c.name == "the issue's example" {
				rfc, _ := cfg.DDNS[1].Settings.(*rfc2136.Settings)
				cf, _ := cfg.DDNS[2].Settings.(*cloudflare.Settings)
				if len(cfg.DDNS) != 4 || rfc == nil || cf == nil || rfc.TTL != 60 || rfc.TSIGAlgorithm != "hmac-sha256" || rfc.TSIGKey != "hairpin-key" || cf.TokenEnv != "CF_API_TOKEN" {
					t.Errorf("parsed %+v", cfg.DDNS)
				}
			}
		})
	}
}
