package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/config/hostile"
)

// CheckOptions size the config-check benchmark.
type CheckOptions struct {
	Rounds int
	Dir    string // where the files are written (a fresh temporary directory when empty)
}

// CheckFiles times `hairpin check` and measures its peak memory on the config files that once took minutes and
// gigabytes, at the sizes they were reported with, against a normal config of 50,000 forwards (the baseline),
// and a 2-million-line allow file named by many forwards against the same file named by one.
// Targets: at most 3x the baseline's time and 2x its memory, whatever the file.
func CheckFiles(ctx context.Context, bin string, opt CheckOptions, logf func(string, ...any)) ([]Row, error) {
	dir := opt.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "hairpin-bench-check-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bigList := filepath.Join(dir, "prefixes-2m.txt")
	if err := os.WriteFile(bigList, hostile.PrefixFile(2_000_000), 0o600); err != nil {
		return nil, err
	}
	// base is the index of the file a row is compared with; the first of each group is its own baseline.
	files := []struct {
		name, note string
		data       []byte
		exit       int
		base       int
	}{
		{"50000 forwards", "a normal large config", hostile.Forwards(50_000), 0, 0},
		{"2000 on one port", "109 KB; was 42 s, 2.2 GB", hostile.SamePort(2000), 2, 0},
		{"3000 aliases", "9 KB; was 52 s, 4.6 GB", hostile.Aliases(3000), 2, 0},
		{"aliases to 10^9", "billion laughs, 1 KB", hostile.Laughs(9), 2, 0},
		{"unknown keys 4 MB", "just under the size limit", hostile.UnknownKeys(config.MaxFileSize - 1024), 2, 0},
		{"unknown keys 34 MB", "over the limit; was 57 s, 5.4 GB", hostile.UnknownKeys(34 << 20), 2, 0},
		{"100 MB string", "over the limit; was echoed whole", hostile.LongString(100 << 20), 2, 0},
		// From here on the allow lists' attacks (firstAllow).
		{"32500 allow hostnames", "was 1.1 s", hostile.AllowHosts(32_500), 2, 0},
		{"65000 allow hostnames", "was 4.4 s", hostile.AllowHosts(65_000), 2, 0},
		{"130000 allow hostnames", "was 19.9 s and accepted", hostile.AllowHosts(130_000), 2, 0},
		{"2M-line allow file, 1 forward", "the file's own cost", hostile.FileForwards(1, bigList, false), 0, 10},
		{"2M-line file, 10 forwards", "was 7.9 s, 2.1 GB", hostile.FileForwards(10, bigList, false), 2, 10},
		{"2M-line file, 30 forwards", "was 32 s, 5.2 GB", hostile.FileForwards(30, bigList, false), 2, 10},
		{"2M-line set, 30 forwards", "one allow_sets entry", hostile.FileForwards(30, bigList, true), 0, 10},
	}
	// The allow lists' attacks are held to 2x in time as in memory: within 2x, or refused at once.
	const firstAllow = 7
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, fmt.Sprintf("check-%d.yaml", i))
		if err := os.WriteFile(paths[i], f.data, 0o600); err != nil {
			return nil, err
		}
		files[i].data = nil
	}
	wall := make([][]float64, len(files))
	mem := make([][]float64, len(files))
	idx := make([]int, len(files))
	for i := range idx {
		idx[i] = i
	}
	for round := range opt.Rounds {
		for _, i := range Order(round, idx) {
			took, rss, err := checkOnce(ctx, bin, paths[i], files[i].exit)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", files[i].name, err)
			}
			wall[i] = append(wall[i], took.Seconds())
			mem[i] = append(mem[i], rss)
			logf("check round %d %-20s %7.3f s %7.1f MB", round+1, files[i].name, took.Seconds(), rss)
		}
	}
	var rows []Row
	for _, m := range []struct {
		unit    string
		samples [][]float64
		limit   float64
	}{{"s", wall, 3}, {"MB peak", mem, 2}} {
		for i, f := range files {
			r := Row{Bench: "hairpin check", Variant: f.name, Note: f.note, Samples: m.samples[i], Unit: m.unit}
			if f.base != i {
				limit := m.limit
				if i >= firstAllow {
					limit = 2
				}
				r.Target = Target{"<=", limit}
				pair(&r, Row{Variant: files[f.base].name, Samples: m.samples[f.base]})
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// checkOnce runs `hairpin check` on path and returns its wall time and peak resident memory in MB.
func checkOnce(ctx context.Context, bin, path string, wantExit int) (time.Duration, float64, error) {
	r, err := timedRun(ctx, filepath.Dir(path), bin, []string{"check", "-c", path}, 0)
	if err != nil {
		return 0, 0, err
	}
	if r.exit != wantExit {
		return 0, 0, fmt.Errorf("exit %d, want %d: %.300s", r.exit, wantExit, r.out)
	}
	return r.took, r.peakMB, nil
}
