// Package providers lists the dynamic-DNS providers: each is a package beside this file with its config
// Schema and its New, and one line below. config checks entries against the schemas and the engine builds
// providers from the same list, so the two cannot disagree about which providers exist.
package providers

import (
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/cloudflare"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/duckdns"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
)

// Provider is one provider's schema and constructor.
type Provider struct {
	Schema provider.Schema
	New    provider.Builder
}

// All returns every provider, in the order the documentation lists them.
func All() []Provider {
	return []Provider{
		{dyndns2.Schema, dyndns2.New},
		{rfc2136.Schema, rfc2136.New},
		{cloudflare.Schema, cloudflare.New},
		{duckdns.Schema, duckdns.New},
	}
}

// Lookup finds a provider by its config name.
func Lookup(name string) (Provider, bool) {
	for _, p := range All() {
		if p.Schema.Name == name {
			return p, true
		}
	}
	return Provider{}, false
}

// Names lists the provider names a ddns entry may use.
func Names() []string {
	var out []string
	for _, p := range All() {
		out = append(out, p.Schema.Name)
	}
	return out
}
