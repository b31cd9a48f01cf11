package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/upstream"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// printReach shows the classification of each family with its reason and next step.
func printReach(w io.Writer, st *daemon.Status) {
	for _, v := range st.Reachability {
		fmt.Fprintf(w, "reachability (%s): %s: %s\n", v.Family, v.String(), v.Reason)
		if v.Advice != "" {
			fmt.Fprintf(w, "  next step: %s\n", v.Advice)
		}
	}
}

// upstreamMapper builds the daemon's upstream mapper. It runs on this machine, so it maps for a Linux router
// only: a RouterOS router asks its own box (MikroTik's /ip/upnp is a UPnP server, not a client).
func upstreamMapper(logger *slog.Logger, drv *backend.Driver) func(cfg *config.Config) (daemon.Upstream, error) {
	return func(cfg *config.Config) (daemon.Upstream, error) {
		if !drv.Local {
			return nil, errors.New("wan.upstream maps ports from the router itself; hairpin does it with backend linux only")
		}
		return upstream.New(cfg.WAN.Upstream, upstream.Options{Logger: logger, StateDir: cfg.StateDir})
	}
}

// downUpstream deletes hairpin's mappings on the box in front, as `hairpin down` removes everything else.
func downUpstream(ctx context.Context, w io.Writer, cfg *config.Config) error {
	if !cfg.WAN.Upstream.Mode.Maps() || cfg.WAN.Interface == "" {
		return nil
	}
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("upstream mappings not deleted: the WAN interface has no address (they expire with their lease): %v", err)
	}
	gw := cfg.WAN.Upstream.Gateway
	if !gw.IsValid() {
		if gw, err = upstream.DefaultGateway(); err != nil {
			return fmt.Errorf("upstream mappings not deleted: %w", err)
		}
	}
	wants, _ := upstream.Wants(cfg)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := upstream.Delete(ctx, cfg.WAN.Upstream, upstream.Options{StateDir: cfg.StateDir}, addrs[0], gw, wants)
	if n > 0 {
		fmt.Fprintf(w, "deleted %d upstream mappings on %s\n", n, gw)
	}
	if err != nil {
		return fmt.Errorf("upstream mappings: %w", err)
	}
	return nil
}

// printUpstream shows the mappings on the box in front.
func printUpstream(w io.Writer, st *upstream.Status) {
	if st == nil {
		return
	}
	via := st.Protocol
	if via == "" {
		via = "none yet"
	}
	fmt.Fprintf(w, "upstream mapping (%s): via %s on %s to %s, external address %s; %d requests, %d renewals, %d remaps\n",
		st.Mode, via, orDash(st.Gateway), orDash(st.Local), orDash(st.External), st.Requests, st.Renewals, st.Remaps)
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", st.Error)
	}
	if st.Dropped > 0 {
		fmt.Fprintf(w, "  %d more ports not mapped (at most %d are)\n", st.Dropped, upstream.MaxMappings)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FORWARD\tPROTO\tPORT\tSTATE\tLEASE\tRENEW\tMESSAGE")
	for _, m := range st.Mappings {
		renew := "-"
		if !m.Renew.IsZero() {
			renew = m.Renew.Format(time.TimeOnly)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", m.Forward, m.Protocol, m.Port, m.State, orDash(m.Lease), renew, orDash(m.Message))
	}
	_ = tw.Flush()
}

// doctorUpstream asks the box in front, behind a double NAT, what it offers for port mapping (without mapping
// anything), and says what to set.
func doctorUpstream(ctx context.Context, cfg *config.Config, drv *backend.Driver) []doctor.Finding {
	if drv == nil || !drv.Local || cfg.WAN.Interface == "" || cfg.WAN.Upstream.Mode == config.UpstreamManual {
		return nil
	}
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	if err != nil || len(addrs) == 0 || !plan.IsDoubleNAT(cfg.WAN.DoubleNAT, addrs) {
		return nil
	}
	gw := cfg.WAN.Upstream.Gateway
	if !gw.IsValid() {
		if gw, err = upstream.DefaultGateway(); err != nil {
			return []doctor.Finding{{Level: doctor.Warn, What: "the box in front: " + err.Error(), Fix: "set wan.upstream_gateway"}}
		}
	}
	s := upstream.Ask(ctx, addrs[0], gw)
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
