package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
	"gopkg.in/yaml.v3"
)

var dnsNameRE = regexp.MustCompile(`^([a-zA-Z0-9_]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?$`)

func (d *decoder) ddns(n *yaml.Node, path string) []provider.Entry {
	var out []provider.Entry
	seen := map[string]int{} // provider+hostname -> index
	for i, item := range d.sequence(n, path) {
		key := fmt.Sprintf("%s[%d]", path, i)
		e := provider.Entry{Line: item.Line, TTL: 60, TSIGAlgorithm: rfc2136.DefaultAlgorithm}
		given := map[string]*yaml.Node{}
		str := func(dst *string) field {
			return func(k string, v *yaml.Node) { given[lastKey(k)] = v; *dst, _ = d.str(v, k) }
		}
		if !d.mapping(item, key, map[string]field{
			"provider": func(k string, v *yaml.Node) {
				given["provider"] = v
				e.Provider, _ = d.oneOf(v, k, providers.Names()...)
			},
			"hostname":         str(&e.Hostname),
			"server":           str(&e.Server),
			"username":         str(&e.Username),
			"password_file":    str(&e.PasswordFile),
			"password_env":     str(&e.PasswordEnv),
			"token_file":       str(&e.TokenFile),
			"token_env":        str(&e.TokenEnv),
			"zone":             str(&e.Zone),
			"tsig_key":         str(&e.TSIGKey),
			"tsig_secret_file": str(&e.TSIGSecretFile),
			"tsig_secret_env":  str(&e.TSIGSecretEnv),
			"zone_id":          str(&e.ZoneID),
			"ipv6_param":       str(&e.IPv6Param),
			"tsig_algorithm":   str(&e.TSIGAlgorithm),
			"ttl":              func(k string, v *yaml.Node) { given["ttl"] = v; e.TTL, _ = d.integer(v, k, 1, 86400) },
			"proxied":          func(k string, v *yaml.Node) { given["proxied"] = v; e.Proxied, _ = d.boolean(v, k) },
			"family": func(k string, v *yaml.Node) {
				given["family"] = v
				if s, ok := d.oneOf(v, k, "ipv4", "ipv6", "both"); ok && s != "ipv4" {
					e.Family = s // ipv4 stays empty: the default, and the config hash of older state
				}
			},
			"publish": func(k string, v *yaml.Node) {
				given["publish"] = v
				s, _ := d.oneOf(v, k, "auto", "always")
				e.PublishAlways = s == "always"
			},
		}) {
			continue
		}
		if given["provider"] == nil {
			d.errorf(item, key+".provider", "add e.g. `provider: dyndns2`", "required key is missing")
		}
		p, known := providers.Lookup(e.Provider)
		if given["hostname"] == nil {
			d.errorf(item, key+".hostname", "add e.g. `hostname: home.example.net`", "required key is missing")
		} else {
			d.ddnsHostname(given["hostname"], key+".hostname", e, p.Schema.Hostname)
		}
		if known {
			d.ddnsSchema(item, key, e, p.Schema, given)
		}
		if e.Provider != "" && e.Hostname != "" {
			id := e.Provider + " " + strings.ToLower(strings.TrimSuffix(e.Hostname, "."))
			if j, dup := seen[id]; dup {
				d.errorf(given["hostname"], key+".hostname", fmt.Sprintf("remove one; %s[%d] has it already", path, j),
					"%s appears twice for provider %s", e.Hostname, e.Provider)
			}
			seen[id] = i
		}
		out = append(out, e)
	}
	return out
}

func lastKey(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[i+1:]
	}
	return k
}

func (d *decoder) ddnsHostname(n *yaml.Node, key string, e provider.Entry, check func(string) (string, string)) {
	h := e.Hostname
	if check != nil {
		if problem, fix := check(h); problem != "" {
			d.errorf(n, key, fix, "%s", problem)
		}
		return
	}
	if len(h) > 253 || !dnsNameRE.MatchString(h) || !strings.Contains(strings.TrimSuffix(h, "."), ".") {
		d.errorf(n, key, "write a fully qualified name such as home.example.net", "%q is not a fully qualified host name", h)
	}
}

// aaaaProviders names the providers that publish IPv6 addresses, for an error's fix.
func aaaaProviders() string {
	var names []string
	for _, p := range providers.All() {
		if p.Schema.AAAA {
			names = append(names, p.Schema.Name)
		}
	}
	return strings.Join(names, ", ")
}

// ddnsSchema reports keys that do not apply to the provider, missing required keys and secrets, values
// outside the provider's lists, and checks the server's form.
func (d *decoder) ddnsSchema(item *yaml.Node, key string, e provider.Entry, rule provider.Schema, given map[string]*yaml.Node) {
	allowed := map[string]bool{"provider": true, "hostname": true, "publish": true, "family": true}
	if e.Family != "" && !rule.AAAA {
		d.errorf(given["family"], key+".family", "use family: ipv4; hairpin sends AAAA records with "+aaaaProviders(), "provider %s does not publish IPv6 addresses in hairpin", e.Provider)
	}
	if e.Family == "ipv6" && rule.AAAA && rule.NoIPv6Alone != "" {
		d.errorf(given["family"], key+".family", "use family: both", "provider %s cannot publish the AAAA record alone: "+rule.NoIPv6Alone, e.Provider)
	}
	for _, k := range rule.AAAARequired {
		allowed[k] = true
		if e.Family != "" && rule.AAAA && given[k] == nil {
			d.errorf(item, key+"."+k, "add "+k+": "+strings.Join(rule.Values[k], " or ")+", as the provider documents it",
				"required key is missing: provider %s needs it to publish the AAAA record", e.Provider)
		}
	}
	for _, k := range rule.Required {
		allowed[k] = true
		if given[k] == nil {
			d.errorf(item, key+"."+k, "provider "+e.Provider+" needs it", "required key is missing")
		}
	}
	for _, k := range rule.Optional {
		allowed[k] = true
	}
	for _, pair := range rule.Secrets {
		allowed[pair[0]], allowed[pair[1]] = true, true
		switch {
		case given[pair[0]] == nil && given[pair[1]] == nil:
			d.errorf(item, key+"."+pair[0], fmt.Sprintf("name a file with %s (mode 600) or an environment variable with %s", pair[0], pair[1]), "the secret is missing")
		case given[pair[0]] != nil && given[pair[1]] != nil:
			d.errorf(given[pair[1]], key+"."+pair[1], "keep one of them", "%s and %s are both given", pair[0], pair[1])
		}
	}
	var extra []string
	for k := range given {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		d.errorf(given[k], key+"."+k, "remove it", "does not apply to provider %s", e.Provider)
	}
	for k, values := range rule.Values {
		if n := given[k]; n != nil && allowed[k] {
			d.oneOf(n, key+"."+k, values...)
		}
	}
	if n := given["server"]; n != nil && e.Server != "" {
		if rule.HTTPServer {
			d.ddnsURL(n, key+".server", e.Server)
		} else if err := checkHostPort(e.Server); err != nil {
			d.errorf(n, key+".server", "write the server as host or host:port, e.g. 192.0.2.53:53", "%v", err)
		}
	}
}

func (d *decoder) ddnsURL(n *yaml.Node, key, s string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		d.errorf(n, key, "write a URL such as https://members.dyndns.org", "%q is not an http(s) URL", s)
		return
	}
	if u.User != nil {
		d.errorf(n, key, "use username and password_file instead", "the URL must not carry credentials")
		return
	}
	if u.Scheme == "http" {
		d.warnf(n, key, "use https unless the server is on a network you trust", "plain http sends the credentials unencrypted")
	}
}

func checkHostPort(s string) error {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		host = h
		var p int
		if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 1 || p > 65535 || fmt.Sprint(p) != port {
			return fmt.Errorf("%q has a bad port", s)
		}
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("%q is not a host or host:port", s)
	}
	return nil
}
