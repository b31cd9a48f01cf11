package upstream

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// DeleteAll deletes hairpin's mappings on the box in front, for `hairpin down`: it returns how many it deleted
// and from which gateway. Nothing to do (0, no error) unless the config maps ports upstream.
func DeleteAll(ctx context.Context, cfg *config.Config) (int, netip.Addr, error) {
	if !cfg.WAN.Upstream.Mode.Maps() || cfg.WAN.Interface == "" {
		return 0, netip.Addr{}, nil
	}
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	if err != nil || len(addrs) == 0 {
		return 0, netip.Addr{}, errfmt.Errorf("upstream mappings not deleted: the WAN interface has no address (they expire with their lease): %v", err)
	}
	gw := cfg.WAN.Upstream.Gateway
	if !gw.IsValid() {
		if gw, err = DefaultGateway(); err != nil {
			return 0, netip.Addr{}, errfmt.Errorf("upstream mappings not deleted: %w", err)
		}
	}
	wants, _ := Wants(cfg)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := Delete(ctx, cfg.WAN.Upstream, Options{StateDir: cfg.StateDir}, addrs[0], gw, wants)
	if err != nil {
		return n, gw, errfmt.Errorf("upstream mappings: %w", err)
	}
	return n, gw, nil
}

// Doctor asks the box in front, behind a double NAT, what it offers for port mapping (without mapping
// anything), and says what to set. It runs on the router itself only (a local backend).
func Doctor(ctx context.Context, cfg *config.Config) []doctor.Finding {
	if cfg.WAN.Interface == "" || cfg.WAN.Upstream.Mode == config.UpstreamManual {
		return nil
	}
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	if err != nil || len(addrs) == 0 || !plan.IsDoubleNAT(cfg.WAN.DoubleNAT, addrs) {
		return nil
	}
	gw := cfg.WAN.Upstream.Gateway
	if !gw.IsValid() {
		if gw, err = DefaultGateway(); err != nil {
			return []doctor.Finding{{Level: doctor.Warn, What: "the box in front: " + err.Error(), Fix: "set wan.upstream_gateway"}}
		}
	}
	s := Ask(ctx, addrs[0], gw)
	mode := cfg.WAN.Upstream.Mode
	switch {
	case s.CGNAT != "":
		return []doctor.Finding{{Level: doctor.Fail, What: fmt.Sprintf("the box in front (%s) cannot map ports from outside: %s", gw, s.CGNAT),
			Fix: "nothing on the router helps: use IPv6, ask the ISP for a public IPv4 address, or a tunnel or relay"}}
	case s.External.IsValid() && !ipclass.IsPublic(s.External):
		return []doctor.Finding{{Level: doctor.Fail, What: fmt.Sprintf("the box in front (%s) has the external address %s, which is not public: its ISP NATs again (carrier-grade NAT)", gw, s.External),
			Fix: "nothing on the router helps: use IPv6, ask the ISP for a public IPv4 address, or a tunnel or relay"}}
	case len(s.Speaks) == 0:
		return []doctor.Finding{{Level: doctor.Warn, What: fmt.Sprintf("the box in front (%s) answers neither PCP, NAT-PMP nor UPnP", gw),
			Fix: "turn on UPnP (or NAT-PMP/PCP) on the box and set wan.upstream: auto, or forward the ports (or DMZ) to " + addrs[0].String() + " by hand and set wan.upstream: manual"}}
	}
	what := fmt.Sprintf("the box in front (%s) speaks %s", gw, strings.Join(s.Speaks, ", "))
	if s.External.IsValid() {
		what += ", external address " + s.External.String()
	}
	if !mode.Maps() {
		return []doctor.Finding{{Level: doctor.Warn, What: what + "; hairpin does not ask it (wan.upstream: " + mode.String() + ")", Fix: "set wan.upstream: auto so hairpin maps the forwards on it"}}
	}
	return []doctor.Finding{{Level: doctor.OK, What: what}}
}
