package main

import (
	"fmt"
	"log/slog"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros"
)

func exportCmd() *cli.Command {
	export := &cli.Command{
		Use:   "export",
		Short: "Print the configuration for running without the daemon",
	}
	var path string
	ros := &cli.Command{
		Use:   "routeros",
		Short: "Print a RouterOS v7 script with the forwards, hairpin masquerade and a WAN address updater",
		Long: "Print a script to paste into a MikroTik terminal (or /import): the address lists, one dst-nat rule per\n" +
			"forward, the hairpin masquerade, and an updater script that keeps the WAN address list on the WAN\n" +
			"interface's address, run by the WAN's DHCP client script or PPP on-up, at startup, and every 10 minutes\n" +
			"where the WAN raises no event, and a script that updates the config's dyndns2 entries from the router\n" +
			"(their passwords are in it). Nothing is sent to the router.",
		Run: func(cmd *cli.Command) error {
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

func routerosCmd() *cli.Command {
	ros := &cli.Command{Use: "routeros", Short: "Prepare a MikroTik router for hairpin"}
	var path string
	var fingerprint bool
	setup := &cli.Command{
		Use:   "setup",
		Short: "Print the RouterOS commands that create hairpin's REST user, group and certificate",
		Long: "Print, for the config's routeros: section, the RouterOS commands to paste into the router's terminal: a\n" +
			"group with exactly the policies hairpin needs (read, write, api, rest-api), the user, a certificate\n" +
			"naming the router's address, and the www-ssl service on it. Nothing is sent to the router.\n" +
			"With --fingerprint, once those have run: connect to the router, read its certificate and print the\n" +
			"routeros.tls_fingerprint line to pin it.",
		Run: func(cmd *cli.Command) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if fingerprint {
				fp, err := routeros.ReadFingerprint(cmd.Context(), cfg.RouterOS)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "# Compare with /certificate print detail where name=%s on the router, then put in %s:\n", routeros.SetupCertName, path)
				fmt.Fprintf(cmd.OutOrStdout(), "routeros:\n  tls_fingerprint: %s\n", fp)
				return nil
			}
			s, err := routeros.SetupScript(cfg)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), s)
			return nil
		},
	}
	configFlag(setup, &path)
	setup.Flags().BoolVar(&fingerprint, "fingerprint", false, "read the router's certificate and print the tls_fingerprint to pin")
	ros.AddCommand(setup)
	return ros
}
