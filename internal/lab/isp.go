package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
)

// ISP box kinds (Options.ISP).
const (
	// ISPUPnP: the box runs miniupnpd with UPnP IGD, NAT-PMP and PCP on, and forwards nothing by itself.
	ISPUPnP = "upnp"
	// ISPCGNAT: the router's WAN address is in 100.64.0.0/10 and a carrier-grade NAT masquerades it toward the
	// internet; nothing can open a port from outside.
	ISPCGNAT = "cgnat"
	// ISPDSLite: the router is a DS-Lite B4: IPv4 goes in an IPv4-in-IPv6 tunnel to an AFTR, which NATs it.
	ISPDSLite = "ds-lite"
)

// ISPKinds are the values of Options.ISP (and `hairpin lab --isp`).
var ISPKinds = []string{ISPUPnP, ISPCGNAT, ISPDSLite}

var (
	cgnBox    = netip.MustParseAddr("100.64.0.1")
	cgnRouter = netip.MustParseAddr("100.64.0.2")
	b4Addr    = netip.MustParseAddr("192.0.0.2")
	aftrAddr  = netip.MustParseAddr("192.0.0.1")
)

// buildCGN: internet eth0 <-> cgn wan0 (the carrier's outside, shared by many customers); cgn lan0
// (100.64.0.1/10) <-> router wan0 (100.64.0.2/10). The CGN masquerades the shared range and forwards nothing in.
func (t *Topology) buildCGN(ctx context.Context) error {
	return t.steps(ctx, t.ispBoxSteps(internetAddr, publicAddr, netip.PrefixFrom(cgnBox, 10), cgnRouter.String()+"/10", `table ip cgn {
	chain post { type nat hook postrouting priority srcnat; oifname "wan0" ip saddr 100.64.0.0/10 masquerade; }
}
`)...)
}

// buildAFTR: internet eth0 <-> aftr wan0; aftr lan0 <-> router wan0 carry only IPv6; an ip6tnl (mode ipip6)
// on each side carries IPv4 between the B4 (the router, 192.0.0.2) and the AFTR (192.0.0.1), which NATs it
// toward the internet (RFC 6333). The router's IPv4 default route is the tunnel, its IPv4 WAN interface ds0.
func (t *Topology) buildAFTR(ctx context.Context) error {
	const aftr6, b46 = "2001:db8:b4::1", "2001:db8:b4::2"
	if err := t.steps(ctx,
		link{t.Internet, "eth0", t.ISPBox, "wan0"},
		addr{t.Internet, "eth0", internetAddr.String() + "/24"},
		addr{t.ISPBox, "wan0", publicAddr.String() + "/24"},
		link{t.ISPBox, "lan0", t.Router, "wan0"},
		cmdStep{t.ISPBox, "addr add " + aftr6 + "/64 dev lan0 nodad"},
		cmdStep{t.Router, "addr add " + b46 + "/64 dev wan0 nodad"},
	); err != nil {
		return err
	}
	if err := t.ip(ctx, t.ISPBox, "link add ds0 type ip6tnl mode ipip6 local "+aftr6+" remote "+b46); err != nil {
		if strings.Contains(err.Error(), "Unknown device type") {
			return ErrNoIP6Tnl
		}
		return err
	}
	return t.steps(ctx,
		cmdStep{t.Router, "link add ds0 type ip6tnl mode ipip6 local " + b46 + " remote " + aftr6},
		cmdStep{t.ISPBox, "link set ds0 up"},
		cmdStep{t.Router, "link set ds0 up"},
		addr{t.ISPBox, "ds0", aftrAddr.String() + "/29"},
		addr{t.Router, "ds0", b4Addr.String() + "/29"},
		cmdStep{t.Router, "route add default dev ds0"},
		route{t.ISPBox, internetAddr.String()},
		sysctl{t.Router, "net.ipv4.ip_forward", "1"},
		sysctl{t.ISPBox, "net.ipv4.ip_forward", "1"},
		nftScript{t.ISPBox, `table ip aftr {
	chain post { type nat hook postrouting priority srcnat; oifname "wan0" ip saddr 192.0.0.0/29 masquerade; }
}
`},
	)
}

// ErrNoIP6Tnl: the kernel cannot build the DS-Lite tunnel (CONFIG_IPV6_TUNNEL).
var ErrNoIP6Tnl = errors.New("this kernel has no ip6tnl (CONFIG_IPV6_TUNNEL), which the DS-Lite lab needs")

// MiniupnpdPath is Debian's miniupnpd-nftables.
const MiniupnpdPath = "/usr/sbin/miniupnpd"

// miniupnpd refuses private, shared and documentation ranges as its outside address ("port forwarding is
// impossible"), so the UPnP box's outside looks public. The lab's namespaces have no route out: nothing
// sent to these addresses leaves them.
var (
	upnpInternetAddr = netip.MustParseAddr("11.13.0.1")
	upnpPublicAddr   = netip.MustParseAddr("11.13.0.10")
)

// miniupnpdStart bounds the wait for miniupnpd to listen.
const miniupnpdStart = 30 * time.Second

// MiniupnpdOptions choose what the box's miniupnpd offers.
type MiniupnpdOptions struct {
	NoUPnP   bool // enable_upnp=no
	NoNATPMP bool // enable_natpmp=no (NAT-PMP and PCP)
	// Insecure turns secure_mode off: any LAN host may map and delete for any address.
	Insecure bool
}

// miniupnpdRules are the chains miniupnpd fills (its own table, named in its config) and the box's masquerade.
const miniupnpdRules = `table inet ispbox {
	chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
	chain miniupnpd { }
	chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname "wan0" masquerade; }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}
`

func (t *Topology) buildUPnPBox(ctx context.Context, wanAddr string) error {
	if _, err := os.Stat(MiniupnpdPath); err != nil {
		return errors.New("miniupnpd is not installed (apt-get install miniupnpd-nftables)")
	}
	dir, err := os.MkdirTemp("", t.Prefix+"-miniupnpd-")
	if err != nil {
		return err
	}
	t.dirs = append(t.dirs, dir)
	t.boxDir = dir
	if err := t.steps(ctx, t.ispBoxSteps(upnpInternetAddr, upnpPublicAddr, netip.PrefixFrom(ispLANAddr, 24), wanAddr, miniupnpdRules)...); err != nil {
		return err
	}
	return t.StartMiniupnpd(MiniupnpdOptions{})
}

// StartMiniupnpd (re)starts the box's miniupnpd with a config file of its own; a running one is stopped first
// (by PID). It waits until miniupnpd listens.
func (t *Topology) StartMiniupnpd(opt MiniupnpdOptions) error {
	if t.boxDir == "" {
		return errors.New("this lab has no UPnP ISP box")
	}
	t.StopMiniupnpd()
	yes := func(off bool) string {
		if off {
			return "no"
		}
		return "yes"
	}
	conf := fmt.Sprintf(`ext_ifname=wan0
listening_ip=lan0
http_port=5000
enable_upnp=%s
enable_natpmp=%s
secure_mode=%s
system_uptime=no
min_lifetime=2
max_lifetime=86400
clean_ruleset_interval=600
upnp_table_name=ispbox
upnp_nat_table_name=ispbox
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
uuid=7e3f6a52-3c1b-4b7e-9d55-%012x
allow 1024-65535 %s 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, yes(opt.NoUPnP), yes(opt.NoNATPMP), yes(opt.Insecure), time.Now().UnixNano()&0xffffffffffff, netip.PrefixFrom(ispLANAddr, 24).Masked())
	path := filepath.Join(t.boxDir, "miniupnpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(t.boxDir, "miniupnpd.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	// The log holds every earlier run of this box too (a reboot appends): only what this run writes counts.
	logged, err := log.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	thisRun := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data[min(logged, int64(len(data))):])
	}
	// -d: stay in the foreground (no pid file, no daemonizing), so the lab holds its PID.
	// -P: a pid file of its own; the default /var/run/miniupnpd.pid is shared by every namespace, and a second
	// box would refuse to start ("already running").
	cmd := exec.Command("ip", "netns", "exec", t.ISPBox, MiniupnpdPath, "-f", path, "-d", "-P", filepath.Join(t.boxDir, "miniupnpd.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	t.procs = append(t.procs, cmd)
	t.miniupnpd = cmd
	var failed error
	// Generous: a loaded CI machine can take seconds to start it, and a failure says so at once.
	err = poll.Until(context.Background(), miniupnpdStart, func() bool {
		data := thisRun()
		if strings.Contains(data, "impossible") || strings.Contains(data, "Failed") {
			failed = fmt.Errorf("miniupnpd: %s", data)
			return true
		}
		return strings.Contains(data, "Listening for NAT-PMP/PCP") || (opt.NoNATPMP && strings.Contains(data, "HTTP listening"))
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("miniupnpd did not start listening within %s: %s", miniupnpdStart, thisRun())
	}
	return nil
}

// RebootISPBox is the box losing power: miniupnpd stops, its rules are gone (a fresh ruleset, as after a
// boot), and it starts again with opt, forgetting every mapping.
func (t *Topology) RebootISPBox(ctx context.Context, opt MiniupnpdOptions) error {
	t.StopMiniupnpd()
	if _, err := Exec(ctx, t.ISPBox, "nft", "delete", "table", "inet", "ispbox"); err != nil {
		return err
	}
	if err := t.steps(ctx, nftScript{t.ISPBox, miniupnpdRules}); err != nil {
		return err
	}
	return t.StartMiniupnpd(opt)
}

// StopMiniupnpd stops the box's miniupnpd (SIGTERM by PID). miniupnpd removes its rules on the way out.
func (t *Topology) StopMiniupnpd() {
	if t.miniupnpd != nil {
		t.Stop(t.miniupnpd)
		t.miniupnpd = nil
	}
}

// MiniupnpdLog is what the box's miniupnpd logged.
func (t *Topology) MiniupnpdLog() string {
	data, _ := os.ReadFile(filepath.Join(t.boxDir, "miniupnpd.log"))
	return string(data)
}

// BoxRedirects lists the port redirections miniupnpd holds in the box's nftables, as "tcp 8090 192.168.1.2".
func (t *Topology) BoxRedirects(ctx context.Context) ([]string, error) {
	out, err := Exec(ctx, t.ISPBox, "nft", "list", "chain", "inet", "ispbox", "prerouting_miniupnpd")
	if err != nil {
		return nil, err
	}
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		var proto, port, to string
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "dport":
				port = f[i+1]
			case "to":
				to, _, _ = strings.Cut(f[i+1], ":")
			case "0x6":
				proto = "tcp"
			case "0x11":
				proto = "udp"
			}
		}
		if strings.Contains(line, "dnat") && port != "" {
			rules = append(rules, fmt.Sprintf("%s %s %s", proto, port, to))
		}
	}
	return rules, nil
}
