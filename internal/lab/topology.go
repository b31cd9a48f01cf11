// Package lab builds the background article's home network out of network namespaces: an internet host, the
// router that runs hairpin, a LAN switch in a namespace of its own, four IP cameras and a laptop. The demo
// (`hairpin lab`) and the integration tests share it, so what the demo shows is what the tests prove.
//
// The LAN switch is a bridge in its own namespace on purpose: with the bridge inside the router namespace,
// br_netfilter would un-NAT bridged replies and hide the very bug hairpin fixes.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Camera is one host on the LAN answering HTTP (and UDP echo) with its own name.
type Camera struct {
	Name string
	NS   string
	Addr netip.Addr
	Port int // external port on the public address
}

// Topology is a built lab. All names are namespace names.
type Topology struct {
	Prefix   string
	Internet string
	ISPBox   string // only with DoubleNAT: the upstream NAT box between internet and router
	Router   string
	Switch   string
	Laptop   string
	Cameras  []Camera

	// Addresses.
	InternetAddr netip.Addr // the internet client's address
	PublicAddr   netip.Addr // the public address of the home (router WAN, or the ISP box's outside)
	RouterWAN    netip.Addr // the router's WAN address (equals PublicAddr without double NAT)
	RouterLAN    netip.Addr
	LaptopAddr   netip.Addr
	LANNet       netip.Prefix

	// Interface names inside the router namespace.
	WANIf, LANIf string

	// Bin is the hairpin binary used to run servers and the router's hairpin.
	Bin string
	// V6 is the IPv6 side; nil without Options.IPv6.
	V6 *Lab6
	// HA is the second router of an HA pair (ha.go); nil without Options.HA.
	HA *HA

	namespaces []string
	procs      []*exec.Cmd
	dirs       []string // removed at Close
	boxDir     string   // the UPnP box's miniupnpd config, log and leases
	miniupnpd  *exec.Cmd
	isp        string // Options.ISP
}

// Options shape the topology.
type Options struct {
	// Prefix names the namespaces (PREFIX-router, ...). Empty means a random one.
	Prefix string
	// DoubleNAT puts an ISP box between the internet and the router: the router's WAN address is private and
	// the box forwards everything for the public address to it.
	DoubleNAT bool
	// ISP, when set, is the kind of box in front of the router instead of DoubleNAT's DMZ box: ISPUPnP runs
	// miniupnpd (isp.go).
	ISP string
	// NoWANAddr leaves the router's WAN interface without an address (DHCP or PPPoE still coming up).
	NoWANAddr bool
	// Bin is the hairpin binary; empty means this executable.
	Bin string
	// IPv6 gives the internet, the router and the LAN IPv6 as well (ipv6.go); only without an ISP box.
	IPv6 bool
	// HA builds two routers sharing virtual addresses instead of one (ha.go); StartHA starts the pair.
	HA bool
}

// Fixed addressing, from the documentation ranges and the article's LAN.
var (
	lanNet       = netip.MustParsePrefix("192.168.88.0/24")
	routerLAN    = netip.MustParseAddr("192.168.88.1")
	laptopAddr   = netip.MustParseAddr("192.168.88.50")
	internetAddr = netip.MustParseAddr("203.0.113.1")
	publicAddr   = netip.MustParseAddr("203.0.113.10")
	ispLANAddr   = netip.MustParseAddr("192.168.1.1")
	routerWANNAT = netip.MustParseAddr("192.168.1.2")
)

// CameraNames are the article's four cameras.
var CameraNames = []string{"front-cam", "back-cam", "pool-cam", "driveway-cam"}

// RandomPrefix returns a short unique namespace prefix for tests.
func RandomPrefix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "hp" + hex.EncodeToString(b)
}

// Build creates the namespaces and links. On error everything created so far is removed.
func Build(ctx context.Context, opt Options) (*Topology, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (apt-get install iproute2 nftables)", tool)
		}
	}
	if opt.Prefix == "" {
		opt.Prefix = RandomPrefix()
	}
	if opt.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opt.Bin = exe
	}
	p := opt.Prefix
	t := &Topology{
		Prefix: p, Internet: p + "-internet", Router: p + "-router", Switch: p + "-switch", Laptop: p + "-laptop",
		InternetAddr: internetAddr, PublicAddr: publicAddr, RouterWAN: publicAddr, RouterLAN: routerLAN,
		LaptopAddr: laptopAddr, LANNet: lanNet, WANIf: "wan0", LANIf: "lan0", Bin: opt.Bin,
	}
	if opt.DoubleNAT || opt.ISP != "" {
		t.ISPBox = p + "-ispbox"
		t.RouterWAN = routerWANNAT
	}
	t.isp = opt.ISP
	switch opt.ISP {
	case ISPUPnP:
		t.InternetAddr, t.PublicAddr = upnpInternetAddr, upnpPublicAddr
	case ISPCGNAT:
		t.ISPBox, t.RouterWAN = p+"-cgn", cgnRouter
	case ISPDSLite:
		t.ISPBox, t.RouterWAN, t.WANIf = p+"-aftr", b4Addr, "ds0"
	case "":
	default:
		return nil, fmt.Errorf("unknown ISP kind %q (one of %v)", opt.ISP, ISPKinds)
	}
	if opt.HA {
		if opt.ISP != "" || opt.DoubleNAT || opt.IPv6 || opt.NoWANAddr {
			return nil, errors.New("the lab's HA pair has its own WAN: no ISP box, double NAT, IPv6 or missing WAN address")
		}
		t.Router = p + "-ra"
		t.HA = &HA{RouterB: p + "-rb", WANSwitch: p + "-wsw", OwnWAN: haOwnWAN, OwnLAN: haOwnLAN, SyncIf: "sync0"}
	}
	for i, name := range CameraNames {
		t.Cameras = append(t.Cameras, Camera{Name: name, NS: fmt.Sprintf("%s-cam%d", p, i),
			Addr: netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}), Port: 8090 + i})
	}
	if err := t.build(ctx, opt); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Topology) build(ctx context.Context, opt Options) error {
	hosts := []string{t.Internet, t.Router, t.Switch, t.Laptop}
	if t.ISPBox != "" {
		hosts = append(hosts, t.ISPBox)
	}
	if t.HA != nil {
		hosts = append(hosts, t.HA.RouterB, t.HA.WANSwitch)
	}
	for _, c := range t.Cameras {
		hosts = append(hosts, c.NS)
	}
	for _, ns := range hosts {
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			return err
		}
		t.namespaces = append(t.namespaces, ns)
		if err := t.ip(ctx, ns, "link set lo up"); err != nil {
			return err
		}
	}
	if t.HA != nil {
		return t.buildHA(ctx)
	}
	if err := t.buildWAN(ctx, opt); err != nil {
		return err
	}
	if err := t.buildLAN(ctx); err != nil {
		return err
	}
	if opt.IPv6 {
		if t.ISPBox != "" {
			return errors.New("the lab's IPv6 runs without an ISP box")
		}
		return t.buildIPv6(ctx)
	}
	return nil
}

func (t *Topology) buildWAN(ctx context.Context, opt Options) error {
	wanAddr := ""
	if !opt.NoWANAddr {
		wanAddr = t.RouterWAN.String() + "/24"
	}
	switch opt.ISP {
	case ISPUPnP:
		return t.buildUPnPBox(ctx, wanAddr)
	case ISPCGNAT:
		return t.buildCGN(ctx)
	case ISPDSLite:
		return t.buildAFTR(ctx)
	}
	if t.ISPBox == "" {
		// internet eth0 <-> router wan0, one /24 of documentation addresses.
		return t.steps(ctx,
			link{t.Internet, "eth0", t.Router, t.WANIf},
			addr{t.Internet, "eth0", internetAddr.String() + "/24"},
			addr{t.Router, t.WANIf, wanAddr},
			route{t.Router, internetAddr.String()},
			sysctl{t.Router, "net.ipv4.ip_forward", "1"},
		)
	}
	return t.steps(ctx, t.ispBoxSteps(internetAddr, publicAddr, netip.PrefixFrom(ispLANAddr, 24), wanAddr, ispBoxRules(routerWANNAT))...)
}

// ispBoxSteps wire a box in front of the router (ISP box, UPnP box, CGN): internet eth0 (internet) <-> box
// wan0 (public), box lan0 (boxLAN, the router's gateway) <-> router's WAN (wanAddr), both forwarding, and
// rules loaded on the box.
func (t *Topology) ispBoxSteps(internet, public netip.Addr, boxLAN netip.Prefix, wanAddr, rules string) []step {
	return []step{
		link{t.Internet, "eth0", t.ISPBox, "wan0"},
		addr{t.Internet, "eth0", internet.String() + "/24"},
		addr{t.ISPBox, "wan0", public.String() + "/24"},
		link{t.ISPBox, "lan0", t.Router, t.WANIf},
		addr{t.ISPBox, "lan0", boxLAN.String()},
		addr{t.Router, t.WANIf, wanAddr},
		route{t.Router, boxLAN.Addr().String()},
		route{t.ISPBox, internet.String()},
		sysctl{t.Router, "net.ipv4.ip_forward", "1"},
		sysctl{t.ISPBox, "net.ipv4.ip_forward", "1"},
		nftScript{t.ISPBox, rules},
	}
}

// ispBoxRules is what a consumer ISP box in "DMZ host" mode does: forward everything that arrives for its
// public address to the router, and masquerade the router's traffic out.
func ispBoxRules(router netip.Addr) string {
	return fmt.Sprintf(`table ip ispbox {
	chain pre {
		type nat hook prerouting priority dstnat; iifname "wan0" ip daddr %s dnat ip to %s
	}
	chain post {
		type nat hook postrouting priority srcnat; oifname "wan0" masquerade
	}
}
`, publicAddr, router)
}

func (t *Topology) buildLAN(ctx context.Context) error {
	s := []step{
		cmdStep{t.Switch, "link add br0 type bridge"},
		// Keep the switch a plain L2 switch even where br_netfilter is loaded.
		cmdStep{t.Switch, "link set br0 type bridge nf_call_iptables 0"},
		cmdStep{t.Switch, "link set br0 up"},
		link{t.Switch, "p-router", t.Router, t.LANIf},
		addr{t.Router, t.LANIf, routerLAN.String() + "/24"},
		link{t.Switch, "p-laptop", t.Laptop, "eth0"},
		addr{t.Laptop, "eth0", laptopAddr.String() + "/24"},
		route{t.Laptop, routerLAN.String()},
	}
	for i, c := range t.Cameras {
		s = append(s,
			link{t.Switch, fmt.Sprintf("p-cam%d", i), c.NS, "eth0"},
			addr{c.NS, "eth0", c.Addr.String() + "/24"},
			route{c.NS, routerLAN.String()},
		)
	}
	if err := t.steps(ctx, s...); err != nil {
		return err
	}
	for _, port := range []string{"p-router", "p-laptop", "p-cam0", "p-cam1", "p-cam2", "p-cam3"} {
		if err := t.ip(ctx, t.Switch, "link set "+port+" master br0"); err != nil {
			return err
		}
	}
	return nil
}

// Namespaces lists every namespace of the lab.
func (t *Topology) Namespaces() []string { return append([]string(nil), t.namespaces...) }

// Close stops the processes the lab started (by PID) and deletes its namespaces.
func (t *Topology) Close() {
	for _, p := range t.procs {
		StopProcess(p)
	}
	t.procs = nil
	for _, ns := range t.namespaces {
		_ = run(context.Background(), "ip", "netns", "del", ns)
	}
	t.namespaces = nil
	for _, d := range t.dirs {
		_ = os.RemoveAll(d)
	}
	t.dirs = nil
}

// Detach forgets the lab's processes and namespaces without stopping them (for `hairpin lab --keep`).
func (t *Topology) Detach() (pids []int) {
	for _, p := range t.procs {
		pids = append(pids, p.Process.Pid)
	}
	t.procs, t.namespaces, t.dirs = nil, nil, nil
	return pids
}

// StopProcess ends a process this program started: SIGTERM, then SIGKILL after 3 s, and reaps it.
func StopProcess(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

// Start runs the hairpin binary with args inside namespace ns and keeps it running until Close; output goes
// to the returned buffer-backed writer so a test can show it on failure.
func (t *Topology) Start(ns string, args ...string) (*exec.Cmd, *SafeBuffer, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, t.Bin}, args...)...)
	out := &SafeBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a terminal's Ctrl-C reaches only the lab, which then stops it by PID.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	t.procs = append(t.procs, cmd)
	return cmd, out, nil
}

// StartToFile is Start with the output going straight to a file, for processes that must outlive this
// program (`hairpin lab --keep`): a pipe to a program that has exited would kill them on their next log line.
func (t *Topology) StartToFile(ns, logPath string, args ...string) (*exec.Cmd, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, t.Bin}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.procs = append(t.procs, cmd)
	return cmd, nil
}

// Stop ends one process started with Start.
func (t *Topology) Stop(c *exec.Cmd) {
	for i, p := range t.procs {
		if p == c {
			t.procs = append(t.procs[:i], t.procs[i+1:]...)
			break
		}
	}
	StopProcess(c)
}

// Exec runs a command inside namespace ns and returns its combined output.
func Exec(ctx context.Context, ns string, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// IP runs `ip -n ns ARGS`.
func (t *Topology) ip(ctx context.Context, ns, args string) error {
	return run(ctx, "ip", append([]string{"-n", ns}, strings.Fields(args)...)...)
}

// IP runs an ip(8) command inside namespace ns, e.g. t.IP(ctx, t.Router, "addr add 203.0.113.11/24 dev wan0").
func (t *Topology) IP(ctx context.Context, ns, args string) error { return t.ip(ctx, ns, args) }

func run(ctx context.Context, name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
