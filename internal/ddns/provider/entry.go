package provider

import (
	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Entry is one ddns entry of the config: the keys every entry has, and in Settings the provider's own, as its
// Decode made them.
type Entry = ddnsconf.Entry

// Keys is an entry's mapping as a provider's Decode reads it.
type Keys = ddnsconf.Keys

// Kinds of provider, as `hairpin ddns providers` lists them.
const (
	KindAPI     = "api"
	KindDyndns2 = "dyndns2"
	KindPreset  = "dyndns2 preset"
	KindRFC2136 = "rfc2136"
	KindCustom  = "custom"
)

// Where a provider's contract comes from, as `hairpin ddns providers` lists it.
const (
	// FromSpec: the vendor's machine-readable specification (OpenAPI, discovery document, Smithy model), a copy
	// of which the provider's test double serves.
	FromSpec = "vendor spec"
	// FromDocs: the vendor's prose documentation only.
	FromDocs = "docs"
	// FromRFC: an IETF standard, tested against real servers.
	FromRFC = "rfc"
)

// Def is one provider: what config checks its entries with, and how the engine builds it.
type Def struct {
	Config ddnsconf.Provider
	// Kind is one of the Kind constants; Contract one of FromSpec, FromDocs, FromRFC; Doc the vendor's page.
	Kind, Contract, Doc string
	// Example is a ddns entry for the provider, as the documentation shows it: YAML keys, one per line.
	Example string
	// Build makes the provider for one entry; Settings hold what the provider's Decode returned.
	Build func(e Entry, env Env) (Provider, error)
}

// Families lists the address families the provider publishes.
func (d Def) Families() []string {
	if d.Config.AAAA {
		return []string{"ipv4", "ipv6"}
	}
	return []string{"ipv4"}
}

// Define completes d, a provider's description, with its decoder and builder, tied through the provider's own
// settings type S: decode turns the entry's keys into an *S, and build gets that *S back, typed, whatever the
// engine held it as in between. Not inlined: each provider's package initialisation would get a copy of it and
// its two closures (~7 KB of the router build over the providers).
//
//go:noinline
func Define[S any](d Def, decode func(k Keys, e Entry) *S, build func(e Entry, s *S, env Env) (Provider, error)) Def {
	name := d.Config.Name
	d.Config.Decode = func(k Keys, e Entry) any { return decode(k, e) }
	d.Build = func(e Entry, env Env) (Provider, error) {
		s, ok := e.Settings.(*S)
		if !ok || s == nil {
			return nil, errfmt.Errorf("provider %s: the entry's settings are %T, not the provider's %T", name, e.Settings, s)
		}
		return build(e, s, env)
	}
	return d
}
