// Package providers lists the dynamic-DNS providers: each is a package beside this file with its settings, its
// Decode and its New (or, for a token or key-and-secret API, a provider.DefineToken row or DefineKey call in
// their place), tied together in its Def, and one line below. Linking this package in hands config the
// providers' decoders (ddnsconf.Register), and the engine builds providers from the same list, so the two
// cannot disagree about which providers exist.
package providers

import (
	"sync"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/azure"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/custom"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/desec"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/digitalocean"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dnsimple"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/duckdns"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/gandi"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/gcloud"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/godaddy"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/hetzner"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/hetznerdns"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/linode"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/namecheap"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/ovh"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/porkbun"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/route53"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/vultr"
)

// All returns every provider, in the order the documentation lists them. The list is built once per process
// (the registration at start and hairpin init's flag help both read it); callers must not change it.
func All() []provider.Def { return all() }

var all = sync.OnceValue(func() []provider.Def {
	list := []provider.Def{
		dyndns2.Def,
		rfc2136.Def,
		cloudflare.Def,
		duckdns.Def,
		custom.Def,
		digitalocean.Def,
		vultr.Def,
		linode.Def,
		hetzner.Def,
		dnsimple.Def,
		route53.Def,
		ovh.Def,
		gcloud.Def,
		azure.Def,
		porkbun.Def,
		godaddy.Def,
		namecheap.Def,
		gandi.Def,
		desec.Def,
		hetznerdns.Def,
	}
	return append(list, dyndns2.Presets()...)
})

func init() {
	for _, p := range All() {
		ddnsconf.Register(p.Config)
	}
}

// Lookup finds a provider by its config name.
func Lookup(name string) (provider.Def, bool) {
	for _, p := range All() {
		if p.Config.Name == name {
			return p, true
		}
	}
	return provider.Def{}, false
}

// Names lists the provider names a ddns entry may use.
func Names() []string {
	var out []string
	for _, p := range All() {
		out = append(out, p.Config.Name)
	}
	return out
}
