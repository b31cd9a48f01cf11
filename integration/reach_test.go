package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

func hasClass(class reach.Class, upstream reach.Upstream) func(*daemon.Status) bool {
	return func(s *daemon.Status) bool {
		return len(s.Reachability) == 1 && s.Reachability[0].Class == class && s.Reachability[0].Upstream == upstream
	}
}

// TestReachabilityClasses: the daemon classifies each lab as the user would need to hear it. Every lab is the
// control of the others: the same daemon and config, only the network in front differs.
func TestReachabilityClasses(t *testing.T) {
	t.Parallel()
	t.Run("public", func(t *testing.T) {
		topo, _ := labWithCameras(t, lab.Options{})
		cfg, sock := daemonConfig(t, topo, "")
		startDaemon(t, topo, cfg, sock).waitStatus(t, "public", hasClass(reach.Public, ""))
	})
	t.Run("double-nat", func(t *testing.T) {
		topo, _ := labWithCameras(t, lab.Options{DoubleNAT: true})
		cfg, sock := daemonConfig(t, topo, "")
		d := startDaemon(t, topo, cfg, sock)
		st := d.waitStatus(t, "double-nat (unknown)", hasClass(reach.DoubleNAT, reach.UnknownMapped))
		if !strings.Contains(st.Reachability[0].Advice, "wan.upstream") {
			t.Errorf("advice %q", st.Reachability[0].Advice)
		}
		d.stop(t)
		setWAN(t, cfg, "wan:\n  interface: wan0\n  upstream: manual\n")
		startDaemon(t, topo, cfg, sock).waitStatus(t, "double-nat (manual)", hasClass(reach.DoubleNAT, reach.Manual))
	})
	t.Run("cgnat", func(t *testing.T) {
		topo, _ := labWithCameras(t, lab.Options{ISP: lab.ISPCGNAT})
		cfg, sock := daemonConfig(t, topo, "")
		st := startDaemon(t, topo, cfg, sock).waitStatus(t, "cgnat", hasClass(reach.CGNAT, ""))
		if !strings.Contains(st.Reachability[0].Reason, "100.64.0.2") || !strings.Contains(st.Reachability[0].Advice, "IPv6") {
			t.Errorf("verdict %+v", st.Reachability[0])
		}
	})
	t.Run("ds-lite", func(t *testing.T) {
		needRoot(t)
		topo, err := lab.Build(context.Background(), lab.Options{ISP: lab.ISPDSLite, Bin: bin, Prefix: lab.RandomPrefix()})
		if errors.Is(err, lab.ErrNoIP6Tnl) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(topo.Close)
		if err := topo.StartCameras(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg, sock := daemonConfig(t, topo, "")
		st := startDaemon(t, topo, cfg, sock).waitStatus(t, "ds-lite", hasClass(reach.DSLite, ""))
		if !strings.Contains(st.Reachability[0].Reason, "ds0") {
			t.Errorf("verdict %+v", st.Reachability[0])
		}
	})
}

// TestCGNATWithholdsDNS: behind carrier-grade NAT the daemon learns the carrier's shared address but does not
// send it to the real BIND server (status says why), the probe fails at the CGN, and doctor explains. The
// negative control is the same daemon with publish: always, which updates the record.
func TestCGNATWithholdsDNS(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{ISP: lab.ISPCGNAT})
	secret := startNamed(t, topo)
	if _, _, err := topo.Start(topo.Internet, "lab", "serve", "--whoami", "8080"); err != nil {
		t.Fatal(err)
	}
	ps := startProbeServer(t, topo)
	dir := t.TempDir()
	tsig := filepath.Join(dir, "tsig.secret")
	if err := os.WriteFile(tsig, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ddns := func(publish string) string {
		return fmt.Sprintf("ddns:\n  - {provider: rfc2136, server: \"203.0.113.1:53\", zone: example.net, hostname: home.example.net, tsig_key: hairpin-key, tsig_secret_file: %s, ttl: 60, publish: %s}\n", tsig, publish)
	}
	wanSection := "wan:\n  interface: wan0\n  public_ip: [\"http://203.0.113.1:8080/ip\"]\n  probe: " + ps.Section("10s") + "\n"
	cfg, sock := daemonConfig(t, topo, ddns("auto"))
	setWAN(t, cfg, wanSection)
	d := startDaemon(t, topo, cfg, sock)
	st := d.waitStatus(t, "cgnat, the public address learned, and a failed probe", func(s *daemon.Status) bool {
		return hasClass(reach.CGNAT, "")(s) && s.Public == "203.0.113.10" && s.Probe != nil && len(s.Probe.Results) == 4
	})
	if len(st.DDNS) != 1 || !strings.Contains(st.DDNS[0].Withheld, "cgnat") || st.DDNS[0].LastAddress != "" {
		t.Errorf("DNS status %+v, want withheld with the reason and nothing sent", st.DDNS)
	}
	if st.Probe.Unreachable() != 4 {
		t.Errorf("probe %+v, want every forward unreachable behind the CGN", st.Probe)
	}
	if !strings.Contains(d.log.String(), "not publishing the address") {
		t.Error("the log does not say why DNS is not updated")
	}
	// The status above came after the probe, which waits for changes to settle: an update, had one been sent,
	// would be in BIND by now.
	if got, err := lookupA(topo.Router, "home.example.net"); err != nil || len(got) != 0 {
		t.Fatalf("BIND has home.example.net = %v (%v), want no record under CGNAT", got, err)
	}
	out, code := hairpin(t, topo, "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "cgnat") || !strings.Contains(out, "WITHHELD") || !strings.Contains(out, "PROBE: 4 of 4") {
		t.Errorf("hairpin status:\n%s", out)
	}
	out, code = hairpin(t, topo, "doctor", "-c", cfg)
	if code == 0 || !strings.Contains(out, "cgnat") || !strings.Contains(out, "ask the ISP for a public IPv4 address") {
		t.Errorf("hairpin doctor (%d):\n%s", code, out)
	}
	d.stop(t)

	// Control: publish: always sends the carrier's address.
	text, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(text), "publish: auto", "publish: always", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, topo, cfg, sock)
	waitRecord(t, topo, "203.0.113.10", 15*time.Second)
}

// TestLabDemoISP runs `hairpin lab --isp upnp` and `--isp cgnat` end to end: the UPnP box maps every forward
// (4 forwards, all 15 checks pass; all 4 checks fail from the internet before), the CGN leaves the DNS record unpublished and the
// internet unanswered. Nothing of the lab is left behind.
func TestLabDemoISP(t *testing.T) {
	t.Parallel()
	needRoot(t)
	for isp, want := range map[string][]string{
		lab.ISPUPnP:  {"all 4 forwards (15 checks) work from the internet, the LAN and the router", "without them all 4 forwards (4 checks) from the internet fail", "double-nat (mapped)", "reachable"},
		lab.ISPCGNAT: {"reachability (ipv4): cgnat", "WITHHELD", "has no A record for home.example.net", "ask the ISP for a public IPv4 address"},
	} {
		t.Run(isp, func(t *testing.T) {
			prefix := lab.RandomPrefix()
			out, err := exec.Command(bin, "lab", "--isp", isp, "--prefix", prefix).CombinedOutput()
			if err != nil {
				t.Fatalf("hairpin lab --isp %s: %v\n%s", isp, err, out)
			}
			for _, w := range want {
				if !strings.Contains(string(out), w) {
					t.Errorf("lab output lacks %q:\n%s", w, out)
				}
			}
			if list, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(list), prefix) {
				t.Errorf("the lab left namespaces behind:\n%s", list)
			}
			if ps, _ := exec.Command("ps", "-eo", "stat=,args=").Output(); strings.Contains(string(ps), prefix+"-miniupnpd") {
				for _, l := range strings.Split(string(ps), "\n") {
					if strings.Contains(l, prefix+"-miniupnpd") && !strings.HasPrefix(l, "Z") {
						t.Errorf("miniupnpd still runs: %s", l)
					}
				}
			}
		})
	}
}
