package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// runningDaemon is a `hairpin run` started in the lab's router namespace.
type runningDaemon struct {
	cmd    *exec.Cmd
	log    *lab.SafeBuffer
	socket string
	config string
}

// daemonConfig is the lab's config with a status socket of the test's own and extra top-level YAML.
func daemonConfig(t *testing.T, topo *lab.Topology, extra string) (cfgPath, socket string) {
	t.Helper()
	dir := t.TempDir()
	socket = filepath.Join(dir, "hairpin.sock")
	text := fmt.Sprintf("daemon:\n  status: %s\n  resync: 1s\nstate_dir: %s\n%s%s", socket, dir, extra, topo.Config())
	cfgPath = filepath.Join(dir, "hairpin.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, socket
}

func startDaemon(t *testing.T, topo *lab.Topology, cfgPath, socket string) *runningDaemon {
	t.Helper()
	cmd, out, err := topo.Start(topo.Router, "run", "-c", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d := &runningDaemon{cmd: cmd, log: out, socket: socket, config: cfgPath}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", out.String())
		}
	})
	d.waitStatus(t, "rules installed", func(s *daemon.Status) bool { return s.Installed })
	return d
}

func (d *runningDaemon) waitStatus(t *testing.T, what string, cond func(*daemon.Status) bool) *daemon.Status {
	t.Helper()
	var last *daemon.Status
	ctx := context.Background()
	err := poll.Until(ctx, 15*time.Second, func() bool {
		s, err := daemon.Fetch(ctx, d.socket)
		if err != nil {
			return false
		}
		last = s
		return cond(s)
	})
	if err != nil {
		t.Fatalf("daemon status never showed %s; last status: %+v", what, last)
	}
	return last
}

func (d *runningDaemon) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *runningDaemon) stop(t *testing.T) {
	t.Helper()
	d.signal(t, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exited with %v after SIGTERM; log:\n%s", err, d.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not exit within 10s of SIGTERM")
	}
}

// reaches polls until ns gets an answer from the named camera at addr:port, or fails the test.
func reaches(t *testing.T, ns, target, want string) {
	t.Helper()
	ctx := context.Background()
	var a lab.Answer
	err := poll.Until(ctx, 10*time.Second, func() bool {
		a = lab.HTTPGet(ctx, ns, "http://"+target+"/", 500*time.Millisecond)
		return a.OK() && a.Server == want
	})
	if err != nil {
		t.Fatalf("%s never reached %s at %s: last answer %v", ns, want, target, a)
	}
}

// doesNotReach polls until ns gets no answer from target, with a positive sign of why: a reset or an ICMP
// error, or, where nothing in the network answers at all (an address nobody holds any more, a port the box in
// front does not map), gone: what shows the forward is gone (the WAN set without the address, the box without
// the mapping). A timeout alone would pass on a busy machine without proving anything. The daemon adds a new
// address before it retires the old one, so for a few milliseconds both forward; after that the old one must
// stop for good.
func doesNotReach(t *testing.T, ns, target string, gone func() bool) {
	t.Helper()
	var a lab.Answer
	var shown bool
	err := poll.Until(context.Background(), 10*time.Second, func() bool {
		a = lab.HTTPGet(context.Background(), ns, "http://"+target+"/", 700*time.Millisecond)
		shown = a.Refused() || (gone != nil && gone())
		return !a.OK() && shown
	})
	switch {
	case err == nil:
	case a.OK():
		t.Fatalf("%s still reaches %s: %v", ns, target, a)
	default:
		t.Fatalf("%s gets no answer from %s (%v) but nothing shows why: no reset, no ICMP error, the forward not gone", ns, target, a)
	}
}

// wanSetLacks is the sign that addr no longer forwards: hairpin's WAN set in the router does not hold it.
func wanSetLacks(topo *lab.Topology, addr string) func() bool {
	return func() bool {
		out, err := lab.Exec(context.Background(), topo.Router, "nft", "list", "set", "ip", "hairpin", "wan_addrs")
		if err != nil {
			return strings.Contains(out, "No such file") // no table at all
		}
		return !strings.Contains(out, addr+",") && !strings.Contains(out, addr+" }") && !strings.Contains(out, addr+"\n")
	}
}

// TestDaemonFollowsWANChange: the address moves within the subnet, then to a new subnet; the forwards follow
// and the old address stops forwarding.
func TestDaemonFollowsWANChange(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{})
	cfg, sock := daemonConfig(t, topo, "")
	d := startDaemon(t, topo, cfg, sock)
	ctx := context.Background()
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")

	mustIP(t, topo, topo.Router, "addr del 203.0.113.10/24 dev wan0", "addr add 203.0.113.11/24 dev wan0", "route replace default via 203.0.113.1")
	reaches(t, topo.Laptop, "203.0.113.11:8091", "back-cam")
	reaches(t, topo.Internet, "203.0.113.11:8091", "back-cam")
	doesNotReach(t, topo.Laptop, "203.0.113.10:8091", wanSetLacks(topo, "203.0.113.10"))

	// A new subnet: the ISP renumbers the link.
	mustIP(t, topo, topo.Internet, "addr add 198.51.100.1/24 dev eth0")
	mustIP(t, topo, topo.Router, "addr del 203.0.113.11/24 dev wan0", "addr add 198.51.100.10/24 dev wan0", "route replace default via 198.51.100.1")
	reaches(t, topo.Laptop, "198.51.100.10:8092", "pool-cam")
	reaches(t, topo.Internet, "198.51.100.10:8092", "pool-cam")
	doesNotReach(t, topo.Laptop, "203.0.113.11:8092", wanSetLacks(topo, "203.0.113.11"))

	st := d.waitStatus(t, "the new address", func(s *daemon.Status) bool { return strings.Join(s.ForwardSet, ",") == "198.51.100.10" })
	for _, f := range st.Forwards {
		if (f.Name == "back-cam" || f.Name == "pool-cam") && (f.Packets == 0 || f.Bytes == 0) {
			t.Errorf("status counters for %s are zero after traffic: %+v", f.Name, f)
		}
		if f.Name == "driveway-cam" && f.Packets != 0 {
			t.Errorf("driveway-cam carried no traffic but counts %d packets", f.Packets)
		}
	}
	if !strings.Contains(d.log.String(), "WAN address set updated") {
		t.Errorf("an address change must update only the WAN set; log:\n%s", d.log.String())
	}
	var events []string
	for _, e := range st.Events {
		events = append(events, e.Message)
	}
	if !strings.Contains(strings.Join(events, "\n"), "WAN address changed") {
		t.Errorf("status events lack the address change: %v", events)
	}
	_ = ctx
}

func mustIP(t *testing.T, topo *lab.Topology, ns string, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if err := topo.IP(context.Background(), ns, c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDaemonWANAppearsLater: the daemon starts while the WAN interface does not exist (PPPoE not up yet) and
// fills in the forwards when it appears.
func TestDaemonWANAppearsLater(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{NoWANAddr: true})
	mustIP(t, topo, topo.Router, "link set wan0 down", "link set wan0 name ppp9")
	cfg, sock := daemonConfig(t, topo, "")
	text, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(text), "interface: wan0", "interface: wan0x", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, topo, cfg, sock)
	d.waitStatus(t, "WAN missing", func(s *daemon.Status) bool { return !s.WANExists && len(s.ForwardSet) == 0 })

	mustIP(t, topo, topo.Router, "link set ppp9 name wan0x", "addr add 203.0.113.10/24 dev wan0x", "link set wan0x up", "route replace default via 203.0.113.1")
	reaches(t, topo.Internet, "203.0.113.10:8090", "front-cam")
	reaches(t, topo.Laptop, "203.0.113.10:8093", "driveway-cam")
}

// TestDaemonResyncRepairsTable: someone deletes hairpin's table; the periodic resync puts it back.
func TestDaemonResyncRepairsTable(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{})
	cfg, sock := daemonConfig(t, topo, "")
	d := startDaemon(t, topo, cfg, sock)
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")
	// Frozen, the daemon cannot resync between the deletion and the negative control.
	d.signal(t, syscall.SIGSTOP)
	if _, err := lab.Exec(context.Background(), topo.Router, "nft", "delete", "table", "ip", "hairpin"); err != nil {
		t.Fatal(err)
	}
	doesNotReach(t, topo.Laptop, "203.0.113.10:8090", func() bool { return tableText(t, topo) == "" }) // negative control: the deletion did break forwarding
	d.signal(t, syscall.SIGCONT)
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")
}

// TestDaemonSignals: SIGHUP with a broken config keeps the old forwards; SIGHUP with a good one applies it;
// SIGTERM leaves the rules in place.
func TestDaemonSignals(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{})
	cfg, sock := daemonConfig(t, topo, "")
	d := startDaemon(t, topo, cfg, sock)
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")
	good, _ := os.ReadFile(cfg)

	if err := os.WriteFile(cfg, append(good, []byte("  - name: front-cam\n    port: 99999\n    to: nowhere\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	d.waitStatus(t, "the rejected reload", func(s *daemon.Status) bool {
		return slices.ContainsFunc(s.Events, func(e daemon.Event) bool { return strings.HasPrefix(e.Message, "reload rejected") })
	})
	// The event is in the status as soon as the loop records it; the log line reaches d.log through the
	// daemon's stderr pipe a moment later.
	for _, want := range []string{"port 99999 is out of range", "duplicate name"} {
		if err := poll.Until(context.Background(), 5*time.Second, func() bool { return strings.Contains(d.log.String(), want) }); err != nil {
			t.Errorf("the rejection does not say %q:\n%s", want, d.log.String())
		}
	}
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")

	// A good config with a new forward to the back camera on 9000.
	next := strings.Replace(string(good), "port: 8091", "port: 9000", 1)
	if err := os.WriteFile(cfg, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	reaches(t, topo.Laptop, "203.0.113.10:9000", "back-cam")
	doesNotReach(t, topo.Laptop, "203.0.113.10:8091", nil) // the router resets: its own address, no forward

	d.stop(t)
	reaches(t, topo.Laptop, "203.0.113.10:9000", "back-cam")
	reaches(t, topo.Internet, "203.0.113.10:8090", "front-cam")
}

// TestDoubleNAT: an ISP box in front of the router NATs the public address to the router's private WAN
// address. The daemon learns the public address from a "what is my IP" service on the internet host; the
// internet reaches the camera through both NATs with its real address, and the laptop reaches it on the public
// address, hairpinned by the router itself (the camera sees the router's LAN address).
func TestDoubleNAT(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{DoubleNAT: true})
	if _, _, err := topo.Start(topo.Internet, "lab", "serve", "--whoami", "8080"); err != nil {
		t.Fatal(err)
	}
	if err := poll.Until(context.Background(), 10*time.Second, func() bool {
		return lab.HTTPGet(context.Background(), topo.Router, "http://203.0.113.1:8080/", time.Second).Err != nil &&
			strings.Contains(lab.HTTPGet(context.Background(), topo.Router, "http://203.0.113.1:8080/", time.Second).Err.Error(), "unexpected answer")
	}); err != nil {
		t.Fatal("the whoami service on the internet host did not start")
	}
	cfg, sock := daemonConfig(t, topo, "")
	setWAN(t, cfg, "wan:\n  interface: wan0\n  public_ip: [\"http://203.0.113.1:8080/ip\"]\n  double_nat: auto\n")
	d := startDaemon(t, topo, cfg, sock)
	st := d.waitStatus(t, "the public address in the forwarding set", func(s *daemon.Status) bool {
		return s.DoubleNAT && s.Public == "203.0.113.10" && strings.Join(s.ForwardSet, ",") == "192.168.1.2,203.0.113.10"
	})
	if !strings.Contains(st.PublicFrom, "203.0.113.1:8080") {
		t.Errorf("public address source = %q", st.PublicFrom)
	}
	ctx := context.Background()
	if a := lab.HTTPGet(ctx, topo.Internet, "http://203.0.113.10:8090/", lab.ProbeTimeout); a.Server != "front-cam" || a.Caller != topo.InternetAddr {
		t.Errorf("internet through both NATs: got %v, want front-cam seeing %s", a, topo.InternetAddr)
	}
	reaches(t, topo.Laptop, "203.0.113.10:8091", "back-cam")
	if a := lab.HTTPGet(ctx, topo.Laptop, "http://203.0.113.10:8091/", lab.ProbeTimeout); a.Caller != topo.RouterLAN {
		t.Errorf("laptop on the public address: camera saw %v, want the router's LAN address %s", a, topo.RouterLAN)
	}

	// Negative control: without double-NAT handling the public address is not forwarded by the router, and
	// the ISP box does not hairpin, so the laptop fails.
	d.stop(t)
	off := writeConfig(t, topo.Config())
	setWAN(t, off, "wan:\n  interface: wan0\n  double_nat: off\n")
	mustApply(t, topo, off)
	doesNotReach(t, topo.Laptop, "203.0.113.10:8091", wanSetLacks(topo, "203.0.113.10"))
}

// setWAN replaces the wan section of a lab config.
func setWAN(t *testing.T, cfg, section string) {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(text), "wan:\n  interface: wan0\n", section, 1)
	if out == string(text) {
		t.Fatal("no wan section to replace")
	}
	if err := os.WriteFile(cfg, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
