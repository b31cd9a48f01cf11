// Package backends picks the backend a config asks for. It is the one place that compares the backend kind:
// a new backend adds its package (with an Open constructor returning a backend.Driver) and one case here.
package backends

import (
	"log/slog"
	"reflect"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/routeros"
)

// Open returns the driver of cfg's backend. It connects nothing yet; a nil logger discards.
func Open(cfg *config.Config, logger *slog.Logger) (*backend.Driver, error) {
	switch cfg.Backend {
	case config.BackendLinux, "":
		return nft.Open(cfg, logger)
	case config.BackendRouterOS:
		return routeros.Open(cfg, logger)
	}
	return nil, errfmt.Errorf("unknown backend %q", cfg.Backend)
}

// Preview is what `hairpin show` prints for cfg. show prints the nftables rules, its documented output, for
// either backend, planned with the backend's own options; a MikroTik's script is `hairpin export routeros`.
func Preview(cfg *config.Config) backend.Preview {
	p := nft.Preview(cfg)
	if cfg.Backend == config.BackendRouterOS {
		p.PlanOptions = routeros.PlanOptions
	}
	return p
}

// Same reports whether b asks for the backend a opened: the same kind and the same connection (for RouterOS,
// the same router and login). A running daemon keeps the backend it opened, so another one takes a restart.
func Same(a, b *config.Config) bool {
	return a.Backend == b.Backend && reflect.DeepEqual(a.RouterOS, b.RouterOS)
}
