package routeros

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// PlanOptions is what the RouterOS backend cannot do that changes the plan: following the LAN prefix for a
// to6 named by its interface identifier would take a script on the router.
var PlanOptions = plan.Options{NoIIDTargets: true}

var _ backend.RequestCounter = (*Backend)(nil)

// Open is the RouterOS backend for a config: the REST API is the datapath, and polling /ip/address (and
// /ip/cloud) every routeros.poll_interval replaces netlink events. Nothing is sent until the first call.
func Open(cfg *config.Config, logger *slog.Logger) (*backend.Driver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := fromConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	url := cfg.RouterOS.URL
	return &backend.Driver{
		Backend: b,
		Observe: b.Observe,
		Watch: func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error) {
			return b.poll(ctx, cfg.RouterOS.PollInterval, func(err error) { logger.Warn("polling the router failed", "error", err) }), nil
		},
		Doctor:      func(ctx context.Context) []doctor.Finding { return b.doctor(ctx) },
		PlanOptions: PlanOptions,
		At:          " at " + url,
		Removed: func() string {
			_, writes := b.Requests()
			return fmt.Sprintf("removed hairpin's %d items from %s; items without the %s marker were left alone", writes, url, MarkerPrefix)
		},
	}, nil
}

// doctor checks that the router answers and what it reports.
func (b *Backend) doctor(ctx context.Context) []doctor.Finding {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	obs, err := b.Observe(ctx)
	if err != nil {
		return []doctor.Finding{{Level: doctor.Fail, What: "RouterOS: " + err.Error()}}
	}
	return []doctor.Finding{{Level: doctor.OK, What: fmt.Sprintf("RouterOS answers: WAN %v, LAN %v, public %v", obs.WANAddrs, obs.LANNets, obs.Public)}}
}
