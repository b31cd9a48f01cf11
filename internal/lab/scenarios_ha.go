package lab

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// DemoHA is `hairpin lab --ha`: the HA pair with keepalived and conntrackd and hairpin on both routers, the
// master losing all its links in the middle of two downloads (one hairpinned from the laptop, one from the
// internet), and every bookmark from the LAN, the internet and the router before, right after and once the
// master is back; the DNS updates the lab's BIND received; the downloads' fate.
func (t *Topology) DemoHA(ctx context.Context, out io.Writer, dir string) (failed int, err error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.StdEncoding.EncodeToString(raw)
	dnsDir := filepath.Join(dir, "named")
	if err := os.MkdirAll(dnsDir, 0o700); err != nil {
		return 0, err
	}
	dns, err := t.StartDNSWithKey(ctx, dnsDir, time.Minute, nil, "hairpin-key", secret)
	if err != nil {
		return 0, err
	}
	secretFile := filepath.Join(dir, "tsig.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nStarting keepalived and conntrackd on both routers (configs in %s; docs/ha.md)...\n", dir)
	if err := t.StartHA(ctx, dir, HAOptions{Sync: true}); err != nil {
		return 0, err
	}
	extra := fmt.Sprintf("ha:\n  lan_address: %s\n  wan_address: %s\nddns:\n  - {provider: rfc2136, server: \"%s:53\", zone: example.net, hostname: home.example.net, tsig_key: hairpin-key, tsig_algorithm: hmac-sha256, tsig_secret_file: %s, ttl: 60}\n",
		routerLAN, publicAddr, internetAddr, secretFile)
	var sockets [2]string
	for i, r := range t.Routers() {
		rd := filepath.Join(dir, fmt.Sprintf("hairpin-%c", 'a'+i))
		if err := os.MkdirAll(rd, 0o700); err != nil {
			return 0, err
		}
		cfg := t.RouterConfig()
		cfg.Status, cfg.StateDir, cfg.Extra = filepath.Join(rd, "hairpin.sock"), rd, extra
		path, err := cfg.Write(rd, "hairpin.yaml")
		if err != nil {
			return 0, err
		}
		if i == 0 {
			fmt.Fprintf(out, "Both routers run hairpin with the same config (%s):\n%s\n", path, indent(cfg.YAML()))
		}
		if _, err := t.StartToFile(r, filepath.Join(rd, "daemon.log"), "run", "-c", path); err != nil {
			return 0, err
		}
		sockets[i] = cfg.Status
	}
	role := func(i int, want string) error {
		_, err := WaitDaemon(ctx, sockets[i], 15*time.Second, func(s *daemon.Status) bool { return s.Installed && s.HARole == want })
		return err
	}
	if err := role(0, "master"); err != nil {
		return 0, fmt.Errorf("router A never became the master: %v", err)
	}
	if err := role(1, "backup"); err != nil {
		return 0, fmt.Errorf("router B never settled as the backup: %v", err)
	}
	a, b := t.Routers()[0], t.Routers()[1]
	if err := poll.Until(ctx, 10*time.Second, func() bool { return len(dns.Updates()) > 0 }); err != nil {
		return 0, fmt.Errorf("router A never published home.example.net")
	}

	fmt.Fprintf(out, "\nBefore: router A is the master. Every bookmark from the laptop, the internet and router A:\n")
	checks := t.haBookmarks(ctx, a)
	PrintChecks(out, checks, false)
	failed += Failures(checks)

	cam, cam1 := t.Cameras[0], t.Cameras[1]
	url := func(c Camera) string { return "http://" + netip.AddrPortFrom(publicAddr, uint16(c.Port)).String() }
	hair, inet := StartDownload(ctx, t.Laptop, url(cam)), StartDownload(ctx, t.Internet, url(cam1))
	if err := poll.Until(ctx, 5*time.Second, func() bool { return hair.Got() > 64<<10 && inet.Got() > 64<<10 }); err != nil {
		return failed, fmt.Errorf("the downloads did not start")
	}
	fmt.Fprintf(out, "\nTwo downloads running (%d s each): the laptop from %s (hairpinned), the internet from %s.\n", int(DownloadTime.Seconds()), url(cam), url(cam1))
	fmt.Fprintf(out, "Router A loses all its links (as when its power fails)...\n")
	dead := time.Now()
	if err := t.Unplug(ctx, a, true); err != nil {
		return failed, err
	}
	target := netip.AddrPortFrom(publicAddr, uint16(cam.Port)).String()
	if err := poll.Until(ctx, 5*time.Second, func() bool {
		ans := HTTPGet(ctx, t.Laptop, "http://"+target+"/", 200*time.Millisecond)
		return ans.OK() && ans.Server == cam.Name
	}); err != nil {
		failed++
		fmt.Fprintf(out, "FAILED: no bookmark through router B within 5 s\n")
	}
	took := time.Since(dead)
	fmt.Fprintf(out, "\nDuring: the first connection through router B worked %v after router A died. Every bookmark from the laptop, the internet and router B:\n", took.Round(time.Millisecond))
	checks = t.haBookmarks(ctx, b)
	PrintChecks(out, checks, false)
	failed += Failures(checks)
	for _, d := range []struct {
		what string
		dl   *Download
	}{{"hairpinned download (laptop)", hair}, {"internet download", inet}} {
		if err := d.dl.Wait(); err != nil {
			failed++
			fmt.Fprintf(out, "%s: FAILED: %v\n", d.what, err)
			continue
		}
		fmt.Fprintf(out, "%s: all %d bytes arrived across the failover\n", d.what, DownloadSize)
	}

	fmt.Fprintf(out, "\nRouter A's links come back; it takes over again after preempt_delay (1 s)...\n")
	if err := t.Unplug(ctx, a, false); err != nil {
		return failed, err
	}
	if err := role(0, "master"); err != nil {
		return failed + 1, fmt.Errorf("router A did not take over again: %v", err)
	}
	if err := role(1, "backup"); err != nil {
		return failed + 1, fmt.Errorf("router B did not step back: %v", err)
	}
	fmt.Fprintf(out, "\nAfter: router A is the master again. Every bookmark from the laptop, the internet and router A:\n")
	checks = t.haBookmarks(ctx, a)
	PrintChecks(out, checks, false)
	failed += Failures(checks)

	fmt.Fprintf(out, "\nDNS updates the lab's BIND received for home.example.net over the whole run (the shared WAN address; only\nthe master sends, and a new master that finds the record right sends nothing):\n")
	for _, u := range dns.Updates() {
		who := "router A"
		if u.From == haOwnWAN[1] {
			who = "router B"
		}
		fmt.Fprintf(out, "  %s from %s (%s)\n", u.Addr, who, u.From)
		if u.Addr != publicAddr {
			failed++
			fmt.Fprintf(out, "  FAILED: the record moved away from %s\n", publicAddr)
		}
	}
	return failed, nil
}

// haBookmarks fetches every camera's bookmark from the laptop, the internet and router r. The laptop's
// connections are hairpinned and SNATed to the LAN's virtual address; the internet keeps its own address, and
// the router's own connections leave from its own WAN address, as on a router on its own.
func (t *Topology) haBookmarks(ctx context.Context, r string) []Check {
	own := haOwnWAN[0]
	if r == t.HA.RouterB {
		own = haOwnWAN[1]
	}
	var checks []Check
	for _, c := range t.Cameras {
		for _, from := range []vantage{{"laptop", t.Laptop, routerLAN}, {"internet", t.Internet, internetAddr}, {"router", r, own}} {
			checks = append(checks, t.probe(ctx, c, "tcp", from))
		}
	}
	return checks
}
