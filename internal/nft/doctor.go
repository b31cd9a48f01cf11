package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

// doctor checks this machine for what the Linux backend needs.
func (b *Backend) doctor(ctx context.Context, cfg *config.Config) []doctor.Finding {
	var fs []doctor.Finding
	if !isRoot() {
		fs = append(fs, doctor.Finding{Level: doctor.Warn, What: "not running as root: the nftables checks below are limited", Fix: "run hairpin doctor as root"})
	}
	if p, err := exec.LookPath("nft"); err != nil {
		// hairpin speaks netlink only; nft is how a person looks at the table.
		fs = append(fs, doctor.Finding{Level: doctor.Warn, What: "the nft command is missing: hairpin does not need it, but `nft list table ip hairpin` shows its rules", Fix: "apt-get install nftables"})
	} else if out, err := exec.CommandContext(ctx, p, "--version").Output(); err == nil {
		fs = append(fs, doctor.Finding{Level: doctor.OK, What: strings.TrimSpace(string(out))})
	}
	fs = append(fs, ipForward())
	if cfg.HasIPv6() {
		fs = append(fs, ipv6Forward(cfg))
	}
	wanAddrs, wanF := iface("WAN", cfg.WAN.Interface)
	fs = append(fs, wanF)
	if len(wanAddrs) > 0 {
		dslite, why, _ := reach.DetectDSLite()
		fs = append(fs, doctor.Reach(reach.Classify(reach.Facts{WANAddrs: wanAddrs, DoubleNAT: plan.IsDoubleNAT(cfg.WAN.DoubleNAT, wanAddrs),
			DSLite: dslite, DSLiteWhy: why, UpstreamOn: cfg.WAN.Upstream.Mode.String()})))
	}
	if cfg.LAN.Interface != "" {
		_, lanF := iface("LAN", cfg.LAN.Interface)
		fs = append(fs, lanF)
	}
	if isRoot() {
		table := b.tableFinding(ctx)
		fs = append(fs, table)
		if table.Level == doctor.OK {
			fs = append(fs, b.ownTableFinding(ctx))
		}
		fs = append(fs, forwardPolicy(ctx))
	}
	return fs
}

func ipForward() doctor.Finding {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return doctor.Finding{Level: doctor.Warn, What: "cannot read net.ipv4.ip_forward: " + err.Error()}
	}
	if strings.TrimSpace(string(data)) != "1" {
		return doctor.Finding{Level: doctor.Fail, What: "IPv4 forwarding is off: the router forwards nothing", Fix: "sysctl -w net.ipv4.ip_forward=1 (and set it in /etc/sysctl.d/)"}
	}
	return doctor.Finding{Level: doctor.OK, What: "IPv4 forwarding is on"}
}

// ipv6Forward checks what IPv6 forwards need: forwarding on, and a global address to answer on.
func ipv6Forward(cfg *config.Config) doctor.Finding {
	data, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")
	if err != nil {
		return doctor.Finding{Level: doctor.Warn, What: "cannot read net.ipv6.conf.all.forwarding: " + err.Error()}
	}
	if strings.TrimSpace(string(data)) != "1" {
		return doctor.Finding{Level: doctor.Fail, What: "IPv6 forwarding is off: forwards with to6 reach nothing",
			Fix: "sysctl -w net.ipv6.conf.all.forwarding=1 (and set it in /etc/sysctl.d/; a WAN that learns its address by router advertisement also needs accept_ra=2)"}
	}
	obs, _, _ := Observe(cfg, true)
	if len(plan.WANSet6(obs.WAN6, obs.LAN6)) == 0 {
		return doctor.Finding{Level: doctor.Warn, What: "IPv6 forwarding is on, but the router has no global IPv6 address on the WAN or LAN interface",
			Fix: "IPv6 forwards start working when one appears (DHCPv6 or router advertisements on the WAN)"}
	}
	return doctor.Finding{Level: doctor.OK, What: "IPv6 forwarding is on"}
}

func iface(role, name string) ([]netip.Addr, doctor.Finding) {
	addrs, nets, err := wan.Addrs(name)
	if err != nil {
		return nil, doctor.Finding{Level: doctor.Fail, What: role + " " + err.Error(), Fix: "fix " + strings.ToLower(role) + ".interface in the config"}
	}
	if len(addrs) == 0 {
		return nil, doctor.Finding{Level: doctor.Warn, What: fmt.Sprintf("%s interface %s has no IPv4 address", role, name), Fix: "hairpin run fills in the forwards when it gets one"}
	}
	return addrs, doctor.Finding{Level: doctor.OK, What: fmt.Sprintf("%s interface %s: %v (%v)", role, name, addrs, nets)}
}

// tableFinding asks the backend itself (the netlink ownership check every apply makes) instead of reading
// nft's output.
func (b *Backend) tableFinding(ctx context.Context) doctor.Finding {
	installed, err := b.Installed(ctx)
	switch {
	case errors.Is(err, ErrNotOwned):
		return doctor.Finding{Level: doctor.Fail, What: "table ip hairpin exists but was not created by hairpin", Fix: "rename or remove that table; hairpin will not touch it"}
	case err != nil:
		return doctor.Finding{Level: doctor.Fail, What: "reading nftables: " + err.Error()}
	case !installed:
		return doctor.Finding{Level: doctor.Warn, What: "hairpin's table ip hairpin is not installed", Fix: "hairpin apply, or start the daemon"}
	}
	return doctor.Finding{Level: doctor.OK, What: "table ip hairpin is installed and owned by hairpin"}
}

// forwardPolicy warns about forward chains of other tables that drop by default and accept no DNATed
// connection: hairpin never edits other tables, so what it forwards must be accepted there. The usual fixes
// count: `ct status dnat accept` (in any spelling nft has for it), also in a chain the forward chain jumps to.
func forwardPolicy(ctx context.Context) doctor.Finding {
	drops, fixed, err := forwardDrops(ctx)
	if err != nil {
		return doctor.Finding{Level: doctor.Warn, What: "cannot read the nftables chains: " + err.Error()}
	}
	if len(drops) > 0 {
		return doctor.Finding{Level: doctor.Fail, What: fmt.Sprintf("chain %s drops forwarded traffic by default and accepts no DNATed connection: every forward is dropped there", strings.Join(drops, ", ")),
			Fix: "add `ct status dnat accept` to it (e.g. nft add rule " + drops[0] + " ct status dnat accept), before any rule that drops"}
	}
	if len(fixed) > 0 {
		return doctor.Finding{Level: doctor.OK, What: fmt.Sprintf("chain %s drops by default and accepts DNATed connections", strings.Join(fixed, ", "))}
	}
	return doctor.Finding{Level: doctor.OK, What: "no forward chain drops by default"}
}

// forwardDrops reads the forward chains of other tables over a netlink socket of its own
// (forwardDropsNetlink).
func forwardDrops(context.Context) (drops, fixed []string, err error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, nil, errfmt.Errorf("netlink: %w", err)
	}
	defer conn.Close()
	return forwardDropsNetlink(conn)
}

// Blocking implements backend.Blocker: what on this machine stops every forward from working, for apply and
// the daemon to warn about (doctor says it too, among its other checks).
func (b *Backend) Blocking(ctx context.Context, cfg *config.Config) []doctor.Finding {
	if _, real := b.k.(*netKernel); !real {
		return nil // a fake kernel: this machine's sysctls and chains are not the router's
	}
	var fs []doctor.Finding
	if f := ipForward(); f.Level == doctor.Fail {
		fs = append(fs, f)
	}
	if cfg.HasIPv6() {
		if f := ipv6Forward(cfg); f.Level == doctor.Fail {
			fs = append(fs, f)
		}
	}
	if f := forwardPolicy(ctx); f.Level == doctor.Fail {
		fs = append(fs, f)
	}
	return fs
}
