package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

func init() {
	subcommands = append(subcommands, checkCmd, showCmd, applyCmd, downCmd)
}

func checkCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the config file; print every problem and exit 2 if there are any",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d forwards, backend %s)\n", path, len(cfg.Forwards), cfg.Backend)
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// observe reads the interfaces named in the config. Missing interfaces are errors for apply; show passes
// lenient to print the rules anyway.
func observe(cfg *config.Config, lenient bool) (plan.Observed, []string, error) {
	var obs plan.Observed
	var notes []string
	addrs, _, err := wan.Addrs(cfg.WAN.Interface)
	switch {
	case err == nil:
		obs.WANAddrs = addrs
	case lenient:
		notes = append(notes, "WAN "+err.Error())
	default:
		return obs, nil, fmt.Errorf("WAN %w", err)
	}
	if cfg.LAN.Interface != "" && len(cfg.LAN.Subnets) == 0 {
		_, nets, err := wan.Addrs(cfg.LAN.Interface)
		switch {
		case err == nil:
			obs.LANNets = nets
		case lenient:
			notes = append(notes, "LAN "+err.Error())
		default:
			return obs, nil, fmt.Errorf("LAN %w", err)
		}
	}
	return obs, notes, nil
}

func showCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the nftables rules hairpin would apply (no root needed, changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			obs, notes, _ := observe(cfg, true)
			d, warns := plan.Build(cfg, obs, plan.Options{})
			for _, n := range append(notes, warns...) {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: "+n)
			}
			fmt.Fprint(cmd.OutOrStdout(), nft.Render(d))
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func applyCmd() *cobra.Command {
	var path string
	var noMasq bool
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Install the forwards for the current interface addresses, once, and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if cfg.Backend != "linux" {
				return applyRouterOS(cmd, cfg)
			}
			obs, _, err := observe(cfg, false)
			if err != nil {
				return err
			}
			d, warns := plan.Build(cfg, obs, plan.Options{NoMasquerade: noMasq})
			for _, w := range warns {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
			}
			be, err := linuxBackend()
			if err != nil {
				return err
			}
			start := time.Now()
			if err := be.Apply(cmd.Context(), d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d forwards on %v in %s\n", len(cfg.Forwards), d.WANAddrs, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&noMasq, "no-hairpin-masquerade", false, "leave out the hairpin masquerade (demonstrates the failure; for tests)")
	_ = cmd.Flags().MarkHidden("no-hairpin-masquerade")
	return cmd
}

func downCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove everything hairpin created (and nothing else)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				// down must work even when the config is broken: the table is found by name and marker.
				var errs config.Errors
				if !errors.As(err, &errs) && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				cfg = &config.Config{Backend: "linux"}
			}
			if cfg.Backend != "linux" {
				return downRouterOS(cmd, cfg)
			}
			be, err := linuxBackend()
			if err != nil {
				return err
			}
			if err := be.Down(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "removed table ip "+nft.Table)
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// oneShot tunes the garbage collector for a command that parses a config once and exits: a config of tens
// of thousands of forwards is mostly short-lived YAML nodes, and collecting them less often saves about a
// fifth of the parse at the cost of memory the process returns moments later. The daemon keeps the default.
func oneShot() { debug.SetGCPercent(400) }

func linuxBackend() (*nft.Backend, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("changing nftables needs root (run with sudo, or use `hairpin show` to see the rules)")
	}
	return nft.New()
}
