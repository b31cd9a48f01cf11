package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// DDNS is one dynamic-DNS hostname to keep on the public address. Which keys apply depends on Provider; the
// provider packages in internal/ddns/providers check the combination.
type DDNS struct {
	Provider string
	Hostname string
	Server   string // dyndns2: base URL; rfc2136: host:port
	Username string
	// Secrets are never held in the config itself: a file or an environment variable names them.
	PasswordFile string
	PasswordEnv  string
	TokenFile    string
	TokenEnv     string
	// rfc2136
	Zone           string
	TSIGKey        string
	TSIGAlgorithm  string
	TSIGSecretFile string
	TSIGSecretEnv  string
	TTL            int
	// cloudflare
	ZoneID  string
	Proxied bool
	Line    int
}

// DDNSProviders lists the provider names a ddns entry may use.
var DDNSProviders = []string{"dyndns2", "rfc2136", "cloudflare", "duckdns"}

func (d *decoder) ddns(n *yaml.Node, path string) []DDNS {
	var out []DDNS
	for i, item := range d.sequence(n, path) {
		key := fmt.Sprintf("%s[%d]", path, i)
		e := DDNS{Line: item.Line, TTL: 60}
		str := func(dst *string) field { return func(k string, v *yaml.Node) { *dst, _ = d.str(v, k) } }
		var hasProvider, hasHost bool
		if !d.mapping(item, key, map[string]field{
			"provider": func(k string, v *yaml.Node) {
				hasProvider = true
				e.Provider, _ = d.oneOf(v, k, DDNSProviders...)
			},
			"hostname":         func(k string, v *yaml.Node) { hasHost = true; e.Hostname, _ = d.str(v, k) },
			"server":           str(&e.Server),
			"username":         str(&e.Username),
			"password_file":    str(&e.PasswordFile),
			"password_env":     str(&e.PasswordEnv),
			"token_file":       str(&e.TokenFile),
			"token_env":        str(&e.TokenEnv),
			"zone":             str(&e.Zone),
			"tsig_key":         str(&e.TSIGKey),
			"tsig_algorithm":   str(&e.TSIGAlgorithm),
			"tsig_secret_file": str(&e.TSIGSecretFile),
			"tsig_secret_env":  str(&e.TSIGSecretEnv),
			"zone_id":          str(&e.ZoneID),
			"ttl":              func(k string, v *yaml.Node) { e.TTL, _ = d.integer(v, k, 1, 86400) },
			"proxied":          func(k string, v *yaml.Node) { e.Proxied, _ = d.boolean(v, k) },
		}) {
			continue
		}
		if !hasProvider {
			d.errorf(item, key+".provider", "add e.g. `provider: dyndns2`", "required key is missing")
		}
		if !hasHost {
			d.errorf(item, key+".hostname", "add e.g. `hostname: home.example.net`", "required key is missing")
		}
		out = append(out, e)
	}
	return out
}
