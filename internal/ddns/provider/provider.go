// Package provider is the contract between the dynamic-DNS engine and the provider packages: the Provider
// interface, what a provider is given to build itself, and the typed errors through which a provider tells the
// engine what to do after a failed update (hold, wait, or back off).
//
// It is a separate package so that the engine (internal/ddns) can hold the registration table of providers
// while each provider package (internal/ddns/providers/<name>) still shares these types without an import cycle.
package provider

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// Provider points one hostname at an address.
type Provider interface {
	// Update sends addr for the hostname the provider was built for. answer is the provider's own word for the
	// outcome ("good", "nochg", "NOERROR", "updated"), shown in status. A failure is an *Error whenever the
	// provider can tell why; anything else is treated as transient.
	Update(ctx context.Context, addr netip.Addr) (answer string, err error)
}

// Paired is a Provider whose protocol must carry both addresses of a hostname in one request (dyndns2): an
// address left out is taken by many providers to be the caller's, or to delete its record. For an entry of
// family both the engine calls UpdatePair with the A and the AAAA address (an invalid one: not published now)
// and records the outcome for each family sent.
type Paired interface {
	UpdatePair(ctx context.Context, v4, v6 netip.Addr) (answer string, err error)
}

// Env is what a provider is built with.
type Env struct {
	// HTTP is the client for HTTP providers; it verifies certificates.
	HTTP      *web.Client
	UserAgent string
	Logger    *slog.Logger
	// Dial, if set, opens connections for providers that speak DNS rather than HTTP (rfc2136).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Secret reads a secret from a file or from an environment variable, whichever the config names. The
	// engine remembers every secret read through it so that they can be scrubbed from anything it prints.
	Secret func(file, env string) (string, error)
	// SecretBlock is Secret for a secret that spans lines (a TSIG key clause as tsig-keygen prints it).
	SecretBlock func(file, env string) (string, error)
	// Sensitive, if set, adds a value derived from a secret (say, the base64 key inside a key clause) to what
	// the engine scrubs.
	Sensitive func(value string)
}
