package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// ddnsUserAgent is what HTTP DDNS providers see; the dyndns2 protocol asks clients to name themselves.
func ddnsUserAgent(version string) string {
	return "hairpin/" + version + " github.com/hairpin-nat/hairpin"
}

func ddnsCmd(version string) *cli.Command {
	cmd := &cli.Command{
		Use:   "ddns",
		Short: "Dynamic DNS: send the public address to the providers in the config",
	}
	cmd.AddCommand(ddnsUpdateCmd(version), ddnsProvidersCmd())
	return cmd
}

func ddnsProvidersCmd() *cli.Command {
	return &cli.Command{
		Use:   "providers",
		Short: "List the DNS providers a ddns entry may name, with what they publish and where their contract comes from",
		Run: func(cmd *cli.Command) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tKIND\tFAMILIES\tCONTRACT")
			for _, p := range providers.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Config.Name, p.Kind, strings.Join(p.Families(), ","), p.Contract)
			}
			return tw.Flush()
		},
	}
}

func ddnsUpdateCmd(version string) *cli.Command {
	var path, address string
	var force bool
	cmd := &cli.Command{
		Use:   "update",
		Short: "Send the public address now where it differs from the last one sent (all of them with --force)",
		Long: `Send the public address to every ddns entry of the config, now.

The address is --address, or else the first IPv4 address of the WAN interface. Without --force, only
hostnames whose last successfully sent address differs get an update, as the daemon would do. --force sends
to every hostname even when nothing changed (providers may count repeated unchanged updates as abuse: use
it to check credentials, not from cron). Neither lifts a hold: a hostname whose provider refused for good
(bad credentials, unknown host, abuse block) stays held until its config or secret changes, and one whose
provider asked for a pause waits for it.`,
		Run: func(cmd *cli.Command) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if len(cfg.DDNS) == 0 {
				return configError{errfmt.Errorf("%s has no ddns entries", path)}
			}
			addr, err := ddnsAddress(cfg, address)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			engine, err := ddns.New(cfg.DDNS, cfg.StateDir, ddnsUserAgent(version), logger)
			if err != nil {
				return configError{err}
			}
			engine.SetAddress(addr)
			if force {
				err = engine.ForceUpdate(cmd.Context())
			} else {
				err = engine.Update(cmd.Context())
			}
			printDDNS(cmd.OutOrStdout(), engine.Status(), "")
			return err
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&address, "address", "", "address to send (default: the first IPv4 address of the WAN interface)")
	cmd.Flags().BoolVar(&force, "force", false, "send even when the provider already has the address")
	return cmd
}

func ddnsAddress(cfg *config.Config, flag string) (netip.Addr, error) {
	if flag != "" {
		a, err := netip.ParseAddr(flag)
		if err != nil || !a.Is4() {
			return netip.Addr{}, configError{errfmt.Errorf("--address %q is not an IPv4 address", flag)}
		}
		return a, nil
	}
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	if err != nil {
		return netip.Addr{}, errfmt.Errorf("WAN %w; give the address with --address", err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, errfmt.Errorf("WAN interface %s has no IPv4 address; give one with --address", cfg.WAN.Interface)
	}
	return addrs[0], nil
}
