package main

import (
	"context"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/routeros"
)

type backendT = backend.Backend

// routerosDaemon drives a MikroTik: its REST API is the datapath, and polling /ip/address (and /ip/cloud)
// replaces netlink events.
func routerosDaemon(cfg *config.Config, logger *slog.Logger) (backendT, daemon.Observer, error) {
	b, err := routeros.FromConfig(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	observe := func(ctx context.Context, cfg *config.Config) (<-chan daemon.Observation, error) {
		in := b.Poll(ctx, cfg.RouterOS.PollInterval, func(err error) { logger.Warn("polling the router failed", "error", err) })
		out := make(chan daemon.Observation, 1)
		go func() {
			defer close(out)
			for o := range in {
				select {
				case out <- daemon.Observation{WANExists: true, WANAddrs: o.WANAddrs, LANNets: o.LANNets, Public: o.Public}:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
	return b, observe, nil
}
