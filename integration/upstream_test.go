package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// upnpLab is the lab with a real miniupnpd on the ISP box; the internet reaches nothing until the box maps.
func upnpLab(t *testing.T) *lab.Topology {
	t.Helper()
	topo, _ := labWithCameras(t, lab.Options{ISP: lab.ISPUPnP})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("miniupnpd log:\n%s", topo.MiniupnpdLog())
		}
	})
	return topo
}

// upstreamDaemon starts `hairpin run` with wan.upstream set to mode and a short lease.
func upstreamDaemon(t *testing.T, topo *lab.Topology, mode, extra string) *runningDaemon {
	t.Helper()
	cfg, sock := daemonConfig(t, topo, "")
	setWAN(t, cfg, fmt.Sprintf("wan:\n  interface: wan0\n  upstream: %s\n  upstream_lease: 10s\n%s", mode, extra))
	return startDaemon(t, topo, cfg, sock)
}

func allMapped(s *daemon.Status) bool {
	return s.Upstream != nil && len(s.Upstream.Mappings) > 0 && s.Upstream.Mapped() == len(s.Upstream.Mappings)
}

func boxHas(t *testing.T, topo *lab.Topology, want ...string) {
	t.Helper()
	var got []string
	// Up to two 10 s leases: the box may hold an old address's ports until its lease ends, and miniupnpd's
	// clean-up of an expired mapping can take a fresh one for the same port with it (the next renewal repairs it).
	if err := poll.Until(context.Background(), 25*time.Second, func() bool {
		got, _ = topo.BoxRedirects(context.Background())
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("the box's redirects %v lack %v", got, want)
	}
}

// boxMaps reports, when called, whether the box in front redirects port as want says: the sign for
// doesNotReach that the box has no mapping for it.
func boxMaps(topo *lab.Topology, port string, want bool) func() bool {
	return func() bool {
		got, err := topo.BoxRedirects(context.Background())
		if err != nil {
			return false
		}
		for _, g := range got {
			if strings.Contains(g, " "+port+" ") {
				return want
			}
		}
		return !want
	}
}

func boxLacks(t *testing.T, topo *lab.Topology, port string) {
	t.Helper()
	var got []string
	if err := poll.Until(context.Background(), 10*time.Second, func() bool {
		got, _ = topo.BoxRedirects(context.Background())
		for _, g := range got {
			if strings.Contains(g, " "+port+" ") {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("the box still redirects port %s: %v", port, got)
	}
}

// TestUpstreamMapping maps the cameras through real miniupnpd with each protocol and with auto. Before each
// (the negative control) the internet reaches nothing; with the mapping it reaches every camera with its own
// address through both NATs, and the LAN still hairpins on the router. A daemon with upstream_on_stop: delete
// removes its mappings when it stops.
func TestUpstreamMapping(t *testing.T) {
	t.Parallel()
	topo := upnpLab(t)
	public := topo.PublicAddr.String()
	// Doctor asks the box what it offers (mapping nothing) and says what to set.
	cfg, _ := daemonConfig(t, topo, "")
	out, _ := hairpin(t, topo, "doctor", "-c", cfg)
	if !strings.Contains(out, "the box in front (192.168.1.1) speaks pcp, natpmp, upnp, external address "+public) || !strings.Contains(out, "set wan.upstream: auto") {
		t.Errorf("doctor:\n%s", out)
	}
	if got, _ := topo.BoxRedirects(context.Background()); len(got) != 0 {
		t.Errorf("doctor mapped something: %v", got)
	}
	for _, tt := range []struct{ mode, want string }{{"pcp", "pcp"}, {"natpmp", "natpmp"}, {"upnp", "upnp"}, {"auto", "pcp"}} {
		t.Run(tt.mode, func(t *testing.T) {
			doesNotReach(t, topo.Internet, public+":8090", boxMaps(topo, "8090", false))
			d := upstreamDaemon(t, topo, tt.mode, "  upstream_on_stop: delete\n")
			// The mapper's status is live, the verdict the loop's: wait for the loop to reclassify after the
			// mapping, then check both.
			st := d.waitStatus(t, "every port mapped and the verdict double-nat (mapped)", func(s *daemon.Status) bool {
				return allMapped(s) && len(s.Reachability) == 1 && s.Reachability[0].Upstream == reach.Mapped
			})
			if st.Upstream.Protocol != tt.want || st.Upstream.External != public {
				t.Errorf("upstream = %+v, want protocol %s, external %s", st.Upstream, tt.want, public)
			}
			if v := st.Reachability; len(v) != 1 || v[0].Class != reach.DoubleNAT || v[0].Upstream != reach.Mapped {
				t.Errorf("reachability = %+v, want double-nat (mapped)", v)
			}
			boxHas(t, topo, "tcp 8090 192.168.1.2", "udp 8090 192.168.1.2", "tcp 8093 192.168.1.2")
			for _, c := range topo.Cameras {
				reaches(t, topo.Internet, fmt.Sprintf("%s:%d", public, c.Port), c.Name)
			}
			if a := lab.HTTPGet(context.Background(), topo.Internet, "http://"+public+":8091/", lab.ProbeTimeout); a.Caller != topo.InternetAddr {
				t.Errorf("the camera saw %v, want the internet host's own address %s", a.Caller, topo.InternetAddr)
			}
			// The LAN hairpins on the router (miniupnpd does not hairpin): the learned external address is in
			// the forwarding set.
			d.waitStatus(t, "the external address forwarded", func(s *daemon.Status) bool { return slices.Contains(s.ForwardSet, public) })
			reaches(t, topo.Laptop, public+":8092", "pool-cam")
			d.stop(t)
			boxLacks(t, topo, "8090")
		})
	}
}

// TestUpstreamProtocolOff: each protocol switched off on the box is a failure of that mode only (the negative
// control of the mapping test): nothing is mapped, the classification says double-nat (unknown) with advice, and
// auto falls back to what is left.
func TestUpstreamProtocolOff(t *testing.T) {
	t.Parallel()
	topo := upnpLab(t)
	if err := topo.RebootISPBox(context.Background(), lab.MiniupnpdOptions{NoNATPMP: true}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"pcp", "natpmp"} {
		d := upstreamDaemon(t, topo, mode, "")
		// While the daemon still asks, the verdict is unknown without advice; wait for the loop to reclassify
		// with the mapper's error.
		st := d.waitStatus(t, "the mapping error in the verdict", func(s *daemon.Status) bool {
			return s.Upstream != nil && s.Upstream.Error != "" && len(s.Reachability) == 1 && s.Reachability[0].Advice != ""
		})
		if st.Upstream.Mapped() != 0 || !strings.Contains(st.Upstream.Error, mode) {
			t.Errorf("%s with NAT-PMP/PCP off: %+v", mode, st.Upstream)
		}
		if v := st.Reachability; len(v) != 1 || v[0].Upstream != reach.UnknownMapped || !strings.Contains(v[0].Advice, "UPnP, NAT-PMP or PCP") {
			t.Errorf("reachability = %+v", v)
		}
		d.stop(t)
	}
	d := upstreamDaemon(t, topo, "auto", "")
	if st := d.waitStatus(t, "auto maps with UPnP", allMapped); st.Upstream.Protocol != "upnp" {
		t.Errorf("auto picked %q", st.Upstream.Protocol)
	}
	d.stop(t)

	if err := topo.RebootISPBox(context.Background(), lab.MiniupnpdOptions{NoUPnP: true}); err != nil {
		t.Fatal(err)
	}
	d = upstreamDaemon(t, topo, "upnp", "")
	st := d.waitStatus(t, "the UPnP error", func(s *daemon.Status) bool { return s.Upstream != nil && s.Upstream.Error != "" })
	if st.Upstream.Mapped() != 0 {
		t.Errorf("upnp with UPnP off: %+v", st.Upstream)
	}
	doesNotReach(t, topo.Internet, topo.PublicAddr.String()+":8090", boxMaps(topo, "8090", false))
	d.stop(t)
}

// TestUpstreamLifecycle: a short lease is renewed before it runs out; a restarted miniupnpd (which forgets
// every mapping) gets them again; a forward removed by reload loses its mapping; `hairpin down` deletes the rest.
// Each step checks the box's own rules and the internet's view.
func TestUpstreamLifecycle(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"pcp", "upnp"} {
		t.Run(mode, func(t *testing.T) {
			topo := upnpLab(t)
			public := topo.PublicAddr.String()
			d := upstreamDaemon(t, topo, mode, "")
			d.waitStatus(t, "every port mapped", allMapped)
			reaches(t, topo.Internet, public+":8090", "front-cam")

			// Renewal: two rounds of renewals take the mappings past their 10 s lease.
			mappedAt := time.Now()
			st := d.waitStatus(t, "two rounds of renewals", func(s *daemon.Status) bool { return s.Upstream.Renewals >= 10 })
			if !allMapped(st) || time.Since(mappedAt) < 8*time.Second {
				t.Errorf("after renewals (%s): %+v", time.Since(mappedAt), st.Upstream)
			}
			boxHas(t, topo, "tcp 8090 192.168.1.2")
			reaches(t, topo.Internet, public+":8090", "front-cam")

			// Reboot: the box forgets; hairpin notices (PCP epoch, UPnP mapping gone) and maps again.
			if err := topo.RebootISPBox(context.Background(), lab.MiniupnpdOptions{}); err != nil {
				t.Fatal(err)
			}
			d.waitStatus(t, "a remap after the restart", func(s *daemon.Status) bool { return s.Upstream.Remaps >= 1 && allMapped(s) })
			boxHas(t, topo, "tcp 8090 192.168.1.2", "tcp 8093 192.168.1.2")
			reaches(t, topo.Internet, public+":8093", "driveway-cam")

			// WAN address change: the mappings follow the router to its new address (once the box lets go of the
			// old ones, at the latest when their lease ends).
			if _, err := lab.Exec(context.Background(), topo.Router, "sysctl", "-qw", "net.ipv4.conf.wan0.promote_secondaries=1"); err != nil {
				t.Fatal(err)
			}
			mustIP(t, topo, topo.Router, "addr add 192.168.1.3/24 dev wan0", "addr del 192.168.1.2/24 dev wan0")
			_ = topo.IP(context.Background(), topo.Router, "route replace default via 192.168.1.1 dev wan0")
			if err := poll.Until(context.Background(), 30*time.Second, func() bool {
				s, err := daemon.Fetch(context.Background(), d.socket)
				return err == nil && s.Upstream != nil && s.Upstream.Local == "192.168.1.3" && allMapped(s)
			}); err != nil {
				t.Fatal("the mappings never moved to the new address (the old lease is 10 s)")
			}
			boxHas(t, topo, "tcp 8090 192.168.1.3", "tcp 8093 192.168.1.3")
			reaches(t, topo.Internet, public+":8090", "front-cam")

			// Reload without driveway-cam: its mapping goes, the others stay.
			removeForward(t, d.config, "driveway-cam")
			d.signal(t, sighup)
			boxLacks(t, topo, "8093")
			boxHas(t, topo, "tcp 8090 192.168.1.3")
			doesNotReach(t, topo.Internet, public+":8093", boxMaps(topo, "8093", false))

			// down deletes hairpin's mappings (and only them: a mapping of another device stays).
			d.stop(t)
			if out, err := lab.Exec(context.Background(), topo.Router, "upnpc", "-m", "wan0", "-e", "someone else", "-a", "192.168.1.3", "9000", "9000", "TCP", "60"); err != nil {
				t.Fatalf("upnpc: %v %s", err, out)
			}
			if out, code := hairpin(t, topo, "down", "-c", d.config); code != 0 || !strings.Contains(out, "deleted") {
				t.Fatalf("down: %d %s", code, out)
			}
			boxLacks(t, topo, "8090")
			boxHas(t, topo, "tcp 9000 192.168.1.3")
		})
	}
}

// TestUpstreamExpiresWithoutRenewal is the negative control of renewal: a daemon killed without any cleanup
// leaves its mappings to their 10 s lease, and the box drops them.
func TestUpstreamExpiresWithoutRenewal(t *testing.T) {
	t.Parallel()
	topo := upnpLab(t)
	d := upstreamDaemon(t, topo, "pcp", "")
	d.waitStatus(t, "every port mapped", allMapped)
	boxHas(t, topo, "tcp 8090 192.168.1.2")
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Wait()
	var got []string
	if err := poll.Until(context.Background(), 25*time.Second, func() bool {
		got, _ = topo.BoxRedirects(context.Background())
		return len(got) == 0
	}); err != nil {
		t.Fatalf("the box still redirects %v a lease after the daemon died", got)
	}
	doesNotReach(t, topo.Internet, topo.PublicAddr.String()+":8090", boxMaps(topo, "8090", false))
}

const sighup = syscall.SIGHUP

// removeForward drops the named forward (four lines in the lab's config) from cfg.
func removeForward(t *testing.T, cfg, name string) {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	for i, l := range lines {
		if l == "  - name: "+name {
			lines = append(lines[:i], lines[i+4:]...)
			if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no forward %s in %s", name, cfg)
}
