package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"gopkg.in/yaml.v3"
)

// dnsNameRE is a ddns entry's hostname (compiled at first use: most configs have none).
var dnsNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([a-zA-Z0-9_]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?$`)
})

// ddns reads the ddns list. The keys every entry has are read here; the rest belong to the entry's provider,
// which decodes them into its own settings (ddnsconf.Provider.Decode).
func (d *decoder) ddns(n *yaml.Node, path string) []ddnsconf.Entry {
	var out []ddnsconf.Entry
	registered := ddnsconf.All()
	names := make([]string, len(registered))
	providerKeys := map[string]bool{}
	for i, p := range registered {
		names[i] = p.Name
		for _, k := range p.Keys {
			providerKeys[k] = true
		}
	}
	seen := map[string]int{} // provider+hostname -> index
	for i, item := range d.sequence(n, path) {
		key := fmt.Sprintf("%s[%d]", path, i)
		e := ddnsconf.Entry{Line: item.Line}
		given := map[string]*yaml.Node{}
		fields := map[string]field{
			"provider": func(k string, v *yaml.Node) {
				given["provider"] = v
				if len(names) == 0 {
					d.errorf(v, k, "use a build of hairpin with its DNS providers", "this program has no DNS providers")
					return
				}
				e.Provider, _ = d.oneOf(v, k, names...)
			},
			"hostname": func(k string, v *yaml.Node) { given["hostname"] = v; e.Hostname, _ = d.str(v, k) },
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
		}
		for k := range providerKeys {
			fields[k] = func(_ string, v *yaml.Node) { given[k] = v }
		}
		if !d.mapping(item, key, fields) {
			continue
		}
		if given["provider"] == nil {
			d.errorf(item, key+".provider", "add e.g. `provider: dyndns2`", "required key is missing")
		}
		p, known := ddnsconf.Lookup(e.Provider)
		if given["hostname"] == nil {
			d.errorf(item, key+".hostname", "add e.g. `hostname: home.example.net`", "required key is missing")
		} else {
			d.ddnsHostname(given["hostname"], key+".hostname", e, p.Hostname)
		}
		if known {
			d.ddnsProvider(item, key, &e, p, given, registered)
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

func (d *decoder) ddnsHostname(n *yaml.Node, key string, e ddnsconf.Entry, check func(string) (string, string)) {
	h := e.Hostname
	if check != nil {
		if problem, fix := check(h); problem != "" {
			d.errorf(n, key, fix, "%s", problem)
		}
		return
	}
	if len(h) > 253 || !dnsNameRE().MatchString(h) || !strings.Contains(strings.TrimSuffix(h, "."), ".") {
		d.errorf(n, key, "write a fully qualified name such as home.example.net", "%q is not a fully qualified host name", h)
	}
}

// ddnsProvider checks the entry's family against what the provider publishes, has the provider decode its
// keys, and reports keys that do not apply to it.
func (d *decoder) ddnsProvider(item *yaml.Node, key string, e *ddnsconf.Entry, p ddnsconf.Provider, given map[string]*yaml.Node, all []ddnsconf.Provider) {
	if e.Family != "" && !p.AAAA {
		var aaaa []string
		for _, q := range all {
			if q.AAAA {
				aaaa = append(aaaa, q.Name)
			}
		}
		d.errorf(given["family"], key+".family", "use family: ipv4; hairpin sends AAAA records with "+strings.Join(aaaa, ", "), "provider %s does not publish IPv6 addresses in hairpin", e.Provider)
	}
	if e.Family == "ipv6" && p.AAAA && p.NoIPv6Alone != "" {
		d.errorf(given["family"], key+".family", "use family: both", "provider %s cannot publish the AAAA record alone: "+p.NoIPv6Alone, e.Provider)
	}
	allowed := map[string]bool{"provider": true, "hostname": true, "publish": true, "family": true}
	for _, k := range p.Keys {
		allowed[k] = true
	}
	own := map[string]*yaml.Node{}
	var extra []string
	for k, v := range given {
		if allowed[k] {
			own[k] = v
		} else {
			extra = append(extra, k)
		}
	}
	if p.Decode != nil {
		e.Settings = p.Decode(&entryKeys{d: d, item: item, key: key, given: own}, *e)
	}
	sort.Strings(extra)
	for _, k := range extra {
		d.errorf(given[k], key+"."+k, "remove it", "does not apply to provider %s", e.Provider)
	}
}

// entryKeys is ddnsconf.Keys over one entry's mapping, reporting through the decoder.
type entryKeys struct {
	d     *decoder
	item  *yaml.Node
	key   string
	given map[string]*yaml.Node
}

func (k *entryKeys) Given(key string) bool { return k.given[key] != nil }

func (k *entryKeys) String(key string) (string, bool) {
	if n := k.given[key]; n != nil {
		return k.d.str(n, k.key+"."+key)
	}
	return "", false
}

func (k *entryKeys) Int(key string, min, max int) (int, bool) {
	if n := k.given[key]; n != nil {
		return k.d.integer(n, k.key+"."+key, min, max)
	}
	return 0, false
}

func (k *entryKeys) Bool(key string) (bool, bool) {
	if n := k.given[key]; n != nil {
		return k.d.boolean(n, k.key+"."+key)
	}
	return false, false
}

func (k *entryKeys) OneOf(key string, values ...string) (string, bool) {
	if n := k.given[key]; n != nil {
		return k.d.oneOf(n, k.key+"."+key, values...)
	}
	return "", false
}

func (k *entryKeys) Map(key string) (map[string]string, bool) {
	n := k.given[key]
	if n == nil {
		return nil, false
	}
	path := k.key + "." + key
	if n.Kind != yaml.MappingNode {
		k.d.errorf(n, path, "write it as `Name: value` lines indented under "+key, "expected a mapping, found %s", kindName(n))
		return nil, false
	}
	out := map[string]string{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, v := n.Content[i], k.d.deref(n.Content[i+1])
		s, good := k.d.str(v, path+"."+name.Value)
		if _, dup := out[name.Value]; dup {
			k.d.errorf(name, path+"."+name.Value, "remove one of them", "key appears more than once")
			good = false
		}
		ok = ok && good
		out[name.Value] = s
	}
	return out, ok
}

func (k *entryKeys) at(key string) *yaml.Node {
	if n := k.given[key]; n != nil {
		return n
	}
	return k.item
}

func (k *entryKeys) Errorf(key, hint, format string, args ...any) {
	k.d.errorf(k.at(key), k.key+"."+key, hint, format, args...)
}

func (k *entryKeys) Warnf(key, hint, format string, args ...any) {
	k.d.warnf(k.at(key), k.key+"."+key, hint, format, args...)
}
