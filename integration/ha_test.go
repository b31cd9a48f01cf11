package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// haPair builds the lab's HA pair with the cameras, starts keepalived (and conntrackd) as opt says and a hairpin
// daemon with config extra on each router, and waits for router A to be the master.
func haPair(t *testing.T, opt lab.HAOptions, extra string) (*lab.Topology, [2]*runningDaemon) {
	t.Helper()
	topo, _ := labWithCameras(t, lab.Options{HA: true})
	return topo, startPair(t, topo, opt, extra)
}

// startPair starts keepalived (and conntrackd) and a hairpin daemon with config extra on each router of topo.
func startPair(tb testing.TB, topo *lab.Topology, opt lab.HAOptions, extra string) [2]*runningDaemon {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	if err := topo.StartHA(ctx, dir, opt); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("keepalived and conntrackd:\n%s", topo.HALog())
		}
	})
	var ds [2]*runningDaemon
	for i, r := range topo.Routers() {
		rd := filepath.Join(dir, fmt.Sprintf("hairpin-%d", i))
		if err := os.MkdirAll(rd, 0o700); err != nil {
			tb.Fatal(err)
		}
		c := topo.RouterConfig()
		c.Status, c.StateDir, c.Resync, c.Extra = filepath.Join(rd, "hairpin.sock"), rd, time.Second, extra
		path, err := c.Write(rd, "hairpin.yaml")
		if err != nil {
			tb.Fatal(err)
		}
		cmd, out, err := topo.Start(r, "run", "-c", path)
		if err != nil {
			tb.Fatal(err)
		}
		d := &runningDaemon{cmd: cmd, log: out, socket: c.Status, config: path}
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("hairpin on %s:\n%s", r, out.String())
			}
		})
		if _, err := lab.WaitDaemon(ctx, c.Status, 15*time.Second, lab.Installed); err != nil {
			tb.Fatalf("hairpin on %s: %v\n%s", r, err, out.String())
		}
		ds[i] = d
	}
	return ds
}

// bookmarks tries every camera's bookmark (the WAN virtual address and its port) from the laptop, the
// internet and the router holding the addresses; each must reach the right camera.
func bookmarks(ctx context.Context, topo *lab.Topology, router string) []lab.Check {
	var checks []lab.Check
	for _, c := range topo.Cameras {
		target := netip.AddrPortFrom(topo.PublicAddr, uint16(c.Port)).String()
		for _, from := range [][2]string{{"laptop", topo.Laptop}, {"internet", topo.Internet}, {"router", router}} {
			a := lab.HTTPGet(ctx, from[1], "http://"+target+"/", lab.ProbeTimeout)
			checks = append(checks, lab.Check{Forward: c.Name, Target: target, Proto: "tcp", Port: c.Port, From: from[0], Answer: a, WantServer: c.Name})
		}
	}
	return checks
}

func failedBookmarks(checks []lab.Check) []string {
	var out []string
	for _, c := range checks {
		if !c.Answer.OK() || c.Answer.Server != c.WantServer {
			out = append(out, fmt.Sprintf("%s from %s: %s", c.Target, c.From, c.Answer))
		}
	}
	return out
}

// untilWorks measures, from start, how long until a fresh connection from ns to target reaches the camera.
func untilWorks(ctx context.Context, ns, target, camera string, start time.Time, within time.Duration) (time.Duration, error) {
	err := poll.Until(ctx, within, func() bool {
		a := lab.HTTPGet(ctx, ns, "http://"+target+"/", 200*time.Millisecond)
		return a.OK() && a.Server == camera
	})
	return time.Since(start), err
}

// TestHAFailover: two routers with keepalived and conntrackd, a shared WAN virtual address (the bookmark).
// The master loses all its links mid-download: every bookmark works again through the backup within 3 s,
// from the LAN and from the internet, and both downloads (hairpinned and from the internet) finish; the same
// when the master comes back. The negative control runs without conntrackd: the downloads stall, their packets
// dropped by the new master as invalid (it has no entry for them, and with nf_conntrack_tcp_loose=0 it does
// not guess one), which its firewall's counter shows.
func TestHAFailover(t *testing.T) {
	const haConf = "ha:\n  lan_address: 192.168.88.1\n  wan_address: 203.0.113.10\n"
	for _, tc := range []struct {
		name       string
		sync       bool
		masquerade bool // no ha: the hairpin masquerade to the router's own LAN address
	}{{"conntrackd", true, false}, {"without conntrackd", false, false}, {"masquerade", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf := haConf
			if tc.masquerade {
				conf = ""
			}
			topo, _ := haPair(t, lab.HAOptions{Sync: tc.sync}, conf)
			ctx := context.Background()
			a, b := topo.Routers()[0], topo.Routers()[1]
			if bad := failedBookmarks(bookmarks(ctx, topo, a)); len(bad) > 0 {
				t.Fatalf("before the failover:\n%s", strings.Join(bad, "\n"))
			}
			cam := topo.Cameras[0]
			target := netip.AddrPortFrom(topo.PublicAddr, uint16(cam.Port)).String()
			hair := lab.StartDownload(ctx, topo.Laptop, "http://"+target)
			inet := lab.StartDownload(ctx, topo.Internet, "http://"+netip.AddrPortFrom(topo.PublicAddr, uint16(topo.Cameras[1].Port)).String())
			if err := poll.Until(ctx, 5*time.Second, func() bool { return hair.Got() > 64<<10 && inet.Got() > 64<<10 }); err != nil {
				t.Fatalf("the downloads did not start: %d and %d bytes", hair.Got(), inet.Got())
			}

			if tc.sync {
				// What conntrackd carries to the backup: the hairpinned download's established entry, with hairpin's
				// LAN-ingress mark (not needed after a failover: only a connection's first packet reads it).
				hairpinned := fmt.Sprintf("ESTABLISHED src=%s dst=%s ", topo.LaptopAddr, topo.PublicAddr)
				var cache string
				err := poll.Until(ctx, 5*time.Second, func() bool {
					var err error
					if cache, err = topo.ExternalCache(ctx, 1); err != nil {
						cache = err.Error()
					}
					for _, l := range strings.Split(cache, "\n") {
						if strings.Contains(l, hairpinned) && strings.Contains(l, fmt.Sprintf("dport=%d ", cam.Port)) {
							return true
						}
					}
					return false
				})
				if err != nil {
					t.Fatalf("router B's conntrackd has no entry for the hairpinned download (%s):\n%s", hairpinned, cache)
				}
				for _, l := range strings.Split(cache, "\n") {
					if strings.Contains(l, hairpinned) && strings.Contains(l, fmt.Sprintf("dport=%d ", cam.Port)) {
						t.Logf("router B's external cache: %s", strings.TrimSpace(l))
						if !strings.Contains(l, fmt.Sprintf("mark=%d", nft.LANIngressMark)) {
							t.Errorf("conntrackd did not carry hairpin's mark")
						}
					}
				}
			}

			dead := time.Now()
			if err := topo.Unplug(ctx, a, true); err != nil {
				t.Fatal(err)
			}
			lanTook, err := untilWorks(ctx, topo.Laptop, target, cam.Name, dead, 5*time.Second)
			if err != nil {
				t.Fatalf("no bookmark through router B from the LAN within 5 s")
			}
			inetTook, err := untilWorks(ctx, topo.Internet, target, cam.Name, dead, 5*time.Second)
			if err != nil {
				t.Fatalf("no bookmark through router B from the internet within 5 s")
			}
			checks := bookmarks(ctx, topo, b)
			all := time.Since(dead)
			t.Logf("failover: first working connection through the new master %v after the master died (LAN), %v (internet); every bookmark by %v",
				lanTook.Round(time.Millisecond), inetTook.Round(time.Millisecond), all.Round(time.Millisecond))
			if bad := failedBookmarks(checks); len(bad) > 0 || all > 3*time.Second {
				t.Errorf("after the failover (%v):\n%s", all, strings.Join(bad, "\n"))
			}
			if m, _ := topo.Master(ctx); m != b {
				t.Errorf("master after the failover = %q, want %s", m, b)
			}

			herr, ierr := hair.Wait(), inet.Wait()
			if tc.masquerade {
				// The negative control of the SNAT to the LAN's virtual address: conntrackd carried the entry, but
				// it names router A's own LAN address, so the camera keeps sending to a router that is gone (its
				// segments to that address are retransmitted, unanswered) and the hairpinned download stalls; the
				// internet one survives.
				if !errors.Is(herr, lab.ErrStalled) || ierr != nil {
					t.Fatalf("with the masquerade: hairpinned download %v (want stalled), internet download %v (want whole)", herr, ierr)
				}
				neigh, err := lab.Exec(ctx, cam.NS, "ss", "-tni", "dst", topo.HA.OwnLAN[0].String())
				if err != nil || !strings.Contains(neigh, "retrans:") {
					t.Errorf("the camera's connection to router A's own address shows no retransmission: %q %v", neigh, err)
				}
				neigh = strings.Join(strings.Fields(neigh), " ")
				t.Logf("with the masquerade: hairpinned download %v; the camera's side: %s", herr, neigh)
				return
			}
			if !tc.sync {
				// The negative control: the new master drops the downloads' packets as invalid (it has no entry
				// for them), counted by its firewall, and the downloads stall.
				dropped, err := topo.InvalidDropped(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				if herr == nil || ierr == nil {
					t.Fatalf("a download survived without conntrackd: hairpinned %v, internet %v", herr, ierr)
				}
				if dropped == 0 {
					t.Errorf("the downloads failed (%v, %v) but router B dropped no invalid packet", herr, ierr)
				}
				t.Logf("without conntrackd: router B dropped %d packets it had no entry for; hairpinned download %v; internet download %v", dropped, herr, ierr)
				return
			}
			if herr != nil || ierr != nil {
				t.Fatalf("downloads across the failover: hairpinned %v, internet %v", herr, ierr)
			}

			// Failback: A comes back with the higher priority and takes over.
			hair = lab.StartDownload(ctx, topo.Laptop, "http://"+target)
			if err := poll.Until(ctx, 5*time.Second, func() bool { return hair.Got() > 64<<10 }); err != nil {
				t.Fatal("the second download did not start")
			}
			if err := topo.Unplug(ctx, a, false); err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			if err := poll.Until(ctx, 5*time.Second, func() bool { m, _ := topo.Master(ctx); return m == a }); err != nil {
				t.Fatal("router A did not take over again")
			}
			checks = bookmarks(ctx, topo, a)
			t.Logf("failback: router A master again and every bookmark checked %v after its links came back", time.Since(back).Round(time.Millisecond))
			if bad := failedBookmarks(checks); len(bad) > 0 {
				t.Errorf("after the failback:\n%s", strings.Join(bad, "\n"))
			}
			if err := hair.Wait(); err != nil {
				t.Errorf("hairpinned download across the failback: %v", err)
			}
		})
	}
}

// updatesFrom counts the A records BIND added on updates from addr.
func updatesFrom(s *lab.DNSServer, addr netip.Addr) int {
	n := 0
	for _, u := range s.Updates() {
		if u.From == addr {
			n++
		}
	}
	return n
}

// TestHAOnlyMasterPublishes: each router has its own WAN address; both run hairpin with the same config and
// a DNS entry at the lab's BIND. Only the master sends: the record holds A's address, B sends nothing while
// it is the backup, and when A dies the record moves to B's address, once, within a second of B becoming the
// master; when A is back it moves back, once. The negative control runs the same pair without ha: both send.
func TestHAOnlyMasterPublishes(t *testing.T) {
	if _, err := exec.LookPath("named"); err != nil {
		t.Skip("BIND's named is not installed (apt-get install bind9)")
	}
	for _, ha := range []bool{true, false} {
		t.Run(fmt.Sprintf("ha=%v", ha), func(t *testing.T) {
			t.Parallel()
			topo := newLab(t, lab.Options{HA: true})
			ctx := context.Background()
			dir := t.TempDir()
			raw := make([]byte, 32)
			_, _ = rand.Read(raw)
			secret := base64.StdEncoding.EncodeToString(raw)
			dnsServer, err := topo.StartDNSWithKey(ctx, t.TempDir(), time.Minute, nil, "hairpin-key", secret)
			if err != nil {
				t.Fatal(err)
			}
			secretFile := filepath.Join(dir, "tsig.secret")
			if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("named:\n%s", dnsServer.Log())
				}
			})
			extra := fmt.Sprintf("ddns:\n  - {provider: rfc2136, server: \"203.0.113.1:53\", zone: example.net, hostname: home.example.net, tsig_key: hairpin-key, tsig_algorithm: hmac-sha256, tsig_secret_file: %s, ttl: 60}\n", secretFile)
			if ha {
				extra += "ha:\n  lan_address: 192.168.88.1\n"
			}
			ds := startPair(t, topo, lab.HAOptions{OwnWANs: true}, extra)
			a, b := topo.HA.OwnWAN[0], topo.HA.OwnWAN[1]
			if !ha {
				// Both publish, each its own address: the record flaps to whichever came last.
				if err := poll.Until(ctx, 10*time.Second, func() bool { return updatesFrom(dnsServer, a) > 0 && updatesFrom(dnsServer, b) > 0 }); err != nil {
					t.Fatalf("without ha: both routers should send; BIND got %v", dnsServer.Updates())
				}
				t.Logf("without ha: both routers sent: %v", dnsServer.Updates())
				return
			}
			waitRecordFrom(t, topo.Internet, a.String(), 10*time.Second)
			// The backup has no DNS engine at all (its status lists no hostname); the list of updates at the end
			// shows it never sent while it was the backup.
			if st := ds[1].waitStatus(t, "router B the backup", func(s *daemon.Status) bool { return s.HARole == "backup" }); len(st.DDNS) != 0 {
				t.Errorf("the backup runs a DNS engine: %v", st.DDNS)
			}
			if n := updatesFrom(dnsServer, b); n != 0 {
				t.Fatalf("the backup sent %d updates: %v", n, dnsServer.Updates())
			}

			dead := time.Now()
			if err := topo.Unplug(ctx, topo.Router, true); err != nil {
				t.Fatal(err)
			}
			waitRecordFrom(t, topo.Internet, b.String(), 5*time.Second)
			moved := time.Since(dead)
			// keepalived's takeover (3 adverts of 100 ms and the skew) plus hairpin's reaction.
			t.Logf("failover: the record on B's address %v after A died", moved.Round(time.Millisecond))
			if moved > 1500*time.Millisecond {
				t.Errorf("the new master published %v after the master died, want within a second of its takeover", moved)
			}
			if st := ds[1].waitStatus(t, "router B the master", func(s *daemon.Status) bool { return s.HARole == "master" }); len(st.DDNS) == 0 {
				t.Error("the new master shows no DNS status")
			}
			if out, err := lab.Exec(ctx, topo.Routers()[1], bin, "status", "--socket", ds[1].socket); err != nil || !strings.Contains(out, "HA: master") {
				t.Errorf("hairpin status on the new master: %v\n%s", err, out)
			}

			if err := topo.Unplug(ctx, topo.Router, false); err != nil {
				t.Fatal(err)
			}
			ds[0].waitStatus(t, "router A the master again", func(s *daemon.Status) bool { return s.HARole == "master" })
			waitRecordFrom(t, topo.Internet, a.String(), 5*time.Second)
			ds[1].waitStatus(t, "router B the backup again", func(s *daemon.Status) bool { return s.HARole == "backup" })
			var seq []string
			for _, u := range dnsServer.Updates() {
				seq = append(seq, fmt.Sprintf("%s from %s", u.Addr, u.From))
			}
			t.Logf("updates BIND got: %v", seq)
			if want := []string{a.String() + " from " + a.String(), b.String() + " from " + b.String(), a.String() + " from " + a.String()}; strings.Join(seq, ",") != strings.Join(want, ",") {
				t.Errorf("updates = %v, want %v: the record moves once per change of master", seq, want)
			}
		})
	}
}

func waitRecordFrom(t *testing.T, ns, want string, within time.Duration) {
	t.Helper()
	var got []string
	var err error
	if poll.Until(context.Background(), within, func() bool {
		got, err = lookupA(ns, "home.example.net")
		return err == nil && len(got) == 1 && got[0] == want
	}) != nil {
		t.Fatalf("home.example.net never became %s in BIND (last answer %v, %v)", want, got, err)
	}
}

// TestLabDemoHA runs `hairpin lab --ha` as docs/lab.md and docs/ha.md tell users to: the pair fails over
// mid-download with every bookmark and both downloads intact, and nothing of the lab is left behind.
func TestLabDemoHA(t *testing.T) {
	t.Parallel()
	needRoot(t)
	prefix := lab.RandomPrefix()
	out, err := exec.Command(bin, "lab", "--ha", "--prefix", prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("hairpin lab --ha: %v\n%s", err, out)
	}
	for _, want := range []string{"hairpinned download (laptop): all", "internet download: all", "after router A died",
		"After: router A is the master again", "203.0.113.10 from router A (203.0.113.2)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lab output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "FAILED") {
		t.Errorf("lab output has a failure:\n%s", out)
	}
	if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), prefix) {
		t.Errorf("the lab left namespaces behind:\n%s", list)
	}
}
