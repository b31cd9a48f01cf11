package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// RouterOSReplyOptions size the hostile RouterOS reply benchmark.
type RouterOSReplyOptions struct {
	Rounds  int
	ReplyMB int     // the hostile reply's size (32: RouterOS's reply cap)
	LimitMB float64 // a run past this resident memory is killed and reported as such
}

// RouterOSReply times `hairpin apply` and measures its peak memory against a loopback server that answers every
// GET with a list of {"a":"b"} of ReplyMB MiB (within the byte cap, it once decoded to 10 GB in 39 s), next to
// the normal case: `hairpin apply` against the simulated router with the same config, already applied (what
// the daemon's every poll does). Targets: at most 2x the normal case's time and memory (a refusal at once meets
// both).
func RouterOSReply(ctx context.Context, bin string, opt RouterOSReplyOptions, logf func(string, ...any)) ([]Row, error) {
	dir, err := os.MkdirTemp("", "hairpin-bench-routeros-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	router := rostest.Start("hairpin", "pw")
	defer router.Close()
	router.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1"})
	router.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})

	item := []byte(`{"a":"b"},`)
	big := append([]byte{'['}, bytes.Repeat(item, (opt.ReplyMB<<20-1)/len(item))...)
	big[len(big)-1] = ']' // the last item's comma
	hostile := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":400,"message":"Bad Request"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(big)
	}))
	hostile.Config.ErrorLog = log.New(io.Discard, "", 0) // the client hanging up mid-reply is the point
	hostile.StartTLS()
	defer hostile.Close()
	sum := sha256.Sum256(hostile.Certificate().Raw)

	secret := filepath.Join(dir, "routeros.secret")
	if err := os.WriteFile(secret, []byte("pw\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := func(name, url, fingerprint string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(fmt.Sprintf(`backend: routeros
routeros: {url: %q, username: hairpin, password_file: %q, tls_fingerprint: %q}
state_dir: %s
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
  - {name: back-cam, port: 8091, to: "192.168.88.181:80"}
`, url, secret, fingerprint, dir)), 0o600)
	}
	normal, err := cfg("normal.yaml", router.URL(), router.Fingerprint())
	if err != nil {
		return nil, err
	}
	bad, err := cfg("hostile.yaml", hostile.URL, config.FormatFingerprint(sum[:]))
	if err != nil {
		return nil, err
	}
	if r, err := timedRun(ctx, dir, bin, []string{"apply", "-c", normal}, 0); err != nil || r.exit != 0 {
		return nil, fmt.Errorf("the first apply on the simulated router: exit %d, %v: %.300s", r.exit, err, r.out)
	}
	variants := []struct {
		name, path string
	}{{"normal router", normal}, {fmt.Sprintf("%d MiB of {\"a\":\"b\"}", opt.ReplyMB), bad}}
	wall := make([][]float64, 2)
	mem := make([][]float64, 2)
	var note string
	for round := range opt.Rounds {
		for _, i := range Order(round, []int{0, 1}) {
			r, err := timedRun(ctx, dir, bin, []string{"apply", "-c", variants[i].path}, opt.LimitMB)
			if err != nil {
				return nil, err
			}
			switch {
			case i == 0 && r.exit != 0:
				return nil, fmt.Errorf("apply on the simulated router: exit %d: %.300s", r.exit, r.out)
			case i == 1 && r.killed:
				note = fmt.Sprintf("killed past %.0f MB", opt.LimitMB)
			case i == 1:
				note, _, _ = strings.Cut(firstLine(r.out), ";")
			}
			wall[i] = append(wall[i], r.took.Seconds())
			mem[i] = append(mem[i], r.peakMB)
			logf("routeros reply round %d %-22s %7.3f s %8.1f MB exit %d %s", round+1, variants[i].name, r.took.Seconds(), r.peakMB, r.exit,
				map[bool]string{true: "(killed)"}[r.killed])
		}
	}
	var rows []Row
	for _, m := range []struct {
		unit    string
		samples [][]float64
	}{{"s", wall}, {"MB peak", mem}} {
		base := Row{Bench: "hairpin apply (routeros)", Variant: variants[0].name, Samples: m.samples[0], Unit: m.unit}
		r := Row{Bench: "hairpin apply (routeros)", Variant: variants[1].name, Note: note, Samples: m.samples[1], Unit: m.unit, Target: Target{"<=", 2}}
		pair(&r, base)
		rows = append(rows, base, r)
	}
	return rows, nil
}
