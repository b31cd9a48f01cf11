package bench

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// ApplyOptions size the apply-time benchmark: Rounds[i] rounds for Sizes[i] forwards.
type ApplyOptions struct {
	Sizes  []int
	Rounds []int
}

// ApplyTime times installing n forwards on a router without any table, alternating round by round: the full
// `hairpin apply` CLI (config parsing and validation, plan, nft) against `nft -f` loading the same map by
// itself (the floor). Four more variants show where the CLI's time goes: hairpin's nft backend alone
// in-process (plan already built), nft loading hairpin's finished table from a file (the kernel's and nft's
// share), `hairpin check` (config parsing and validation) and `hairpin --version` (the process's start, which every
// command pays). Values are seconds by the clock and of CPU.
func ApplyTime(ctx context.Context, e *Env, opt ApplyOptions) ([]Row, error) {
	var all []Row
	for k, n := range opt.Sizes {
		rows, err := applySize(ctx, e, n, opt.Rounds[k])
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	return all, nil
}

func applySize(ctx context.Context, e *Env, n, rounds int) ([]Row, error) {
	_, camAddr := e.Camera()
	fwds := manyForwards(n, e.LAN(), netip.AddrPortFrom(camAddr, 80))
	cfgPath, err := e.WriteFile(fmt.Sprintf("apply-%d.yaml", n), hairpinConfig(e.Topo.WANIf, e.Topo.LANIf, fwds))
	if err != nil {
		return nil, err
	}
	floorPath, err := e.WriteFile(fmt.Sprintf("apply-%d-floor.nft", n), floorMap(fwds))
	if err != nil {
		return nil, err
	}
	desired, err := e.desired(cfgPath)
	if err != nil {
		return nil, err
	}
	dumpPath, err := e.dumpTable(ctx, cfgPath, n)
	if err != nil {
		return nil, err
	}
	variants := []struct {
		name, note string
		run        func() (timing, error)
	}{
		{"nft -f map", "add map + 1 element block", func() (timing, error) { return e.loadFile(ctx, floorPath) }},
		{"hairpin apply", "full CLI", func() (timing, error) { return e.Apply(ctx, cfgPath) }},
		{"hairpin nft backend", "in-process, config parsed beforehand: the daemon's apply", func() (timing, error) { return e.backendApply(ctx, desired) }},
		{"nft -f hairpin table", "hairpin's own table as nft lists it, diagnosis", func() (timing, error) { return e.loadFile(ctx, dumpPath) }},
		{"hairpin check", "config parsing and validation only, diagnosis", func() (timing, error) {
			took, _, err := Run(ctx, e.Topo.Router, "", e.Bin, "check", "-c", cfgPath)
			return took, err
		}},
		{"hairpin --version", "process start only (runtime and package init), diagnosis", func() (timing, error) {
			took, _, err := Run(ctx, e.Topo.Router, "", e.Bin, "--version")
			return took, err
		}},
	}
	wall := make([][]float64, len(variants))
	cpu := make([][]float64, len(variants))
	for round := range rounds {
		for _, i := range Order(round, []int{0, 1, 2, 3, 4, 5}) {
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			took, err := variants[i].run()
			if err != nil {
				return nil, fmt.Errorf("apply %d %s: %w", n, variants[i].name, err)
			}
			wall[i] = append(wall[i], took.Wall.Seconds())
			cpu[i] = append(cpu[i], took.CPU.Seconds())
			e.Log("apply %d round %d %-19s %7.3f s (cpu %.3f s)", n, round+1, variants[i].name, took.Wall.Seconds(), took.CPU.Seconds())
		}
	}
	if err := e.Clean(ctx); err != nil {
		return nil, err
	}
	bench := fmt.Sprintf("apply %d forwards", n)
	var rows []Row
	for _, m := range []struct {
		unit    string
		samples [][]float64
	}{{"s", wall}, {"s cpu", cpu}} {
		base := Row{Bench: bench, Variant: variants[0].name, Note: variants[0].note, Samples: m.samples[0], Unit: m.unit}
		rows = append(rows, base)
		for i := 1; i < len(variants); i++ {
			r := Row{Bench: bench, Variant: variants[i].name, Note: variants[i].note, Samples: m.samples[i], Unit: m.unit}
			pair(&r, base)
			// The target holds both for the one-shot CLI (which also parses the YAML file) and for the
			// datapath apply the daemon repeats on start, reload and resync.
			if i == 1 || i == 2 {
				r.Target = Target{"<=", 1.5}
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// dumpTable applies the config once and saves hairpin's table as `nft list` prints it, which nft -f loads
// back as is.
func (e *Env) dumpTable(ctx context.Context, cfgPath string, n int) (string, error) {
	if err := e.Clean(ctx); err != nil {
		return "", err
	}
	if _, err := e.Apply(ctx, cfgPath); err != nil {
		return "", err
	}
	_, out, err := Run(ctx, e.Topo.Router, "", "nft", "list", "table", "ip", nft.Table)
	if err != nil {
		return "", err
	}
	return e.WriteFile(fmt.Sprintf("apply-%d-hairpin.nft", n), out)
}

// desired is the plan `hairpin apply` would build for the config at path on the lab's router.
func (e *Env) desired(path string) (*plan.Desired, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	d, _ := plan.Build(cfg, plan.Observed{WANAddrs: []netip.Addr{e.Public()}, LANNets: []netip.Prefix{e.LAN()}}, plan.Options{})
	return d, nil
}

// backendApply runs hairpin's nft backend in this process, on a thread inside the router namespace (the nft
// commands it starts inherit the namespace), and returns how long Apply took. Its CPU time is this
// process's and its reaped children's: nothing else runs meanwhile.
func (e *Env) backendApply(ctx context.Context, d *plan.Desired) (timing, error) {
	var took timing
	err := netns.Do(e.Topo.Router, func() error {
		cpu0 := cpuUsed()
		start := time.Now()
		be, err := nft.New()
		if err != nil {
			return err
		}
		defer be.Close()
		err = be.Apply(ctx, d)
		took = timing{Wall: time.Since(start), CPU: cpuUsed() - cpu0}
		return err
	})
	return took, err
}

// cpuUsed is the CPU time of this process and its reaped children so far.
func cpuUsed() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
