package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backends"
	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/preflight"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

func doctorCmd() *cli.Command {
	var path string
	cmd := &cli.Command{
		Use:   "doctor",
		Short: "Check this machine and the config for everything hairpin needs, and say how to fix what is missing",
		Long: `doctor checks the config and every secret it names, this machine (forwarding, nftables, forward chains
of other tables that would drop what hairpin forwards, the interfaces), hairpin's table, the network in front
(public, double NAT, CGNAT, DS-Lite, what the box in front offers for port mapping) and the running daemon,
and prints each finding as OK, WARN or FAIL with its fix. A repeated finding is one line naming the forwards
it concerns. It changes nothing; it exits 1 when something FAILs.`,
		Run: func(cmd *cli.Command) error {
			var fs []doctor.Finding
			cfg, err := config.Load(path)
			if errors.Is(err, os.ErrNotExist) {
				err = missingConfig(path)
			}
			if err != nil {
				fs = append(fs, doctor.Finding{Level: doctor.Fail, What: "config " + path + ":\n      " + strings.ReplaceAll(err.Error(), "\n", "\n      "), Fix: "fix the config (hairpin check -c " + path + ")"})
				return doctor.Report(cmd.OutOrStdout(), fs)
			}
			fs = append(fs, doctor.Finding{Level: doctor.OK, What: fmt.Sprintf("config %s: %d forwards, backend %s", path, len(cfg.Forwards), cfg.Backend)})
			errs, warns := preflight.Secrets(cfg)
			for _, e := range errs {
				fs = append(fs, doctor.Finding{Level: doctor.Fail, What: fmt.Sprintf("%s (line %d): the daemon cannot read its secret: %s", e.Key, e.Line, e.Problem), Fix: e.Hint})
			}
			for _, w := range warns {
				fs = append(fs, doctor.Finding{Level: doctor.Warn, What: fmt.Sprintf("%s (line %d): %s", w.Key, w.Line, w.Problem), Fix: w.Hint})
			}
			fs = append(fs, doctor.Exposure(cfg)...)
			drv, err := backends.Open(cfg, nil)
			if err != nil {
				fs = append(fs, doctor.Finding{Level: doctor.Fail, What: fmt.Sprintf("backend %s: %v", cfg.Backend, err)})
			} else {
				defer closeBackend(drv)
				fs = append(fs, drv.Doctor(cmd.Context())...)
			}
			if drv != nil && isLocal(drv) {
				fs = append(fs, upstream.Doctor(cmd.Context(), cfg)...)
			}
			fs = append(fs, doctorDaemon(cmd.Context(), cfg)...)
			return doctor.Report(cmd.OutOrStdout(), fs)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// doctorDaemon asks the running daemon; its reachability verdict knows what the upstream box answered, which
// the checks above cannot.
func doctorDaemon(ctx context.Context, cfg *config.Config) []doctor.Finding {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := daemon.Fetch(ctx, cfg.Daemon.Status)
	if err != nil {
		return []doctor.Finding{{Level: doctor.Warn, What: "no daemon answers at " + cfg.Daemon.Status, Fix: "systemctl start hairpin (or hairpin run) to follow address changes"}}
	}
	var fs []doctor.Finding
	if !st.Installed {
		fs = append(fs, doctor.Finding{Level: doctor.Fail, What: "the daemon runs but its rules are not installed: " + st.LastError, Fix: "see hairpin status and the daemon's log"})
	} else {
		fs = append(fs, doctor.Finding{Level: doctor.OK, What: fmt.Sprintf("the daemon runs (up since %s), rules installed", st.Started.Format(time.RFC3339))})
	}
	for _, h := range st.DDNS {
		if h.Disabled != "" {
			fs = append(fs, doctor.Finding{Level: doctor.Fail, What: "daemon: dynamic DNS for " + h.Hostname + " is DISABLED: " + h.Disabled,
				Fix: "fix the config or create the secret, then systemctl reload hairpin"})
		}
	}
	for _, v := range st.Reachability {
		f := doctor.Reach(v)
		f.What = "daemon: " + f.What
		fs = append(fs, f)
	}
	return fs
}
