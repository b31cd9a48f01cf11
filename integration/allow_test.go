package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// allowLab is the camera lab with a second internet host ("other") and a BIND server in the internet
// namespace holding phone.example.net, the address of the owner's phone.
type allowLab struct {
	topo      *lab.Topology
	other     string // namespace of the second internet host
	otherAddr netip.Addr
	dns       *lab.DNSServer
}

const phoneTTL = 2 * time.Second

func newAllowLab(t *testing.T, phone netip.Addr) *allowLab {
	t.Helper()
	topo, _ := labWithCameras(t, lab.Options{})
	ctx := context.Background()
	other, otherAddr, err := topo.AddInternetHost(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	dns, err := topo.StartDNS(ctx, t.TempDir(), phoneTTL, map[string]netip.Addr{"phone": phone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Stop) // before its directory goes
	return &allowLab{topo: topo, other: other, otherAddr: otherAddr, dns: dns}
}

// get fetches a camera through the public address from namespace ns.
func (l *allowLab) get(ns string, port int) lab.Answer {
	return lab.HTTPGet(context.Background(), ns, fmt.Sprintf("http://%s:%d/", l.topo.PublicAddr, port), lab.ProbeTimeout)
}

// allowConfig restricts the front camera to the internet host's address, the back camera to the owner's
// phone (a hostname), and limits new connections to the pool camera; the driveway camera stays open.
func (l *allowLab) config(t *testing.T, guarded bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "hairpin.sock")
	guards := [4]string{}
	if guarded {
		guards = [4]string{
			fmt.Sprintf("    allow: [%s]\n", l.topo.InternetAddr),
			"    allow: [phone.example.net]\n",
			// 10 an hour: a slow run of the connection test (one refill would take 6 minutes) cannot let
			// an 11th through.
			"    limit: {new_per_source: 10/hour}\n",
			"",
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "daemon:\n  status: %s\n  resolver: %s\nstate_dir: %s\nwan: {interface: %s}\nlan: {interface: %s}\nforwards:\n",
		socket, l.dns.Addr, dir, l.topo.WANIf, l.topo.LANIf)
	for i, c := range l.topo.Cameras {
		fmt.Fprintf(&b, "  - name: %s\n    port: %d\n    to: %s:80\n%s", c.Name, c.Port, c.Addr, guards[i])
	}
	path := filepath.Join(dir, "hairpin.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, socket
}

// TestAllowlists: two internet hosts, one allowed and one not, with the open forward as the negative control;
// the laptop (hairpin) and the router reach a restricted camera regardless; a hostname's address changes at
// BIND and access follows within its TTL.
func TestAllowlists(t *testing.T) {
	t.Parallel()
	needRoot(t)
	l := newAllowLab(t, netip.MustParseAddr("198.51.100.66"))
	topo := l.topo
	front, back, driveway := topo.Cameras[0], topo.Cameras[1], topo.Cameras[3]

	// Negative control: without allow lists both internet hosts reach every camera, so a failure below is
	// the allowlist's doing and not the lab's.
	open, _ := l.config(t, false)
	mustApply(t, topo, open)
	for _, c := range []lab.Camera{front, back} {
		for _, from := range []struct {
			ns   string
			addr netip.Addr
		}{{topo.Internet, topo.InternetAddr}, {l.other, l.otherAddr}} {
			if a := l.get(from.ns, c.Port); !a.OK() || a.Server != c.Name || a.Caller != from.addr {
				t.Fatalf("without allow lists %s from %s: %v", c.Name, from.addr, a)
			}
		}
	}

	cfg, socket := l.config(t, true)
	d := startDaemon(t, topo, cfg, socket)

	// The front camera: the internet host is allowed, the other is not, and its drops are counted.
	if a := l.get(topo.Internet, front.Port); !a.OK() || a.Caller != topo.InternetAddr {
		t.Errorf("allowed internet host to %s: %v", front.Name, a)
	}
	d.mustDrop(t, "the other internet host to "+front.Name, front.Name, false, func() lab.Answer { return l.get(l.other, front.Port) })
	st := d.waitStatus(t, "front-cam drops counted", func(s *daemon.Status) bool { return forward(s, front.Name).DroppedAllow > 0 })
	if f := forward(st, front.Name); len(f.Allow) != 1 {
		t.Errorf("status must show the allow list: %+v", f)
	}
	// The open forward is the control on the same daemon: the other host still reaches it.
	if a := l.get(l.other, driveway.Port); !a.OK() {
		t.Errorf("an open forward must stay open to everyone: %v", a)
	}
	// The LAN (hairpin) and the router always reach a restricted forward.
	if a := l.get(topo.Laptop, front.Port); !a.OK() || a.Server != front.Name {
		t.Errorf("the laptop must reach %s through hairpin regardless of the allowlist: %v", front.Name, a)
	}
	if a := l.get(topo.Router, front.Port); !a.OK() || a.Server != front.Name {
		t.Errorf("the router must reach %s regardless of the allowlist: %v", front.Name, a)
	}

	// The back camera follows the phone's hostname: now the other host's address.
	if a := l.get(l.other, back.Port); !a.OK() {
		t.Errorf("the phone's address must reach %s: %v", back.Name, a)
	}
	d.mustDrop(t, "an address the phone's name does not have, to "+back.Name, back.Name, false, func() lab.Answer { return l.get(topo.Internet, back.Port) })
	// The phone moves to the internet host's address at the DNS server.
	ctx := context.Background()
	moved := time.Now()
	if err := l.dns.SetA(ctx, "phone", topo.InternetAddr, phoneTTL); err != nil {
		t.Fatal(err)
	}
	// Within the TTL (plus the probe's own time and a margin for a loaded machine).
	if err := poll.Until(ctx, phoneTTL+5*time.Second, func() bool { return l.get(topo.Internet, back.Port).OK() }); err != nil {
		t.Fatalf("access did not follow the hostname's new address: %v", err)
	}
	t.Logf("access followed the DNS change in %s (TTL %s)", time.Since(moved).Round(time.Millisecond), phoneTTL)
	d.mustDrop(t, "the phone's old address to "+back.Name, back.Name, false, func() lab.Answer { return l.get(l.other, back.Port) })
	if !strings.Contains(d.log.String(), "allowed host addresses updated") {
		t.Errorf("the daemon must update the host set in place, not re-apply:\n%s", d.log.String())
	}
}

// TestConnectionLimit: the 11th new connection in an hour from one source is dropped and counted, another
// source still connects, and an unlimited forward takes the same burst (the negative control).
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	needRoot(t)
	l := newAllowLab(t, netip.MustParseAddr("192.0.2.1"))
	topo := l.topo
	pool, driveway := topo.Cameras[2], topo.Cameras[3]
	cfg, socket := l.config(t, true)
	d := startDaemon(t, topo, cfg, socket)

	// Negative control: the open forward takes 12 new connections in a row from one source.
	for i := 1; i <= 12; i++ {
		if a := l.get(topo.Internet, driveway.Port); !a.OK() {
			t.Fatalf("connection %d to the unlimited %s failed: %v", i, driveway.Name, a)
		}
	}
	for i := 1; i <= 10; i++ {
		if a := l.get(topo.Internet, pool.Port); !a.OK() {
			t.Fatalf("connection %d of 10 to %s failed: %v", i, pool.Name, a)
		}
	}
	d.mustDrop(t, "the 11th new connection in a row to "+pool.Name, pool.Name, true, func() lab.Answer { return l.get(topo.Internet, pool.Port) })
	if a := l.get(l.other, pool.Port); !a.OK() {
		t.Errorf("another source must still connect to %s: %v", pool.Name, a)
	}
	st := d.waitStatus(t, "limit drops counted", func(s *daemon.Status) bool { return forward(s, pool.Name).DroppedLimit > 0 })
	if f := forward(st, pool.Name); f.Limit != "10/hour burst 10" || f.DroppedAllow != 0 {
		t.Errorf("status of %s: %+v", pool.Name, f)
	}
	// The LAN is never limited.
	for i := 1; i <= 3; i++ {
		if a := l.get(topo.Laptop, pool.Port); !a.OK() {
			t.Errorf("the laptop must never be limited: %v", a)
		}
	}
	metrics := fetchMetrics(t, socket)
	if !strings.Contains(metrics, fmt.Sprintf(`hairpin_forward_dropped_packets_total{forward=%q,reason="limit"}`, pool.Name)) {
		t.Errorf("/metrics lacks the limit drops:\n%s", metrics)
	}
}

func forward(s *daemon.Status, name string) daemon.ForwardStatus {
	for _, f := range s.Forwards {
		if f.Name == name {
			return f
		}
	}
	return daemon.ForwardStatus{}
}

// fetchMetrics reads /metrics from the daemon's unix socket.
func fetchMetrics(t *testing.T, socket string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", socket)
	}}}
	resp, err := client.Get("http://hairpin/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestAllowlistGuestInterface: a host on a third interface of the router (a guest network, rp_filter off)
// that sends from a LAN address is checked like any internet source: its datagrams to an allow-listed camera
// are dropped and counted, and the camera sees none. The guard let them through while it took "anything but
// the WAN with a LAN source" for the LAN. Controls: the same source address from the LAN itself reaches the
// camera (so the camera's counter would see the spoof), and the guest's own address is dropped too.
func TestAllowlistGuestInterface(t *testing.T) {
	t.Parallel()
	needRoot(t)
	topo, _ := labWithCameras(t, lab.Options{})
	ctx := context.Background()
	guest, guestAddr, err := topo.AddGuestHost(ctx, "guest")
	if err != nil {
		t.Fatal(err)
	}
	front := topo.Cameras[0]
	cfg := writeConfig(t, fmt.Sprintf("wan: {interface: %s}\nlan: {interface: %s}\nforwards:\n  - {name: %s, port: %d, to: %s:80, protocol: udp, allow: [%s]}\n",
		topo.WANIf, topo.LANIf, front.Name, front.Port, front.Addr, topo.InternetAddr))
	mustApply(t, topo, cfg)

	// A LAN address no host uses, which the guest and (for the control) the laptop send from.
	b := topo.LANNet.Addr().As4()
	b[3] = 251
	spoof := netip.AddrFrom4(b)
	// The camera counts every datagram that reaches it (from the LAN they come masqueraded, as hairpin does);
	// the rule lives in the camera's namespace.
	for _, cmd := range []string{"add table ip observe", "add chain ip observe in { type filter hook input priority 0 ; }",
		"add rule ip observe in udp dport 80 counter"} {
		if out, err := lab.Exec(ctx, front.NS, "nft", cmd); err != nil {
			t.Fatalf("camera's counter: %v: %s", err, out)
		}
	}
	cameraSaw := func() int { return nftPackets(t, front.NS, "list", "chain", "ip", "observe", "in") }
	dropped := func() int {
		return nftPackets(t, topo.Router, "list", "counter", "ip", "hairpin", "drop_allow_"+front.Name)
	}
	target := netip.AddrPortFrom(topo.PublicAddr, uint16(front.Port))
	send := func(ns string, from netip.Addr) {
		t.Helper()
		if out, err := lab.Exec(ctx, ns, "ip", "addr", "add", from.String()+"/32", "dev", "eth0"); err != nil && !strings.Contains(out, "exists") {
			t.Fatalf("address %s in %s: %v: %s", from, ns, err, out)
		}
		c, err := netns.ListenPacket(ns, "udp4", netip.AddrPortFrom(from, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range 5 {
			if _, err := c.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(target)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The spoof from the guest network: dropped at the guard, counted, never at the camera.
	send(guest, spoof)
	if err := poll.Until(ctx, 5*time.Second, func() bool { return dropped() >= 5 }); err != nil {
		t.Fatalf("the guest's datagrams from LAN address %s were not dropped by the allowlist (drop counter %d, camera saw %d)", spoof, dropped(), cameraSaw())
	}
	if n := cameraSaw(); n != 0 {
		t.Errorf("the camera received %d datagrams from the guest's spoofed LAN source", n)
	}
	// The guest's own address is not allowed either.
	before := dropped()
	send(guest, guestAddr)
	if err := poll.Until(ctx, 5*time.Second, func() bool { return dropped() >= before+5 }); err != nil {
		t.Errorf("the guest's own datagrams were not dropped: counter %d -> %d", before, dropped())
	}
	// Control: the same source on the LAN is the LAN, and the camera's counter sees it come through.
	send(topo.Laptop, spoof)
	if err := poll.Until(ctx, 5*time.Second, func() bool { return cameraSaw() >= 5 }); err != nil {
		t.Fatalf("control: datagrams from %s on the LAN did not reach the camera (it counted %d)", spoof, cameraSaw())
	}
}

// mustDrop fails the test unless probe gets no answer and the daemon counts it as a drop of the forward's
// allowlist (or, with limit, of its connection limit): the one positive sign of a silent drop, where a timeout
// alone would pass on a busy machine without proving anything.
func (d *runningDaemon) mustDrop(t *testing.T, what, fwd string, limit bool, probe func() lab.Answer) {
	t.Helper()
	dropped := func(s *daemon.Status) uint64 {
		if limit {
			return forward(s, fwd).DroppedLimit
		}
		return forward(s, fwd).DroppedAllow
	}
	before := dropped(d.waitStatus(t, "status", func(*daemon.Status) bool { return true }))
	if a := probe(); a.OK() {
		t.Errorf("%s answered: %v", what, a)
		return
	}
	d.waitStatus(t, what+" counted as a drop", func(s *daemon.Status) bool { return dropped(s) > before })
}

// TestAllowlistReloadInPlace: a prefix file of 2,000 lines allows the internet host to the front camera; the
// file changes to allow the other host instead and the daemon is sent SIGHUP. The change reaches the kernel
// as the difference alone (the daemon says so, and applies nothing in full), and it works: the newly allowed
// host reaches the camera, and the one removed from the list is dropped and counted (the negative control:
// the same host reached it before the change).
func TestAllowlistReloadInPlace(t *testing.T) {
	t.Parallel()
	needRoot(t)
	topo, _ := labWithCameras(t, lab.Options{})
	other, otherAddr, err := topo.AddInternetHost(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	l := &allowLab{topo: topo, other: other, otherAddr: otherAddr}
	front := topo.Cameras[0]
	dir := t.TempDir()
	listPath := filepath.Join(dir, "office.txt")
	writeList := func(allowed netip.Addr) {
		t.Helper()
		var b strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&b, "100.%d.%d.0/24\n", 64+i/256, i%256)
		}
		fmt.Fprintf(&b, "%s\n", allowed)
		if err := os.WriteFile(listPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeList(topo.InternetAddr)
	socket := filepath.Join(dir, "hairpin.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "daemon:\n  status: %s\nstate_dir: %s\nwan: {interface: %s}\nlan: {interface: %s}\nforwards:\n", socket, dir, topo.WANIf, topo.LANIf)
	fmt.Fprintf(&b, "  - {name: %s, port: %d, to: \"%s:80\", allow: [%s]}\n", front.Name, front.Port, front.Addr, listPath)
	cfg := filepath.Join(dir, "hairpin.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, topo, cfg, socket)
	if a := l.get(topo.Internet, front.Port); !a.OK() || a.Caller != topo.InternetAddr {
		t.Fatalf("the listed internet host to %s before the change: %v", front.Name, a)
	}
	d.mustDrop(t, "the unlisted host to "+front.Name+" before the change", front.Name, false, func() lab.Answer { return l.get(l.other, front.Port) })

	writeList(l.otherAddr)
	d.signal(t, syscall.SIGHUP)
	d.waitStatus(t, "the list changed in place", func(s *daemon.Status) bool {
		return slices.ContainsFunc(s.Events, func(e daemon.Event) bool { return strings.HasPrefix(e.Message, "allow list updated in place") })
	})
	if a := l.get(l.other, front.Port); !a.OK() || a.Caller != l.otherAddr {
		t.Errorf("the newly listed host to %s: %v", front.Name, a)
	}
	d.mustDrop(t, "the host taken off the list to "+front.Name, front.Name, false, func() lab.Answer { return l.get(topo.Internet, front.Port) })
	if log := d.log.String(); strings.Count(log, "rules applied") != 1 || !strings.Contains(log, "added=1 removed=1") {
		t.Errorf("the reload must send the difference only (one full apply, at start):\n%s", log)
	}
	set, err := lab.Exec(context.Background(), topo.Router, "nft", "list", "set", "ip", "hairpin", "allow_fwd-"+front.Name+"_32")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(set, l.otherAddr.String()) || strings.Contains(set, topo.InternetAddr.String()) {
		t.Errorf("the kernel's set after the change:\n%s", set)
	}
}
