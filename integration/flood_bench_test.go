package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
)

// BenchmarkReactionUnderStatusFlood: the WAN reaction time (kernel ack of the new address to the first
// connection through it) with 64 clients hammering the status listener (GET /status, GET /metrics, and POST
// /reload, which is refused) against the same daemon left alone, in alternating blocks of 10 changes. Each
// status request once started two nft processes and POST /reload re-applied everything: 64 clients pushed the
// reaction from 17 ms to 2.6 s. It reports both p50s and their ratio, and the requests the flood made.
func BenchmarkReactionUnderStatusFlood(b *testing.B) {
	topo := benchLab(b)
	dir := b.TempDir()
	sock := filepath.Join(dir, "hairpin.sock")
	cfg := filepath.Join(dir, "hairpin.yaml")
	text := fmt.Sprintf("daemon: {status: %s}\nstate_dir: %s\nwan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\"}\n", sock, dir)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	_, out, err := topo.Start(topo.Router, "run", "-c", cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lab.WaitDaemon(context.Background(), sock, 15*time.Second, lab.Installed); err != nil {
		b.Fatalf("daemon did not apply: %v\n%s", err, out.String())
	}
	nl, _ := netlinkIn(b, topo.Router)
	link := linkNamed(b, nl, topo.WANIf)
	probe := newProber(b, topo.Laptop)
	defer probe.close()

	var requests, refused atomic.Int64
	flood := func(stop <-chan struct{}, wg *sync.WaitGroup) {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for i := range 64 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					var resp *http.Response
					var err error
					switch (i + n) % 8 {
					case 0:
						resp, err = client.Post("http://hairpin/reload", "text/plain", nil)
					case 1:
						resp, err = client.Get("http://hairpin/metrics")
					default:
						_, err = daemon.Fetch(context.Background(), sock)
					}
					if resp != nil {
						if resp.StatusCode == http.StatusForbidden {
							refused.Add(1)
						}
						resp.Body.Close()
					}
					if err == nil {
						requests.Add(1)
					}
				}
			})
		}
	}

	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")}
	var quiet, flooded []time.Duration
	change := 0
	b.ResetTimer()
	for block := range 6 {
		withFlood := block%2 == 1
		stop, wg := make(chan struct{}), &sync.WaitGroup{}
		if withFlood {
			flood(stop, wg)
			time.Sleep(200 * time.Millisecond) // the flood is under way before the first change
		}
		for range 10 {
			took := flipWAN(b, topo, nl, link, probe, addrs, change)
			change++
			if withFlood {
				flooded = append(flooded, took)
			} else {
				quiet = append(quiet, took)
			}
		}
		close(stop)
		wg.Wait()
	}
	b.StopTimer()
	reportBeside(b, quiet, flooded, "quiet", "flood")
	b.ReportMetric(float64(requests.Load()), "status-requests")
	b.ReportMetric(float64(refused.Load()), "reloads-refused")
}
