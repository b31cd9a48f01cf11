package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/routeros"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

func init() { subcommands = append(subcommands, doctorCmd) }

// finding is one line of the doctor's report.
type finding struct {
	level string // ok, warn, fail
	what  string
	fix   string
}

func doctorCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine and the config for everything hairpin needs, and say how to fix what is missing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fs []finding
			cfg, err := config.Load(path)
			if err != nil {
				fs = append(fs, finding{"fail", "config " + path + ":\n      " + strings.ReplaceAll(err.Error(), "\n", "\n      "), "fix the config (hairpin check -c " + path + ")"})
				return report(cmd.OutOrStdout(), fs)
			}
			fs = append(fs, finding{"ok", fmt.Sprintf("config %s: %d forwards, backend %s", path, len(cfg.Forwards), cfg.Backend), ""})
			if cfg.Backend == "routeros" {
				fs = append(fs, doctorRouterOS(cmd.Context(), cfg)...)
			} else {
				fs = append(fs, doctorLinux(cmd.Context(), cfg)...)
			}
			fs = append(fs, doctorDaemon(cmd.Context(), cfg)...)
			return report(cmd.OutOrStdout(), fs)
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func report(w io.Writer, fs []finding) error {
	failed := 0
	for _, f := range fs {
		fmt.Fprintf(w, "%-4s  %s\n", strings.ToUpper(f.level), f.what)
		if f.fix != "" && f.level != "ok" {
			fmt.Fprintf(w, "      fix: %s\n", f.fix)
		}
		if f.level == "fail" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d problem(s) found", failed)
	}
	return nil
}

func doctorLinux(ctx context.Context, cfg *config.Config) []finding {
	var fs []finding
	if os.Geteuid() != 0 {
		fs = append(fs, finding{"warn", "not running as root: the nftables checks below are limited", "run hairpin doctor as root"})
	}
	if p, err := exec.LookPath("nft"); err != nil {
		fs = append(fs, finding{"fail", "the nft command is missing", "apt-get install nftables"})
	} else if out, err := exec.CommandContext(ctx, p, "--version").Output(); err == nil {
		fs = append(fs, finding{"ok", strings.TrimSpace(string(out)), ""})
	}
	fs = append(fs, ipForward())
	wanAddrs, wanF := iface("WAN", cfg.WAN.Interface)
	fs = append(fs, wanF)
	if len(wanAddrs) > 0 {
		dslite, why, _ := reach.DetectDSLite()
		fs = append(fs, reachFinding(reach.Classify(reach.Facts{WANAddrs: wanAddrs, DoubleNAT: plan.IsDoubleNAT(cfg.WAN.DoubleNAT, wanAddrs),
			DSLite: dslite, DSLiteWhy: why, UpstreamOn: cfg.WAN.Upstream.Mode.String()})))
	}
	if cfg.LAN.Interface != "" {
		_, lanF := iface("LAN", cfg.LAN.Interface)
		fs = append(fs, lanF)
	}
	if os.Geteuid() == 0 {
		fs = append(fs, tableState(ctx), forwardPolicy(ctx))
	}
	return fs
}

func ipForward() finding {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return finding{"warn", "cannot read net.ipv4.ip_forward: " + err.Error(), ""}
	}
	if strings.TrimSpace(string(data)) != "1" {
		return finding{"fail", "IPv4 forwarding is off: the router forwards nothing", "sysctl -w net.ipv4.ip_forward=1 (and set it in /etc/sysctl.d/)"}
	}
	return finding{"ok", "IPv4 forwarding is on", ""}
}

func iface(role, name string) ([]netip.Addr, finding) {
	addrs, nets, err := wan.Addrs(name)
	if err != nil {
		return nil, finding{"fail", role + " " + err.Error(), "fix " + strings.ToLower(role) + ".interface in the config"}
	}
	if len(addrs) == 0 {
		return nil, finding{"warn", fmt.Sprintf("%s interface %s has no IPv4 address", role, name), "hairpin run fills in the forwards when it gets one"}
	}
	return addrs, finding{"ok", fmt.Sprintf("%s interface %s: %v (%v)", role, name, addrs, nets), ""}
}

func tableState(ctx context.Context) finding {
	out, err := exec.CommandContext(ctx, "nft", "-t", "list", "table", "ip", nft.Table).CombinedOutput()
	switch {
	case err != nil && strings.Contains(string(out), "No such file"):
		return finding{"warn", "hairpin's table ip hairpin is not installed", "hairpin apply, or start the daemon"}
	case err != nil:
		return finding{"fail", "listing nftables: " + strings.TrimSpace(string(out)), ""}
	case !strings.Contains(string(out), nft.OwnerComment):
		return finding{"fail", "table ip hairpin exists but was not created by hairpin", "rename or remove that table; hairpin will not touch it"}
	}
	return finding{"ok", "table ip hairpin is installed and owned by hairpin", ""}
}

// forwardPolicy warns about forward chains of other tables that drop by default: DNATed traffic must be
// accepted there, and hairpin never edits other tables.
func forwardPolicy(ctx context.Context) finding {
	out, err := exec.CommandContext(ctx, "nft", "-j", "list", "chains").Output()
	if err != nil {
		return finding{"warn", "cannot list nftables chains", ""}
	}
	var doc struct {
		Nftables []struct {
			Chain *struct {
				Table  string `json:"table"`
				Name   string `json:"name"`
				Hook   string `json:"hook"`
				Policy string `json:"policy"`
			} `json:"chain"`
		} `json:"nftables"`
	}
	if json.Unmarshal(out, &doc) != nil {
		return finding{"warn", "cannot parse the nftables chains", ""}
	}
	for _, o := range doc.Nftables {
		if c := o.Chain; c != nil && c.Hook == "forward" && c.Policy == "drop" && c.Table != nft.Table {
			return finding{"warn", fmt.Sprintf("chain %s %s drops forwarded traffic by default", c.Table, c.Name),
				"make sure it accepts forwarded connections hairpin DNATs, e.g. `ct status dnat accept`"}
		}
	}
	return finding{"ok", "no forward chain drops by default", ""}
}

func doctorRouterOS(ctx context.Context, cfg *config.Config) []finding {
	b, err := routeros.FromConfig(cfg, nil)
	if err != nil {
		return []finding{{"fail", "RouterOS: " + err.Error(), ""}}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	obs, err := b.Observe(ctx)
	if err != nil {
		return []finding{{"fail", "RouterOS: " + err.Error(), ""}}
	}
	return []finding{{"ok", fmt.Sprintf("RouterOS answers: WAN %v, LAN %v, public %v", obs.WANAddrs, obs.LANNets, obs.Public), ""}}
}

// doctorDaemon asks the running daemon; its reachability verdict knows what the upstream box answered, which
// the checks above cannot.
func doctorDaemon(ctx context.Context, cfg *config.Config) []finding {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := daemon.Fetch(ctx, cfg.Daemon.Status)
	if err != nil {
		return []finding{{"warn", "no daemon answers at " + cfg.Daemon.Status, "systemctl start hairpin (or hairpin run) to follow address changes"}}
	}
	var fs []finding
	if !st.Installed {
		fs = append(fs, finding{"fail", "the daemon runs but its rules are not installed: " + st.LastError, "see hairpin status and the daemon's log"})
	} else {
		fs = append(fs, finding{"ok", fmt.Sprintf("the daemon runs (up since %s), rules installed", st.Started.Format(time.RFC3339)), ""})
	}
	for _, v := range st.Reachability {
		f := reachFinding(v)
		f.what = "daemon: " + f.what
		fs = append(fs, f)
	}
	return fs
}
