package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros"
)

func exportCmd() *cobra.Command {
	export := &cobra.Command{
		Use:   "export",
		Short: "Print the configuration for running without the daemon",
		Args:  cobra.NoArgs,
	}
	var path string
	ros := &cobra.Command{
		Use:   "routeros",
		Short: "Print a RouterOS v7 script with the forwards, hairpin masquerade and a WAN address updater",
		Long: "Print a script to paste into a MikroTik terminal (or /import): the address lists, one dst-nat rule per\n" +
			"forward, the hairpin masquerade, and an updater script that keeps the WAN address list on the WAN\n" +
			"interface's address, run by the WAN's DHCP client script or PPP on-up, at startup, and every 10 minutes\n" +
			"where the WAN raises no event, and a script that updates the config's dyndns2 entries from the router\n" +
			"(their passwords are in it). Nothing is sent to the router.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked by the routeros backend's rules whatever the config's backend line says.
			cfg, err := loadConfigWith(cmd, path, func(p string) (*config.Config, error) { return config.LoadForExport(p, config.BackendRouterOS) })
			if err != nil {
				return err
			}
			// The router updates the dyndns2 entries itself: their passwords go into the script.
			dns, err := routeros.DNSUpdates(cfg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), routeros.Script(cfg, dns...))
			return nil
		},
	}
	configFlag(ros, &path)
	export.AddCommand(ros)
	return export
}
