package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// unitCapabilities reads CapabilityBoundingSet= from the shipped unit, as setpriv's --bounding-set list.
func unitCapabilities(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../dist/hairpin.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapabilityBoundingSet="); ok {
			set := "-all"
			for _, c := range strings.Fields(v) {
				set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
			}
			return set
		}
	}
	t.Fatal("the unit has no CapabilityBoundingSet=")
	return ""
}

// TestDaemonWithTheUnitsCapabilities: the daemon installs its rules and the forward works with only the
// capabilities the unit leaves it (CapabilityBoundingSet=, and NoNewPrivileges=), as root. systemd is not PID 1
// on the machines this runs on, so setpriv applies them. Negative control: with no capability at all the daemon
// is refused by the kernel, and says so.
func TestDaemonWithTheUnitsCapabilities(t *testing.T) {
	t.Parallel()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is missing (util-linux)")
	}
	caps := unitCapabilities(t)
	topo, _ := labWithCameras(t, lab.Options{})
	hairpin := topo.Bin
	// start runs hairpin run under setpriv: the lab starts topo.Bin in the router's namespace.
	start := func(bounding, cfg string) (*exec.Cmd, *lab.SafeBuffer) {
		topo.Bin = setpriv
		defer func() { topo.Bin = hairpin }()
		cmd, out, err := topo.Start(topo.Router, "--bounding-set", bounding, "--inh-caps", "-all", "--nnp", "--",
			hairpin, "run", "-c", cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}

	// Negative control first: no capabilities.
	cfg, _ := daemonConfig(t, topo, "")
	cmd, out := start("-all", cfg)
	if err := poll.Until(context.Background(), 15*time.Second, func() bool {
		return strings.Contains(out.String(), "operation not permitted")
	}); err != nil {
		t.Errorf("without CAP_NET_ADMIN the daemon does not report the kernel's refusal:\n%s", out.String())
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	cfg, sock := daemonConfig(t, topo, "")
	cmd, out = start(caps, cfg)
	d := &runningDaemon{cmd: cmd, log: out, socket: sock, config: cfg}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (bounding set %s):\n%s", caps, out.String())
		}
	})
	d.waitStatus(t, "rules installed", func(s *daemon.Status) bool { return s.Installed })
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")
	reaches(t, topo.Internet, "203.0.113.10:8091", "back-cam")
	d.stop(t)
}
