// Package backends picks the backend a config asks for. It is the one place that compares the backend kind:
// a new backend adds its package (with an Open constructor returning a backend.Driver) and one case here.
package backends

import (
	"fmt"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
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
	return nil, fmt.Errorf("unknown backend %q", cfg.Backend)
}
