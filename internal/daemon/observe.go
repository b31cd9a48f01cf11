package daemon

import (
	"context"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// LinuxObserver follows the WAN and LAN interfaces through netlink (wan.Watch) and turns each snapshot into
// an Observation.
func LinuxObserver(opts wan.WatchOptions) Observer {
	return func(ctx context.Context, cfg *config.Config) (<-chan Observation, error) {
		names := []string{cfg.WAN.Interface}
		if cfg.LAN.Interface != "" {
			names = append(names, cfg.LAN.Interface)
		}
		snaps, err := wan.Watch(ctx, names, opts)
		if err != nil {
			return nil, err
		}
		out := make(chan Observation, 1)
		go func() {
			defer close(out)
			for snap := range snaps {
				w, l := snap[cfg.WAN.Interface], snap[cfg.LAN.Interface]
				obs := Observation{WANExists: w.Exists, WANAddrs: w.Addrs, LANNets: l.Nets}
				select {
				case out <- obs:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
}
