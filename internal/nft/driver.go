package nft

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// errNeedRoot is what every kernel call of a user without root returns, before trying.
var errNeedRoot = errors.New("changing nftables needs root (run with sudo, or use `hairpin show` to see the rules)")

// Open is the Linux backend for a config: nftables on this machine, its interfaces observed through netlink.
func Open(cfg *config.Config, logger *slog.Logger) (*backend.Driver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := New()
	if err != nil {
		return nil, err
	}
	return &backend.Driver{
		Backend: b,
		Observe: func(context.Context) (plan.Observed, error) {
			obs, _, err := Observe(cfg, false)
			return obs, err
		},
		Watch:   watcher(wan.WatchOptions{Logger: logger}),
		Doctor:  func(ctx context.Context) []doctor.Finding { return b.doctor(ctx, cfg) },
		Removed: func() string { return "removed table ip " + Table },
	}, nil
}

// Preview is the Linux backend's part of `hairpin show`: the interfaces read leniently, and the nftables
// script of the plan.
func Preview(cfg *config.Config) backend.Preview {
	return backend.Preview{
		Observe: func() (plan.Observed, []string) {
			obs, notes, _ := Observe(cfg, true)
			return obs, notes
		},
		Render: Render,
	}
}

var (
	_ backend.Installer     = (*Backend)(nil)
	_ backend.Blocker       = (*Backend)(nil)
	_ backend.Local         = (*Backend)(nil)
	_ backend.ChangeChecker = (*Backend)(nil)
)

// DetectDSLite implements backend.Local: the router is this machine.
func (b *Backend) DetectDSLite() (bool, string, error) { return reach.DetectDSLite() }

// CanChange implements backend.ChangeChecker: changing nftables needs root.
func (b *Backend) CanChange() error {
	if !isRoot() {
		return errNeedRoot
	}
	return nil
}

// Observe reads the interfaces named in the config once. A missing interface is an error, unless lenient:
// then it is left out and described in a note (hairpin show prints the rules anyway).
func Observe(cfg *config.Config, lenient bool) (plan.Observed, []string, error) {
	var obs plan.Observed
	var notes []string
	ipv6 := cfg.HasIPv6()
	w, err := wan.State(cfg.WAN.Interface, ipv6)
	switch {
	case err == nil:
		obs.WANExists, obs.WANAddrs, obs.WAN6 = true, w.Addrs, wan.Addrs6(w.Addrs6)
	case lenient:
		notes = append(notes, "WAN "+err.Error())
	default:
		return obs, nil, errfmt.Errorf("WAN %w", err)
	}
	if cfg.LAN.Interface != "" && (len(cfg.LAN.Subnets) == 0 || ipv6 || cfg.HA != nil) {
		l, err := wan.State(cfg.LAN.Interface, ipv6)
		switch {
		case err == nil:
			obs.LAN6, obs.LANAddrs = l.Addrs6, l.Addrs
			if len(cfg.LAN.Subnets) == 0 {
				obs.LANNets = l.Nets
			}
		case lenient:
			notes = append(notes, "LAN "+err.Error())
		default:
			return obs, nil, errfmt.Errorf("LAN %w", err)
		}
	}
	return obs, notes, nil
}

// watcher follows the WAN and LAN interfaces through netlink (wan.Watch) and turns each snapshot into an
// observation.
func watcher(opts wan.WatchOptions) func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error) {
	return func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error) {
		names := []string{cfg.WAN.Interface}
		if cfg.LAN.Interface != "" {
			names = append(names, cfg.LAN.Interface)
		}
		opts := opts
		opts.IPv6 = cfg.HasIPv6()
		snaps, err := wan.Watch(ctx, names, opts)
		if err != nil {
			return nil, err
		}
		out := make(chan plan.Observed, 1)
		go func() {
			defer close(out)
			for snap := range snaps {
				w, l := snap[cfg.WAN.Interface], snap[cfg.LAN.Interface]
				obs := plan.Observed{WANExists: w.Exists, WANAddrs: w.Addrs, LANNets: l.Nets, LANAddrs: l.Addrs, WAN6: wan.Addrs6(w.Addrs6), LAN6: l.Addrs6}
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

func isRoot() bool { return os.Geteuid() == 0 }
