package bench

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
)

// MemoryOptions size the memory benchmark.
type MemoryOptions struct {
	Forwards int // forwards of the large config
	Prefixes int // prefixes of the allow list
	Rounds   int
	// Settle is how long the daemon runs after its first apply before its steady size is read.
	Settle time.Duration
}

// Memory measures hairpin's memory at size, for a config of many forwards and for one forward allowing a
// long prefix list: the peak of `hairpin apply` (GNU time, nft included), and the daemon's peak (VmHWM) and
// steady resident size (VmRSS, read Settle after its rules are installed).
func Memory(ctx context.Context, e *Env, opt MemoryOptions) ([]Row, error) {
	_, cam := e.Camera()
	fwds := manyForwards(opt.Forwards, e.LAN(), netip.AddrPortFrom(cam, 80))
	var list strings.Builder
	for _, p := range allowPrefixes(opt.Prefixes) {
		list.WriteString(p.String())
		list.WriteByte('\n')
	}
	listPath, err := e.WriteFile(fmt.Sprintf("mem-allow-%d.txt", opt.Prefixes), list.String())
	if err != nil {
		return nil, err
	}
	cases := []struct{ name, body string }{
		{fmt.Sprintf("%d forwards", opt.Forwards), hairpinConfig(e.Topo.WANIf, e.Topo.LANIf, fwds)},
		{fmt.Sprintf("1 forward, %d-prefix allow list", opt.Prefixes),
			fmt.Sprintf("wan: {interface: %s}\nlan: {interface: %s}\nforwards:\n  - {name: cam, port: 8090, to: %s:80, allow: [%s]}\n",
				e.Topo.WANIf, e.Topo.LANIf, cam, listPath)},
	}
	var rows []Row
	for k, c := range cases {
		sock := filepath.Join(e.Dir, fmt.Sprintf("mem-%d.sock", k))
		cfgPath, err := e.WriteFile(fmt.Sprintf("mem-%d.yaml", k),
			c.body+fmt.Sprintf("state_dir: %s\ndaemon: {status: %s}\n", filepath.Join(e.Dir, fmt.Sprintf("mem-state-%d", k)), sock))
		if err != nil {
			return nil, err
		}
		var apply, peak, steady []float64
		for round := range opt.Rounds {
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			_, mb, err := e.timed(ctx, e.Bin, "apply", "-c", cfgPath)
			if err != nil {
				return nil, fmt.Errorf("memory %s: apply: %w", c.name, err)
			}
			apply = append(apply, mb)
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			p, s, err := e.daemonMemory(ctx, cfgPath, sock, opt.Settle)
			if err != nil {
				return nil, fmt.Errorf("memory %s: daemon: %w", c.name, err)
			}
			peak, steady = append(peak, p), append(steady, s)
			e.Log("memory %s round %d: apply %.1f MB peak, daemon %.1f MB peak, %.1f MB steady", c.name, round+1, mb, p, s)
		}
		bench := "memory, " + c.name
		rows = append(rows,
			Row{Bench: bench, Variant: "hairpin apply", Note: "peak, nft included", Samples: apply, Unit: "MB peak"},
			Row{Bench: bench, Variant: "hairpin run", Note: "daemon's peak (VmHWM)", Samples: peak, Unit: "MB peak"})
		r := Row{Bench: bench, Variant: "hairpin run", Note: fmt.Sprintf("daemon's resident size %s after its first apply (VmRSS)", opt.Settle), Samples: steady, Unit: "MB"}
		if k == 1 {
			r.Target = Target{"max", 40}
		}
		rows = append(rows, r)
	}
	return rows, e.Clean(ctx)
}

// daemonMemory starts `hairpin run` with cfgPath in the router namespace, waits for its rules, lets it run
// for settle, and returns its peak and current resident size in MB; the daemon is stopped before returning.
func (e *Env) daemonMemory(ctx context.Context, cfgPath, sock string, settle time.Duration) (peak, steady float64, err error) {
	cmd, err := e.startIn(e.Topo.Router, e.Bin, "run", "-c", cfgPath)
	if err != nil {
		return 0, 0, err
	}
	defer lab.StopProcess(cmd)
	if _, err := lab.WaitDaemon(ctx, sock, 60*time.Second, func(st *daemon.Status) bool { return st.Installed }); err != nil {
		return 0, 0, err
	}
	// The settle time is what is measured, not a wait for an event: the steady size is the size after it.
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	// `ip netns exec` execs the binary in place, so the command's PID is the daemon's.
	pid := cmd.Process.Pid
	return statusKB(pid, "VmHWM:") / 1024, statusKB(pid, "VmRSS:") / 1024, nil
}
