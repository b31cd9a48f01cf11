package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

func statusCmd() *cli.Command {
	var path, addr string
	var asJSON bool
	cmd := &cli.Command{
		Use:   "status",
		Short: "Show the running daemon's addresses, forwards with counters, DNS and recent events",
		Long: `status asks the running daemon over its status listener (daemon.status in the config, or --socket). It
asks even when the config file is broken (its errors are shown as a warning): that is when you need it most.
Without a daemon it shows what the kernel holds now (after a one-shot hairpin apply), with counters.`,
		Run: func(cmd *cli.Command) error {
			cfg, cfgErr := config.Load(path)
			if addr == "" {
				addr = config.DefaultStatusSocket
				var errs config.Errors
				switch {
				case cfgErr == nil:
					addr = cfg.Daemon.Status
				case errors.As(cfgErr, &errs):
					// A broken file may still say where the daemon listens.
					if data, err := secret.ReadFile(path, config.MaxFileSize); err == nil {
						addr = cmp.Or(config.StatusAddress(data), addr)
					}
				}
			}
			if cfgErr != nil && !errors.Is(cfgErr, os.ErrNotExist) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the config is broken (the daemon keeps running the last good one); asking the daemon at %s:\n%v\n", addr, cfgErr)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := daemon.Fetch(ctx, addr)
			if err != nil {
				// Without a daemon (rules put in place by hairpin apply), show what the kernel holds.
				if cfgErr != nil {
					if errors.Is(cfgErr, os.ErrNotExist) {
						return errfmt.Errorf("%w; and no config at %s to read the rules by (hairpin init writes one)", err, path)
					}
					return err
				}
				drv, derr := openChanging(cfg, nil)
				if derr != nil {
					return errfmt.Errorf("%w; and without the daemon: %v", err, derr)
				}
				defer closeBackend(drv)
				kst, kerr := daemon.Installed(ctx, cfg, drv)
				if kerr != nil {
					return errfmt.Errorf("%w; and without the daemon: %v", err, kerr)
				}
				st = &kst
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "No hairpin daemon answers at %s; this is what is installed now\n(start the daemon to follow address changes).\n", addr)
				}
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
