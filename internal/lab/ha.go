package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
)

// HA is the second router of Options.HA and what makes the two a pair: keepalived (VRRPv3, 100 ms adverts)
// moving a LAN and a WAN virtual address, conntrackd (FTFW over a link of their own) sharing the connection
// table. Router A (Topology.Router) has the higher priority and starts as the master.
//
//	internet ── WAN switch ──┬── router A (wan0 203.0.113.2) ──┬── LAN switch ── laptop, cameras
//	                         └── router B (wan0 203.0.113.3) ──┘
//	                              A sync0 10.255.0.1 ── B sync0 10.255.0.2
//
// The virtual addresses are Topology.PublicAddr (203.0.113.10, the bookmark) and Topology.RouterLAN
// (192.168.88.1, the LAN's gateway).
type HA struct {
	RouterB   string
	WANSwitch string
	// Own are the routers' own addresses, A's then B's.
	OwnWAN, OwnLAN [2]netip.Addr
	// SyncIf is the routers' link for conntrackd.
	SyncIf string

	procs []*exec.Cmd
	logs  []*SafeBuffer
	// ctConf are the routers' conntrackd configs ("" without conntrackd).
	ctConf [2]string
}

var (
	haOwnWAN  = [2]netip.Addr{netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.3")}
	haOwnLAN  = [2]netip.Addr{netip.MustParseAddr("192.168.88.2"), netip.MustParseAddr("192.168.88.3")}
	haSync    = [2]netip.Addr{netip.MustParseAddr("10.255.0.1"), netip.MustParseAddr("10.255.0.2")}
	haLANVRID = 51
)

// routerFirewall is the one rule of a router's firewall the pair needs: a packet conntrack cannot place is
// dropped, not answered. Right after a takeover the new master holds the addresses a few milliseconds before
// the notify script has committed conntrackd's entries; a packet of an established connection arriving then
// would otherwise reach the router's own stack and be reset. Dropped, it is sent again and finds its entry.
// The counter is the negative control's sign: without conntrackd the entries never come.
const routerFirewall = `table inet labfw {
	counter invalid { }
	chain input { type filter hook input priority filter; policy accept; ct state invalid counter name invalid drop; }
	chain forward { type filter hook forward priority filter; policy accept; ct state invalid counter name invalid drop; }
}
`

// InvalidDropped is how many packets router r's firewall dropped because conntrack could not place them.
func (t *Topology) InvalidDropped(ctx context.Context, r string) (int, error) {
	out, err := Exec(ctx, r, "nft", "list", "counter", "inet", "labfw", "invalid")
	if err != nil {
		return 0, err
	}
	var n int
	if i := strings.Index(out, "packets "); i >= 0 {
		_, _ = fmt.Sscanf(out[i:], "packets %d", &n)
	}
	return n, nil
}

// Routers lists the pair's namespaces, A then B.
func (t *Topology) Routers() []string { return []string{t.Router, t.HA.RouterB} }

func (t *Topology) buildHA(ctx context.Context) error {
	h := t.HA
	s := []step{
		cmdStep{h.WANSwitch, "link add br0 type bridge"},
		cmdStep{h.WANSwitch, "link set br0 type bridge nf_call_iptables 0"},
		cmdStep{h.WANSwitch, "link set br0 up"},
		link{h.WANSwitch, "p-internet", t.Internet, "eth0"},
		addr{t.Internet, "eth0", internetAddr.String() + "/24"},
		cmdStep{t.Switch, "link add br0 type bridge"},
		cmdStep{t.Switch, "link set br0 type bridge nf_call_iptables 0"},
		cmdStep{t.Switch, "link set br0 up"},
		link{t.Router, h.SyncIf, h.RouterB, h.SyncIf},
		link{t.Switch, "p-laptop", t.Laptop, "eth0"},
		addr{t.Laptop, "eth0", laptopAddr.String() + "/24"},
		route{t.Laptop, routerLAN.String()},
	}
	wanPorts, lanPorts := []string{"p-internet"}, []string{"p-laptop"}
	for i, r := range t.Routers() {
		wp, lp := fmt.Sprintf("p-r%d", i), fmt.Sprintf("p-r%d", i)
		wanPorts, lanPorts = append(wanPorts, wp), append(lanPorts, lp)
		s = append(s,
			link{h.WANSwitch, wp, r, t.WANIf},
			addr{r, t.WANIf, h.OwnWAN[i].String() + "/24"},
			link{t.Switch, lp, r, t.LANIf},
			addr{r, t.LANIf, h.OwnLAN[i].String() + "/24"},
			addr{r, h.SyncIf, haSync[i].String() + "/30"},
			route{r, internetAddr.String()},
			sysctl{r, "net.ipv4.ip_forward", "1"},
			// A mid-stream packet with no conntrack entry is invalid, not picked up as a new connection: what
			// survives a failover is what conntrackd carried, not what the kernel guessed.
			sysctl{r, "net.netfilter.nf_conntrack_tcp_loose", "0"},
		)
	}
	for _, r := range t.Routers() {
		s = append(s, nftScript{r, routerFirewall})
	}
	for i, c := range t.Cameras {
		p := fmt.Sprintf("p-cam%d", i)
		lanPorts = append(lanPorts, p)
		s = append(s,
			link{t.Switch, p, c.NS, "eth0"},
			addr{c.NS, "eth0", c.Addr.String() + "/24"},
			route{c.NS, routerLAN.String()},
		)
	}
	if err := t.steps(ctx, s...); err != nil {
		return err
	}
	for sw, ports := range map[string][]string{h.WANSwitch: wanPorts, t.Switch: lanPorts} {
		for _, p := range ports {
			if err := t.ip(ctx, sw, "link set "+p+" master br0"); err != nil {
				return err
			}
		}
	}
	return nil
}

// HAOptions shape the pair StartHA starts.
type HAOptions struct {
	// Sync runs conntrackd on both routers, told of every change of role by keepalived.
	Sync bool
	// OwnWANs leaves the WAN without a virtual address: each router forwards on its own WAN address and the
	// master publishes it (docs/ha.md, "each router its own WAN").
	OwnWANs bool
}

// KeepalivedConf is router i's keepalived.conf: one sync group, so the addresses move together, and
// conntrackd told about every change by notify (ConntrackdNotify) when notify is set; the WAN's virtual
// address unless ownWANs.
func (t *Topology) KeepalivedConf(i int, notify string, ownWANs bool) string {
	prio := 150 - 50*i
	n := ""
	if notify != "" {
		n = fmt.Sprintf("  notify %q\n", notify)
	}
	inst := func(name, ifname string, vrid int, vip string) string {
		return fmt.Sprintf(`vrrp_instance %s {
  state BACKUP
  interface %s
  virtual_router_id %d
  priority %d
  advert_int 0.1
  preempt_delay 1
  virtual_ipaddress {
    %s dev %s
  }
}
`, name, ifname, vrid, prio, vip, ifname)
	}
	group, wan := "    lan\n    wan\n", inst("wan", t.WANIf, haLANVRID+1, publicAddr.String()+"/24")
	if ownWANs {
		group, wan = "    lan\n", ""
	}
	return fmt.Sprintf(`global_defs {
  router_id hairpin-lab-%c
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_sync_group pair {
  group {
%s  }
%s}
`, 'a'+i, group, n) + inst("lan", t.LANIf, haLANVRID, routerLAN.String()+"/24") + wan
}

// ConntrackdConf is router i's conntrackd.conf: FTFW over the sync link, its lock and socket in dir.
func (t *Topology) ConntrackdConf(i int, dir string) string {
	return fmt.Sprintf(`Sync {
	Mode FTFW {
		DisableExternalCache Off
	}
	UDP {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port 3780
		Interface %s
		Checksum on
	}
}
General {
	HashSize 8192
	HashLimit 65536
	Syslog off
	LogFile %[4]s/conntrackd.log
	LockFile %[4]s/conntrackd.lock
	UNIX {
		Path %[4]s/conntrackd.sock
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv4_address %[5]s
		}
	}
}
`, haSync[i], haSync[1-i], t.HA.SyncIf, dir, netip.PrefixFrom(haSync[0], 30).Masked())
}

// ConntrackdNotify is keepalived's notify script for conntrackd, after conntrack-tools' primary-backup.sh:
// a new master commits what the other router sent into its kernel table, then takes over sending; a backup
// shortens the timers of its own stale entries and asks the master for everything. A router coming back
// waits preempt_delay (1 s) as a backup before it takes over again, so the master's connections made
// meanwhile have reached it.
func ConntrackdNotify(conf string) string {
	return fmt.Sprintf(`#!/bin/sh
# keepalived notify: $1 GROUP or INSTANCE, $2 its name, $3 the new state
c="/usr/sbin/conntrackd -C %s"
case "$3" in
MASTER) $c -c; $c -f; $c -R; $c -B ;;
BACKUP) $c -t; $c -n ;;
FAULT) $c -t ;;
esac
exit 0
`, conf)
}

// StartHA starts conntrackd (with opt.Sync) and keepalived on both routers, each with its own config, pid
// files, lock and socket in dir, and waits for router A to be the master.
func (t *Topology) StartHA(ctx context.Context, dir string, opt HAOptions) error {
	for _, p := range []string{"/usr/sbin/keepalived", "/usr/sbin/conntrackd"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install keepalived conntrackd; scripts/deps-lab.sh)", p)
		}
	}
	for i, r := range t.Routers() {
		rd := filepath.Join(dir, fmt.Sprintf("router-%c", 'a'+i))
		if err := os.MkdirAll(rd, 0o700); err != nil {
			return err
		}
		notify := ""
		if opt.Sync {
			conf := filepath.Join(rd, "conntrackd.conf")
			notify = filepath.Join(rd, "notify.sh")
			if err := os.WriteFile(conf, []byte(t.ConntrackdConf(i, rd)), 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(notify, []byte(ConntrackdNotify(conf)), 0o700); err != nil {
				return err
			}
			t.HA.ctConf[i] = conf
			if err := t.startHAProc(r, "/usr/sbin/conntrackd", "-C", conf); err != nil {
				return err
			}
			sock := filepath.Join(rd, "conntrackd.sock")
			if err := poll.Until(ctx, 10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
				return fmt.Errorf("conntrackd on %s did not start: %s", r, t.HA.logs[len(t.HA.logs)-1])
			}
		}
		conf := filepath.Join(rd, "keepalived.conf")
		if err := os.WriteFile(conf, []byte(t.KeepalivedConf(i, notify, opt.OwnWANs)), 0o600); err != nil {
			return err
		}
		if err := t.startHAProc(r, "/usr/sbin/keepalived", "--dont-fork", "--log-console", "--no-syslog", "--vrrp", "-f", conf,
			"-p", filepath.Join(rd, "keepalived.pid"), "-r", filepath.Join(rd, "vrrp.pid")); err != nil {
			return err
		}
	}
	if err := poll.Until(ctx, 15*time.Second, func() bool { m, _ := t.Master(ctx); return m == t.Router }); err != nil {
		return fmt.Errorf("router A never became the master: %s", t.HALog())
	}
	return nil
}

func (t *Topology) startHAProc(ns string, args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	out := &SafeBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	t.procs = append(t.procs, cmd)
	t.HA.procs, t.HA.logs = append(t.HA.procs, cmd), append(t.HA.logs, out)
	return nil
}

// HALog is what keepalived and conntrackd printed, for a failing test.
func (t *Topology) HALog() string {
	var b strings.Builder
	for i, l := range t.HA.logs {
		fmt.Fprintf(&b, "--- %s\n%s\n", strings.Join(t.HA.procs[i].Args[3:4], " "), l.String())
	}
	return b.String()
}

// Master is the router holding the LAN virtual address ("" when none does).
func (t *Topology) Master(ctx context.Context) (string, error) {
	var held []string
	for _, r := range t.Routers() {
		out, err := Exec(ctx, r, "ip", "-4", "-o", "addr", "show", "dev", t.LANIf)
		if err != nil {
			return "", err
		}
		if strings.Contains(out, " "+routerLAN.String()+"/") {
			held = append(held, r)
		}
	}
	switch len(held) {
	case 0:
		return "", nil
	case 1:
		return held[0], nil
	}
	return "", errors.New("both routers hold the LAN virtual address")
}

// Unplug takes all of router r's links down, as when it loses power (down) or brings them back (up).
func (t *Topology) Unplug(ctx context.Context, r string, down bool) error {
	state := "up"
	if down {
		state = "down"
	}
	for _, ifname := range []string{t.LANIf, t.WANIf, t.HA.SyncIf} {
		if err := t.ip(ctx, r, "link set "+ifname+" "+state); err != nil {
			return err
		}
	}
	return nil
}

// ExternalCache is what router i's conntrackd holds from the other router (conntrackd -e ct): the entries it
// commits to the kernel when it becomes the master.
func (t *Topology) ExternalCache(ctx context.Context, i int) (string, error) {
	if t.HA.ctConf[i] == "" {
		return "", errors.New("no conntrackd")
	}
	return Exec(ctx, t.Routers()[i], "/usr/sbin/conntrackd", "-C", t.HA.ctConf[i], "-e", "ct")
}
