package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/publicip"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

func runCmd(version string) *cobra.Command {
	var path, logFormat, logLevel, status string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: apply, then follow WAN address changes, the public address and dynamic DNS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if logFormat == "" {
				logFormat = cfg.Daemon.LogFormat
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return configError{fmt.Errorf("--log-level: %w", err)}
			}
			logger := slog.New(daemon.LogHandler(cmd.ErrOrStderr(), logFormat, level))
			if status != "" {
				cfg.Daemon.Status = status
			}
			return runDaemon(cmd.Context(), version, cfg, path, logger)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&logFormat, "log-format", "", "text or json (default: daemon.log_format from the config)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&status, "status", "", "status listener: a unix socket path or host:port (default: daemon.status)")
	return cmd
}

func runDaemon(ctx context.Context, version string, cfg *config.Config, path string, logger *slog.Logger) error {
	// One daemon per state directory: two would undo each other's rules at every resync.
	release, err := daemon.Lock(cfg.StateDir)
	if err != nil {
		return err
	}
	defer release()
	listener, err := daemon.Listen(cfg.Daemon.Status)
	if err != nil {
		return err
	}
	defer listener.Close()
	drv, err := openChanging(cfg, logger)
	if err != nil {
		return err
	}
	defer closeBackend(drv)
	deps := daemon.Deps{
		Version:    version,
		IntentFile: filepath.Join(cfg.StateDir, "wan-set.intent"),
		Backend:    drv.Backend,
		Observe:    drv.Watch,
		Logger:     logger,
		Load:       func() (*config.Config, error) { return config.Load(path) },
		Ready: func() {
			if err := daemon.NotifyReady(); err != nil {
				logger.Warn("systemd readiness notification failed", "error", err)
			}
		},
		NewDiscoverer: func(cfg *config.Config) (daemon.Discoverer, error) {
			sources := cfg.WAN.PublicIP
			if len(sources) == 0 {
				sources = publicip.DefaultSources()
			}
			return publicip.NewDiscoverer(sources, publicip.Options{Logger: logger, UserAgent: userAgent(version)})
		},
		DetectDSLite:    drv.DetectDSLite,
		NewUpstream:     upstreamMapper(logger, drv),
		NewProber:       newProber(logger),
		UpstreamGateway: upstream.DefaultGateway,
		NewDDNS: func(cfg *config.Config) (daemon.DDNS, error) {
			e, err := ddns.New(cfg.DDNS, cfg.StateDir, ddnsUserAgent(version), logger)
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	}
	d := daemon.New(cfg, deps)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading config", "file", path)
				_ = d.Reload(ctx)
			}
		}
	}()
	go func() {
		if err := d.ServeListener(ctx, listener); err != nil {
			logger.Error("status listener failed; hairpin status will not answer", "error", err)
		}
	}()
	return d.Run(ctx)
}

func userAgent(version string) string {
	return "hairpin/" + version + " (+https://github.com/hairpin-nat/hairpin)"
}

func statusCmd() *cobra.Command {
	var path, addr string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon's addresses, forwards with counters, DNS and recent events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cfgErr := config.Load(path)
			if cfgErr != nil && !errors.Is(cfgErr, os.ErrNotExist) {
				return cfgErr
			}
			if addr == "" {
				addr = config.DefaultStatusSocket
				if cfgErr == nil {
					addr = cfg.Daemon.Status
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := daemon.Fetch(ctx, addr)
			if err != nil {
				// Without a daemon (rules put in place by hairpin apply), show what the kernel holds.
				if cfgErr != nil || asJSON {
					return err
				}
				drv, derr := openChanging(cfg, nil)
				if derr != nil {
					return err
				}
				defer closeBackend(drv)
				if drv.Installed == nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "No hairpin daemon answers at %s; this is what is installed now\n(start the daemon to follow address changes).\n", addr)
				return printInstalled(ctx, cmd.OutOrStdout(), cfg, drv)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&addr, "socket", "", "status address of the daemon (default: daemon.status from the config)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

func printStatus(w io.Writer, st *daemon.Status) {
	fmt.Fprintf(w, "hairpin %s, backend %s, config %s, up since %s\n", st.Version, st.Backend, st.Config, st.Started.Format(time.RFC3339))
	wanState := strings.Join(st.WANAddrs, ", ")
	if !st.WANExists {
		wanState = "interface missing"
	} else if wanState == "" {
		wanState = "no IPv4 address"
	}
	fmt.Fprintf(w, "WAN %s: %s\n", st.WANInterface, wanState)
	fmt.Fprintf(w, "LAN %s: %s\n", st.LANInterface, strings.Join(st.LANNets, ", "))
	pub := st.Public
	if pub == "" {
		pub = "unknown"
	}
	if st.PublicFrom != "" {
		pub += " (from " + st.PublicFrom + ")"
	}
	if st.PublicError != "" {
		pub += " (last error: " + st.PublicError + ")"
	}
	fmt.Fprintf(w, "public address: %s\ndouble NAT: %v (mode %s)\n", pub, st.DoubleNAT, st.DoubleNATMode)
	printReach(w, st)
	printUpstream(w, st.Upstream)
	printProbe(w, st.Probe)
	rules := "installed"
	if !st.Installed {
		rules = "NOT installed"
	}
	fmt.Fprintf(w, "rules: %s, forwarding on %s; last apply %s took %s\n", rules, strings.Join(st.ForwardSet, ", "), st.LastApply.Format(time.TimeOnly), st.LastApplyTook)
	// The IPv6 column appears once any forward has an IPv6 target; then a forward without one says so.
	any6 := false
	for _, f := range st.Forwards {
		any6 = any6 || f.IPv6 != "" && f.IPv6 != "off: "+plan.OffNoTo6 && f.IPv6 != "off: no rules installed"
	}
	if any6 || len(st.ForwardSet6) > 0 {
		fmt.Fprintf(w, "IPv6: WAN %s; forwarding on %s\n", orNone(st.WAN6Addrs), orNone(st.ForwardSet6))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", st.LastError)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "\nFORWARD\tPROTO\tPORT\tTO\tPACKETS\tBYTES\tFROM THE INTERNET\tDROPPED (ALLOW/LIMIT)"
	if any6 {
		head += "\tIPV6"
	}
	fmt.Fprintln(tw, head)
	for _, f := range st.Forwards {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s", f.Name, f.Protocol, f.Port, f.To, f.Packets, f.Bytes, who(f.Allow != nil, f.Allow, f.Limit),
			drops(f.Allow != nil, f.Limit != "", f.DroppedAllow, f.DroppedLimit))
		if any6 {
			fmt.Fprintf(tw, "\t%s", f.IPv6)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	printAllowedHosts(w, st.AllowedHosts)
	printDDNS(w, st.DDNS, probeNote(st.Probe))
	fmt.Fprintln(w, "\nrecent events:")
	for _, e := range st.Events {
		fmt.Fprintf(w, "  %s  %s\n", e.Time.Format("2006-01-02 15:04:05.000"), e.Message)
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// printDDNS shows each hostname: what was last sent and when, the provider's answer, and whether updates are
// held back (and why).
func printDDNS(w io.Writer, hosts []ddns.HostStatus, note string) {
	if len(hosts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nHOSTNAME\tPROVIDER\tLAST SENT\tWHEN\tANSWER\tSTATE")
	for _, h := range hosts {
		when := "never"
		if !h.LastSent.IsZero() {
			when = h.LastSent.Format("2006-01-02 15:04:05")
		}
		state := "ok"
		switch {
		case h.Withheld != "":
			state = "WITHHELD: " + h.Withheld
		case h.Held:
			state = "HELD: " + h.Reason
		case !h.NextRetry.IsZero():
			state = "retry at " + h.NextRetry.Format(time.TimeOnly)
			if h.LastError != "" {
				state += " (" + h.LastError + ")"
			}
		case h.Warning != "":
			state = "WARNING: " + h.Warning
		}
		if note != "" {
			state += "; " + note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Hostname, h.Provider, orDash(h.LastAddress), when, orDash(h.Answer), state)
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printInstalled shows the addresses, whether hairpin's table is in place, and the counters per forward, read
// straight from the kernel.
func printInstalled(ctx context.Context, w io.Writer, cfg *config.Config, drv *backend.Driver) error {
	obs, oerr := drv.Observe(ctx)
	d, _ := plan.Build(cfg, obs, plan.Options{})
	installed, err := drv.Installed(ctx)
	if err != nil {
		return err
	}
	if oerr != nil {
		fmt.Fprintln(w, oerr)
	}
	fmt.Fprintf(w, "WAN %s: %v\nLAN %s: %v\ndouble NAT: %v (mode %s)\n", cfg.WAN.Interface, obs.WANAddrs, cfg.LAN.Interface, d.LANNets, d.DoubleNAT, cfg.WAN.DoubleNAT)
	if !installed {
		// No table, no counters to read.
		fmt.Fprintln(w, "rules: NOT installed (hairpin apply, or start the daemon)")
		return nil
	}
	counters, err := drv.Counters(ctx, d)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "rules: installed (table ip hairpin)")
	ipv6 := d.V6 != nil
	if ipv6 {
		var set []string
		for _, a := range d.V6.WANAddrs {
			set = append(set, a.String())
		}
		fmt.Fprintf(w, "IPv6: forwarding on %s (table ip6 hairpin)\n", orNone(set))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "\nFORWARD\tPROTO\tPORT\tTO\tPACKETS\tBYTES\tFROM THE INTERNET\tDROPPED (ALLOW/LIMIT)"
	if ipv6 {
		head += "\tIPV6"
	}
	fmt.Fprintln(tw, head)
	for _, f := range cfg.Forwards {
		c := counters[f.Name]
		limit := ""
		if f.Limit != nil {
			limit = f.Limit.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%s\t%d\t%d\t%s\t%s", f.Name, f.Protocol, f.Port, f.To, f.ToPort, c.Packets, c.Bytes,
			who(f.AllowOn, f.Allow, limit), drops(f.AllowOn, f.Limit != nil, c.AllowDrops, c.LimitDrops))
		if ipv6 {
			fmt.Fprintf(tw, "\t%s", daemon.IPv6Status(d, f.Name))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// who says which internet sources reach a forward.
func who(allowOn bool, sets []string, limit string) string {
	s := "everyone"
	if allowOn {
		s = "allow " + strings.Join(sets, ",")
		if len(sets) == 0 {
			s = "nobody (LAN only)"
		}
	}
	if limit != "" {
		s += ", limit " + limit
	}
	return s
}

func drops(allowOn, limitOn bool, allow, limit uint64) string {
	a, l := "-", "-"
	if allowOn {
		a = fmt.Sprint(allow)
	}
	if limitOn {
		l = fmt.Sprint(limit)
	}
	return a + "/" + l
}

// printAllowedHosts shows the hostnames of allow lists with their current addresses.
func printAllowedHosts(w io.Writer, hosts []allowdns.HostStatus) {
	if len(hosts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nALLOWED HOST\tADDRESSES\tTTL\tNEXT LOOKUP\tSTATE")
	for _, h := range hosts {
		state := "ok"
		switch {
		case h.Error != "" && !h.KeepUntil.IsZero():
			state = fmt.Sprintf("NOT RESOLVING (%s); keeping the last addresses until %s", h.Error, h.KeepUntil.Format(time.DateTime))
		case h.Error != "":
			state = "NOT RESOLVING: " + h.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Host, orDash(strings.Join(h.Addrs, ",")), orDash(h.TTL), h.Next.Format(time.TimeOnly), state)
	}
	_ = tw.Flush()
}
