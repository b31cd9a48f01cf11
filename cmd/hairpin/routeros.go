package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/routeros"
)

func init() {
	subcommands = append(subcommands, exportCmd)
}

// routerosBackend builds the REST backend; its warnings (a readable password file) go to stderr.
func routerosBackend(cmd *cobra.Command, cfg *config.Config) (*routeros.Backend, error) {
	if cfg.RouterOS == nil {
		return nil, configError{errors.New("backend routeros needs a routeros: section with url, username and password_file")}
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return routeros.FromConfig(cfg, logger)
}

// applyRouterOS reads the router's addresses, plans, and reconciles once.
func applyRouterOS(cmd *cobra.Command, cfg *config.Config) error {
	b, err := routerosBackend(cmd, cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	obs, err := b.Observe(cmd.Context())
	if err != nil {
		return err
	}
	noMasq, _ := cmd.Flags().GetBool("no-hairpin-masquerade")
	d, warns := plan.Build(cfg, obs, plan.Options{NoMasquerade: noMasq})
	for _, w := range warns {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
	}
	if err := b.Apply(cmd.Context(), d); err != nil {
		return err
	}
	reads, writes := b.Requests()
	fmt.Fprintf(cmd.OutOrStdout(), "applied %d forwards on %v at %s in %s (%d reads, %d writes)\n",
		len(cfg.Forwards), d.WANAddrs, cfg.RouterOS.URL, time.Since(start).Round(time.Millisecond), reads, writes)
	return nil
}

// downRouterOS removes every item hairpin marked on the router.
func downRouterOS(cmd *cobra.Command, cfg *config.Config) error {
	b, err := routerosBackend(cmd, cfg)
	if err != nil {
		return err
	}
	if err := b.Down(cmd.Context()); err != nil {
		return err
	}
	_, writes := b.Requests()
	fmt.Fprintf(cmd.OutOrStdout(), "removed hairpin's %d items from %s; items without the %s marker were left alone\n",
		writes, cfg.RouterOS.URL, routeros.MarkerPrefix)
	return nil
}

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
			"forward, the hairpin masquerade, and an updater script that a scheduler entry runs at startup and every\n" +
			"minute to keep the WAN address list on the WAN interface's address. Nothing is sent to the router.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), routeros.Script(cfg))
			return nil
		},
	}
	configFlag(ros, &path)
	export.AddCommand(ros)
	return export
}
