package bench

import (
	"context"
	"fmt"
	"net/netip"
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

// ApplyTime times installing n forwards on a router without any table, three ways alternating round by
// round: the full `hairpin apply` CLI (config parsing and validation, plan, nft), hairpin's nft backend
// alone in-process (plan already built: where the CLI's time goes), and `nft -f` loading the same map by
// itself (the floor). Values are seconds.
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
	fwds := ManyForwards(n, e.LAN(), netip.AddrPortFrom(camAddr, 80))
	cfgPath, err := e.WriteFile(fmt.Sprintf("apply-%d.yaml", n), HairpinConfig(e.Topo.WANIf, e.Topo.LANIf, fwds))
	if err != nil {
		return nil, err
	}
	floorPath, err := e.WriteFile(fmt.Sprintf("apply-%d-floor.nft", n), FloorMap(fwds))
	if err != nil {
		return nil, err
	}
	desired, err := e.desired(cfgPath)
	if err != nil {
		return nil, err
	}
	variants := []struct {
		name, note string
		run        func() (time.Duration, error)
	}{
		{"nft -f map", "add map + 1 element block", func() (time.Duration, error) { return e.LoadFile(ctx, floorPath) }},
		{"hairpin apply", "full CLI", func() (time.Duration, error) { return e.Apply(ctx, cfgPath) }},
		{"hairpin nft backend", "plan built beforehand, context", func() (time.Duration, error) { return e.backendApply(ctx, desired) }},
	}
	samples := make([][]float64, len(variants))
	for round := range rounds {
		for _, i := range Order(round, []int{0, 1, 2}) {
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			took, err := variants[i].run()
			if err != nil {
				return nil, fmt.Errorf("apply %d %s: %w", n, variants[i].name, err)
			}
			samples[i] = append(samples[i], took.Seconds())
			e.Log("apply %d round %d %-19s %7.3f s", n, round+1, variants[i].name, took.Seconds())
		}
	}
	if err := e.Clean(ctx); err != nil {
		return nil, err
	}
	bench := fmt.Sprintf("apply %d forwards", n)
	rows := make([]Row, len(variants))
	for i, v := range variants {
		rows[i] = Row{Bench: bench, Variant: v.name, Note: v.note, Samples: samples[i], Unit: "s"}
		if i > 0 {
			Pair(&rows[i], rows[0])
		}
	}
	rows[1].Target = Target{"<=", 1.5}
	return rows, nil
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
// commands it starts inherit the namespace), and returns how long Apply took.
func (e *Env) backendApply(ctx context.Context, d *plan.Desired) (time.Duration, error) {
	var took time.Duration
	err := netns.Do(e.Topo.Router, func() error {
		start := time.Now()
		be, err := nft.New()
		if err != nil {
			return err
		}
		err = be.Apply(ctx, d)
		took = time.Since(start)
		return err
	})
	return took, err
}
