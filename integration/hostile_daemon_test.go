package integration

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config/hostile"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
)

// TestDaemonWithHostileFiles: a FIFO as a DDNS password_file once kept the daemon from ever applying rules
// (status was served, READY never sent, SIGTERM ignored), and the same FIFO or a pathological config on
// SIGHUP froze its loop. Now the FIFO disables DDNS with a clear error while the rules are applied; a SIGHUP
// with 2,000 forwards on one port is rejected with a short list and the running config stays; SIGTERM stops it.
func TestDaemonWithHostileFiles(t *testing.T) {
	t.Parallel()
	topo, _ := labWithCameras(t, lab.Options{})
	fifo := filepath.Join(t.TempDir(), "dyndns.secret")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	extra := "ddns: [{provider: dyndns2, server: \"https://192.0.2.80\", hostname: home.example.net, username: me, password_file: " + fifo + "}]\n"
	cfgPath, socket := daemonConfig(t, topo, extra)
	d := startDaemon(t, topo, cfgPath, socket)
	st := d.waitStatus(t, "the FIFO refused in the events", func(s *daemon.Status) bool {
		for _, e := range s.Events {
			// The entry is disabled on its own (its row stays in status), with the reader's refusal.
			if strings.Contains(strings.ToLower(e.Message), "dynamic dns hostname disabled") && strings.Contains(e.Message, "is a FIFO, not a regular file") {
				return true
			}
		}
		return false
	})
	if !st.Installed {
		t.Fatalf("rules not installed: %+v", st)
	}
	forwards := len(st.Forwards)

	// SIGHUP with the 109 KB file of 2,000 forwards on one port: rejected, the running config stays.
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(hostile.SamePort(2000)), "wan:\n  interface: eth0\nlan:\n  interface: br-lan\n  subnets: [192.168.0.0/16]\n", "", 1)
	if err := os.WriteFile(cfgPath, append(good[:strings.Index(string(good), "forwards:")], bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	st = d.waitStatus(t, "the reload rejected", func(s *daemon.Status) bool {
		for _, e := range s.Events {
			if strings.Contains(e.Message, "reload rejected") {
				return true
			}
		}
		return false
	})
	for _, e := range st.Events {
		if len(e.Message) > 64<<10 {
			t.Errorf("an event of %d bytes", len(e.Message))
		}
	}
	if !st.Installed || len(st.Forwards) != forwards {
		t.Errorf("after the rejected reload: installed %v, %d forwards", st.Installed, len(st.Forwards))
	}
	cam := topo.Cameras[0]
	reaches(t, topo.Laptop, net.JoinHostPort(topo.PublicAddr.String(), strconv.Itoa(cam.Port)), cam.Name)
	d.stop(t)
}
