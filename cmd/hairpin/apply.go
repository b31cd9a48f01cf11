package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/allowdns"
	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/backends"
	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/preflight"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

func checkCmd() *cli.Command {
	var path string
	var noSecrets bool
	cmd := &cli.Command{
		Use:   "check",
		Short: "Validate the config file and read every secret it names; print every problem and exit 2 if there are any",
		Long: `check validates the config (every problem at once, with file, line, key and the fix) and then reads every
secret the daemon will read: DNS passwords, tokens and TSIG keys, the RouterOS password, the control token,
the probe's secret, notification URLs in files, and each *_env variable. A secret file others can read draws
a warning. Nothing is sent anywhere and nothing is changed. --no-secrets skips the secrets, for a config
written on another machine.`,
		Run: func(cmd *cli.Command) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if !noSecrets {
				if err := checkSecrets(cmd, cfg); err != nil {
					return err
				}
			}
			if len(cfg.Forwards) == 0 && len(cfg.DDNS) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (dynamic DNS only: no forwards, %d ddns entries, backend %s)\n", path, len(cfg.DDNS), cfg.Backend)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d forwards, backend %s)\n", path, len(cfg.Forwards), cfg.Backend)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&noSecrets, "no-secrets", false, "do not read the secrets the config names (for a config written on another machine)")
	return cmd
}

// checkSecrets prints the warnings about the config's secrets and returns the errors (exit 2).
func checkSecrets(cmd *cli.Command, cfg *config.Config) error {
	errs, warns := preflight.Secrets(cfg)
	for _, w := range warns {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.String())
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func showCmd() *cli.Command {
	var path string
	cmd := &cli.Command{
		Use:   "show",
		Short: "Print the nftables rules hairpin would apply (no root needed, changes nothing)",
		Run: func(cmd *cli.Command) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			p := backends.Preview(cfg)
			obs, notes := p.Observe()
			d, warns := plan.Build(cfg, obs, p.PlanOptions)
			for _, n := range append(notes, warns...) {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: "+n)
			}
			fmt.Fprint(cmd.OutOrStdout(), p.Render(d))
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func applyCmd() *cli.Command {
	var path string
	var noMasq, force bool
	cmd := &cli.Command{
		Use:   "apply",
		Short: "Install the forwards for the current interface addresses, once, and exit",
		Long: `apply installs the forwards for the interface addresses of now, and exits: it does not follow address
changes or update DNS (the daemon, hairpin run, does). While a daemon runs for the same state directory it
owns the rules: apply refuses and says to reload the daemon instead; --force applies anyway, and the daemon
re-applies its own config at its next event.`,
		Run: func(cmd *cli.Command) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			drv, done, err := ownBackend(cmd, cfg, force, "apply",
				"after editing the config, run `systemctl reload hairpin` (or kill -HUP %d): the daemon applies it and keeps following the WAN address")
			if err != nil {
				return err
			}
			defer done()
			start := time.Now()
			obs, err := drv.Observe(cmd.Context())
			if err != nil {
				return err
			}
			// A backend that takes no host addresses (RouterOS) resolves the names in its address lists itself.
			hosts := plan.Hosts(cfg)
			if _, ok := drv.Backend.(backend.HostUpdater); !ok {
				hosts = nil
			}
			if len(hosts) > 0 {
				var failed map[string]error
				obs.HostAddrs, failed = allowdns.LookupOnce(cmd.Context(), cfg.Daemon.Resolver, hosts)
				for _, h := range hosts {
					if err := failed[h]; err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: allowed hostname %s: %v; it allows nobody until it resolves (the daemon retries)\n", h, err)
					}
				}
			}
			opts := drv.PlanOptions
			opts.NoMasquerade = noMasq
			d, warns := plan.Build(cfg, obs, opts)
			for _, w := range warns {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
			}
			if err := drv.Apply(cmd.Context(), d); err != nil {
				return err
			}
			if bl, ok := drv.Backend.(backend.Blocker); ok {
				// Applied is not working: say what on the router stops the forwards, here rather than only in doctor.
				for _, f := range bl.Blocking(cmd.Context(), cfg) {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s (fix: %s)\n", f.What, f.Fix)
				}
			}
			requests := ""
			if rc, ok := drv.Backend.(backend.RequestCounter); ok {
				reads, writes := rc.Requests()
				requests = fmt.Sprintf(" (%d reads, %d writes)", reads, writes)
			}
			on := fmt.Sprint(d.WANAddrs)
			if d.V6 != nil {
				on += fmt.Sprintf(" and, %d of them on IPv6, %v", len(cfg.Forwards)-len(d.V6.Off), d.V6.WANAddrs)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d forwards on %s%s in %s%s\n", len(cfg.Forwards), on, drv.At, time.Since(start).Round(time.Millisecond), requests)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&force, "force", false, "apply even while a daemon runs for the same state directory (it re-applies its own config at its next event)")
	cmd.Flags().BoolVar(&noMasq, "no-hairpin-masquerade", false, "leave out the hairpin masquerade (demonstrates the failure; for tests)")
	_ = cmd.Flags().MarkHidden("no-hairpin-masquerade")
	return cmd
}

func downCmd() *cli.Command {
	var path string
	var force bool
	cmd := &cli.Command{
		Use:   "down",
		Short: "Remove everything hairpin created (and nothing else)",
		Long: `down removes hairpin's tables (and, with wan.upstream, its mappings on the box in front), and nothing
else. It works with a broken or missing config. While a daemon runs for the same state directory it refuses:
stop the daemon first (systemctl stop hairpin), or --force, after which the daemon puts the rules back at its
next event.`,
		Run: func(cmd *cli.Command) error {
			oneShot()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				// down must work even when the config is broken: the table is found by name and marker.
				var errs config.Errors
				if !errors.As(err, &errs) && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				cfg = config.Defaults()
			}
			drv, done, err := ownBackend(cmd, cfg, force, "down",
				"stop it first: `systemctl stop hairpin` (the rules stay in place when it stops), then `hairpin down`")
			if err != nil {
				return err
			}
			defer done()
			was := true
			if inst, ok := drv.Backend.(backend.Installer); ok {
				was, _ = inst.Installed(cmd.Context())
			}
			if err := drv.Down(cmd.Context()); err != nil {
				return err
			}
			if was {
				fmt.Fprintln(cmd.OutOrStdout(), drv.Removed())
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to remove: hairpin's rules are not installed")
			}
			n, gw, err := upstream.DeleteAll(cmd.Context(), cfg)
			if n > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %d upstream mappings on %s\n", n, gw)
			}
			return err
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&force, "force", false, "remove the rules even while a daemon runs for the same state directory (it puts them back at its next event)")
	return cmd
}

// oneOwner keeps a one-shot command from changing the rules under a running daemon: with a daemon holding the
// lock of stateDir it refuses (exit 2) naming the daemon's PID and what to do instead (advice, with %d for
// the PID). With force it goes ahead, and the returned function, called once the command is done, tells the
// daemon that its rules were changed under it.
func oneOwner(cmd *cli.Command, stateDir string, force bool, verb, advice string) (func(), error) {
	pid, err := daemon.Holder(stateDir)
	if err != nil || pid == 0 {
		return func() {}, nil // no daemon (or no way to tell): nothing to protect
	}
	if !force {
		return nil, configError{errfmt.Errorf("a hairpin daemon (PID %d) runs for state directory %s and owns the rules; %s. "+
			"To %s anyway, add --force (the daemon re-applies its own config at its next event)", pid, stateDir, strings.ReplaceAll(advice, "%d", fmt.Sprint(pid)), verb)}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "warning: a hairpin daemon (PID %d) runs for %s; --force: changing its rules anyway (it re-applies its config at its next event)\n", pid, stateDir)
	return func() {
		if err := daemon.MarkForced(stateDir, fmt.Sprintf("hairpin %s --force (PID %d)", verb, os.Getpid())); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: could not tell the daemon: %v\n", err)
		}
	}, nil
}

// oneShot tunes the garbage collector for a command that parses a config once and exits: a config of tens
// of thousands of forwards is mostly short-lived YAML nodes, and collecting them less often saves about a
// fifth of the parse at the cost of memory the process returns moments later. The daemon keeps the default.
func oneShot() { debug.SetGCPercent(400) }

// ownBackend opens the config's backend for a one-shot command that changes the rules: first oneOwner (verb
// and advice are its), then the backend, whose warnings (a readable password file) go to stderr. done closes
// the backend, then tells a daemon that --force went past.
func ownBackend(cmd *cli.Command, cfg *config.Config, force bool, verb, advice string) (drv *backend.Driver, done func(), err error) {
	marked, err := oneOwner(cmd, cfg.StateDir, force, verb, advice)
	if err != nil {
		return nil, nil, err
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if drv, err = openChanging(cfg, logger); err != nil {
		marked()
		return nil, nil, err
	}
	return drv, func() { closeBackend(drv); marked() }, nil
}

// openChanging builds the backend for a command that changes the rules, and fails at once when this process
// cannot (not root).
func openChanging(cfg *config.Config, logger *slog.Logger) (*backend.Driver, error) {
	drv, err := backends.Open(cfg, logger)
	if err != nil {
		return nil, err
	}
	if cc, ok := drv.Backend.(backend.ChangeChecker); ok {
		if err := cc.CanChange(); err != nil {
			closeBackend(drv)
			return nil, err
		}
	}
	return drv, nil
}

func closeBackend(drv *backend.Driver) {
	if c, ok := drv.Backend.(io.Closer); ok {
		_ = c.Close()
	}
}
