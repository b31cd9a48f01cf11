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
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
)

// BenchmarkReactionWithNotifications measures a WAN change's reaction time (address added -> first connection
// through the new address, from the internet) with no notify targets and with five (json, ntfy, gotify, slack,
// and a Discord receiver that never answers), in alternating blocks of the same daemon: a reload switches the
// notify: list, so both sides share the machine's load. It also reports the status page's size as served.
func BenchmarkReactionWithNotifications(b *testing.B) {
	topo := benchLab(b)
	var received atomic.Int64
	release := make(chan struct{})
	defer close(release)
	var urls []string
	for i := range 5 {
		l, err := netns.Listen(topo.Laptop, "tcp4", netip.AddrPortFrom(topo.LaptopAddr, 0).String())
		if err != nil {
			b.Fatal(err)
		}
		hang := i == 4
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if hang {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			received.Add(1)
		})}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		urls = append(urls, "http://"+l.Addr().String()+"/hook")
	}
	targets := fmt.Sprintf("notify:\n  - {url: %s}\n  - {url: %s, format: ntfy}\n  - {url: \"%s?token=AppToken123\", format: gotify}\n  - {url: %s, format: slack}\n  - {url: %s, format: discord}\n",
		urls[0], urls[1], urls[2], urls[3], urls[4])

	dir := b.TempDir()
	sock := filepath.Join(dir, "hairpin.sock")
	cfg := filepath.Join(dir, "hairpin.yaml")
	base := fmt.Sprintf("daemon: {status: %s}\nstate_dir: %s\nwan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\"}\n", sock, dir)
	write := func(text string) {
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(base)
	cmd, out, err := topo.Start(topo.Router, "run", "-c", cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lab.WaitDaemon(context.Background(), sock, 15*time.Second, lab.Installed); err != nil {
		b.Fatalf("daemon did not apply: %v\n%s", err, out.String())
	}
	pageBytes := fetchPage(b, sock)

	nl, _ := netlinkIn(b, topo.Router)
	link := linkNamed(b, nl, topo.WANIf)
	probe := newProber(b, topo.Laptop)
	defer probe.close()
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")}
	var none, five []time.Duration
	change := 0
	b.ResetTimer()
	for block := range 6 {
		withNotify := block%2 == 1
		want := 0
		if withNotify {
			write(base + targets)
			want = 5
		} else {
			write(base)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		if _, err := lab.WaitDaemon(context.Background(), sock, 15*time.Second, func(st *daemon.Status) bool { return len(st.Notify) == want }); err != nil {
			b.Fatalf("reload to %d notify targets: %v\n%s", want, err, out.String())
		}
		for range 10 {
			took := flipWAN(b, topo, nl, link, probe, addrs, change)
			change++
			if withNotify {
				five = append(five, took)
			} else {
				none = append(none, took)
			}
		}
	}
	b.StopTimer()
	reportBeside(b, none, five, "none", "5targets")
	b.ReportMetric(float64(received.Load()), "messages-received")
	b.ReportMetric(float64(pageBytes), "page-bytes")
}

// fetchPage gets the status page and its files from the daemon's socket, as a browser would, and returns their
// bytes.
func fetchPage(b *testing.B, sock string) int {
	b.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	total := 0
	for _, path := range []string{"/", "/page.js", "/page.css", "/favicon.svg"} {
		resp, err := client.Get("http://hairpin" + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
		total += len(body)
	}
	return total
}
