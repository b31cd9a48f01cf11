package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/poll"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestRunRouterOS runs the daemon against the simulated MikroTik: it installs the forwards, then follows a WAN
// address change on the router with a single write (the address-list entry), leaving the rules alone.
func TestRunRouterOS(t *testing.T) {
	r := rostest.New(t, "hairpin", "pw")
	wanID := r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	dir := t.TempDir()
	secret := filepath.Join(dir, "routeros.secret")
	if err := os.WriteFile(secret, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "hairpin.sock")
	cfgFile := filepath.Join(dir, "hairpin.yaml")
	cfg := fmt.Sprintf(`backend: routeros
state_dir: %s
daemon: {status: %s}
routeros: {url: %q, username: hairpin, password_file: %q, tls_fingerprint: %q, poll_interval: 1s, ip_cloud: false}
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
`, dir, sock, r.URL(), secret, r.Fingerprint())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, "test", []string{"run", "-c", cfgFile}, &out, &errOut) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited %d: %s", code, errOut.String())
		}
	}()

	wanList := func() []string {
		var addrs []string
		for _, e := range r.Items(rostest.AddrList) {
			if e["list"] == "hairpin-wan" {
				addrs = append(addrs, e["address"])
			}
		}
		return addrs
	}
	poll.Wait(t, "the WAN list holds 203.0.113.7", func() bool { return fmt.Sprint(wanList()) == "[203.0.113.7]" })
	poll.Wait(t, "status answers", func() bool {
		st, err := daemon.Fetch(ctx, sock)
		return err == nil && st.Installed
	})

	// A second daemon for the same state directory, on another status socket, refuses to start and names the
	// first (two such daemons used to undo each other's rules at every resync).
	second := filepath.Join(dir, "second.yaml")
	if err := os.WriteFile(second, []byte(strings.Replace(cfg, sock, filepath.Join(dir, "other.sock"), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut2 bytes.Buffer
	if code := run(ctx, "test", []string{"run", "-c", second}, io.Discard, &errOut2); code == 0 ||
		!strings.Contains(errOut2.String(), fmt.Sprintf("another hairpin daemon (pid %d)", os.Getpid())) {
		t.Errorf("second daemon: exit %d, %q; want a refusal naming pid %d", code, errOut2.String(), os.Getpid())
	}

	r.ResetCounts()
	r.Edit(rostest.Address, wanID, rostest.Entry{"address": "203.0.113.8/24"})
	poll.Wait(t, "the WAN list follows to 203.0.113.8", func() bool { return fmt.Sprint(wanList()) == "[203.0.113.8]" })
	if _, writes := r.Counts(); writes != 1 {
		t.Errorf("an address change took %d writes, want 1: %v", writes, r.Requests())
	}
}
