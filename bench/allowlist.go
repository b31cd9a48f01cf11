package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/nft"
	"github.com/hairpin-nat/hairpin/internal/plan"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// allowPrefixes returns n disjoint public IPv4 prefixes of mixed lengths (/20 to /32), like a country list:
// each lies in a /20 of its own, picked at random (seeded) above 1.0.0.0 and below 224.0.0.0.
func allowPrefixes(n int) []netip.Prefix {
	r := rand.New(rand.NewPCG(14, 14))
	const first, last = 1 << 12, 224 << 12 // /20 blocks
	seen := make(map[uint32]bool, n)
	lengths := []int{20, 22, 24, 24, 24, 32}
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		b := uint32(first + r.IntN(last-first))
		if seen[b] {
			continue
		}
		seen[b] = true
		a := b << 12
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), lengths[r.IntN(len(lengths))]))
	}
	return out
}

// AllowOptions size the allowlist benchmark.
type AllowOptions struct {
	Prefixes int
	Rounds   int
}

// AllowList times loading a file of many prefixes as a forward's allow list, against nft -f loading the same
// set (the baseline, in a table of its own), alternating round by round: hairpin's load itself (parse the
// file, load the list's sets over netlink, in this process), the first `hairpin apply` of a config with the
// list on a clean router, and `hairpin apply` again with the list unchanged. Memory is the peak resident size
// of the process tree (GNU time).
func AllowList(ctx context.Context, e *Env, opt AllowOptions) ([]Row, error) {
	prefixes := allowPrefixes(opt.Prefixes)
	var list, floor strings.Builder
	fmt.Fprintf(&floor, "table ip %s {\n\tset allow {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { ", FloorTable)
	for i, p := range prefixes {
		list.WriteString(p.String())
		list.WriteByte('\n')
		if i > 0 {
			floor.WriteString(", ")
		}
		floor.WriteString(p.String())
	}
	floor.WriteString(" }\n\t}\n}\n")
	listPath, err := e.WriteFile(fmt.Sprintf("allow-%d.txt", opt.Prefixes), list.String())
	if err != nil {
		return nil, err
	}
	floorPath, err := e.WriteFile(fmt.Sprintf("allow-%d-floor.nft", opt.Prefixes), floor.String())
	if err != nil {
		return nil, err
	}
	_, cam := e.Camera()
	cfgPath, err := e.WriteFile("allow.yaml", fmt.Sprintf("wan: {interface: %s}\nlan: {interface: %s}\nforwards:\n  - {name: cam, port: 8090, to: %s:80, allow: [%s]}\n",
		e.Topo.WANIf, e.Topo.LANIf, cam, listPath))
	if err != nil {
		return nil, err
	}
	noListPath, err := e.WriteFile("nolist.yaml", fmt.Sprintf("wan: {interface: %s}\nlan: {interface: %s}\nforwards:\n  - {name: cam, port: 8090, to: %s:80}\n",
		e.Topo.WANIf, e.Topo.LANIf, cam))
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(e.Dir, "allow-daemon.sock")
	daemonCfg, err := e.WriteFile("allow-daemon.yaml", fmt.Sprintf("state_dir: %s\ndaemon: {status: %s}\nwan: {interface: %s}\nlan: {interface: %s}\nforwards:\n  - {name: cam, port: 8090, to: %s:80, allow: [%s]}\n",
		filepath.Join(e.Dir, "allow-daemon-state"), sock, e.Topo.WANIf, e.Topo.LANIf, cam, listPath))
	if err != nil {
		return nil, err
	}
	// changed is the list with its first prefix replaced by one no other prefix is near.
	changed := strings.Replace(list.String(), prefixes[0].String()+"\n", changedPrefix.String()+"\n", 1)
	variants := []struct {
		name, note string
		run        func() (timing, float64, error) // time, MB
	}{
		{"nft -f set", "the same interval set from an nft file", func() (timing, float64, error) {
			return e.timed(ctx, "nft", "-f", floorPath)
		}},
		{"hairpin load", "parse the file, load the sets (one per prefix length) over netlink", func() (timing, float64, error) {
			return e.loadInProcess(ctx, listPath)
		}},
		{"hairpin apply", "first apply of a config with the list, full CLI", func() (timing, float64, error) {
			return e.timed(ctx, e.Bin, "apply", "-c", cfgPath)
		}},
		{"hairpin apply again", "list unchanged: its set stays, and nft reads no set (internal/nft/README.md)", func() (timing, float64, error) {
			if _, _, err := e.timed(ctx, e.Bin, "apply", "-c", cfgPath); err != nil {
				return timing{}, 0, err
			}
			return e.timed(ctx, e.Bin, "apply", "-c", cfgPath)
		}},
		{"hairpin apply again, no list", "the same re-apply of the config without the allow list", func() (timing, float64, error) {
			if _, _, err := e.timed(ctx, e.Bin, "apply", "-c", noListPath); err != nil {
				return timing{}, 0, err
			}
			return e.timed(ctx, e.Bin, "apply", "-c", noListPath)
		}},
		{"hairpin run, reload, one prefix changed", "SIGHUP to the kernel holding the change, and the daemon's CPU by then", func() (timing, float64, error) {
			defer os.WriteFile(listPath, []byte(list.String()), 0o644)
			return e.daemonReload(ctx, daemonCfg, sock, func() error { return os.WriteFile(listPath, []byte(changed), 0o644) }, "fwd-cam", prefixes[0])
		}},
		{"the change in place alone", "nft.SetAllowPrefixes of the one-prefix change, list already parsed: netlink work and the kernel's commit", func() (timing, float64, error) {
			defer os.WriteFile(listPath, []byte(list.String()), 0o644)
			return e.changeInPlace(ctx, cfgPath, listPath, list.String(), changed)
		}},
		{"hairpin apply, one prefix changed", "apply after one prefix of the applied list changed", func() (timing, float64, error) {
			if _, _, err := e.timed(ctx, e.Bin, "apply", "-c", cfgPath); err != nil {
				return timing{}, 0, err
			}
			defer os.WriteFile(listPath, []byte(list.String()), 0o644)
			if err := os.WriteFile(listPath, []byte(changed), 0o644); err != nil {
				return timing{}, 0, err
			}
			return e.timed(ctx, e.Bin, "apply", "-c", cfgPath)
		}},
	}
	secs := make([][]float64, len(variants))
	cpu := make([][]float64, len(variants))
	mem := make([][]float64, len(variants))
	for round := range opt.Rounds {
		for _, i := range Order(round, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
			if err := e.Clean(ctx); err != nil {
				return nil, err
			}
			took, mb, err := variants[i].run()
			if err != nil {
				return nil, fmt.Errorf("allowlist %s: %w", variants[i].name, err)
			}
			secs[i] = append(secs[i], took.Wall.Seconds())
			cpu[i] = append(cpu[i], took.CPU.Seconds())
			mem[i] = append(mem[i], mb)
			e.Log("allowlist %d round %d %-20s %7.3f s (cpu %.3f s) %7.1f MB", opt.Prefixes, round+1, variants[i].name, took.Wall.Seconds(), took.CPU.Seconds(), mb)
		}
	}
	if err := e.Clean(ctx); err != nil {
		return nil, err
	}
	bench := fmt.Sprintf("allowlist %d prefixes", opt.Prefixes)
	var rows []Row
	for _, m := range []struct {
		unit    string
		samples [][]float64
	}{{"s", secs}, {"s cpu", cpu}, {"MB peak", mem}} {
		base := Row{Bench: bench, Variant: variants[0].name, Note: variants[0].note, Samples: m.samples[0], Unit: m.unit}
		rows = append(rows, base)
		for i := 1; i < len(variants); i++ {
			if i == 6 && m.unit == "MB peak" {
				continue // measured inside this program: no memory of its own to report
			}
			r := Row{Bench: bench, Variant: variants[i].name, Note: variants[i].note, Samples: m.samples[i], Unit: m.unit}
			pair(&r, base)
			switch {
			case i == 1 && m.unit != "MB peak":
				r.Target = Target{Op: "<=", Limit: 0.5}
			case i == 3 && m.unit == "s cpu":
				// The unchanged re-apply against the same re-apply without the list (issue: within 3x).
				pair(&r, Row{Variant: variants[4].name, Samples: m.samples[4]})
				r.Target = Target{Op: "<=", Limit: 3}
			case i == 3 && m.unit == "MB peak":
				r.Target = Target{Op: "max", Limit: 80}
			case i == 5 && m.unit == "s":
				r.Target = Target{Op: "max", Limit: 0.010}
			}
			if i == 5 && m.unit == "MB peak" {
				r.Note = "the daemon's peak (VmHWM), from its start"
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// timed runs a command in the router namespace under GNU time and returns its time and peak MB.
func (e *Env) timed(ctx context.Context, name string, args ...string) (timing, float64, error) {
	rss, err := os.CreateTemp(e.Dir, "rss-")
	if err != nil {
		return timing{}, 0, err
	}
	rss.Close()
	defer os.Remove(rss.Name())
	took, _, err := Run(ctx, e.Topo.Router, "", "/usr/bin/time", append([]string{"-q", "-o", rss.Name(), "-f", "%M", name}, args...)...)
	if err != nil {
		return took, 0, err
	}
	b, err := os.ReadFile(rss.Name())
	if err != nil {
		return took, 0, err
	}
	var kb float64
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &kb); err != nil {
		return took, 0, fmt.Errorf("GNU time's output %q: %w", b, err)
	}
	return took, kb / 1024, nil
}

// LoadAllowFile is the work of hairpin's load, run by `hairpin-bench -load-allow FILE` inside the router
// namespace so that GNU time sees its peak memory alone: parse the list as the config does and load it over
// netlink into hairpin's table (which must exist).
func LoadAllowFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	prefixes, issues := config.ParseAllowFile(path, data)
	if len(issues) > 0 {
		return fmt.Errorf("%v", issues[0])
	}
	return nft.LoadPrefixSet("allow_bench", prefixes)
}

// loadInProcess times LoadAllowFile in a process of its own (this program), after creating hairpin's table.
func (e *Env) loadInProcess(ctx context.Context, path string) (timing, float64, error) {
	if _, _, err := Run(ctx, e.Topo.Router, "", "nft", "add", "table", "ip", nft.Table, "{ comment \""+nft.OwnerComment+"\" ; }"); err != nil {
		return timing{}, 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return timing{}, 0, err
	}
	return e.timed(ctx, self, "-load-allow", path)
}

// changedPrefix replaces a prefix of the list in the one-prefix change: nothing else is near it.
var changedPrefix = netip.MustParsePrefix("240.0.0.0/24")

// daemonReload starts `hairpin run` with cfgPath, waits for its rules, then changes the list (change) and
// sends SIGHUP. The time is from the signal until the kernel's set holds changedPrefix and no longer gone,
// polled one element at a time over netlink in the router namespace; the CPU is the daemon's own (all its
// threads, /proc schedstat, in nanoseconds) until then, and the log also gives it for the whole reload. The
// memory is the daemon's peak since its start. The daemon is stopped before returning.
func (e *Env) daemonReload(ctx context.Context, cfgPath, sock string, change func() error, id string, gone netip.Prefix) (timing, float64, error) {
	cmd, err := e.startIn(e.Topo.Router, e.Bin, "run", "-c", cfgPath)
	if err != nil {
		return timing{}, 0, err
	}
	defer lab.StopProcess(cmd)
	if _, err := lab.WaitDaemon(ctx, sock, 60*time.Second, func(st *daemon.Status) bool { return st.Installed }); err != nil {
		return timing{}, 0, err
	}
	pid := cmd.Process.Pid
	// A user edits the list of a daemon that has been running a while: wait until its start is over (the first
	// apply of 100,000 prefixes leaves the collector working for a while after Installed), so the figure is the
	// reload's own and not a race with the start's garbage collection.
	if err := settled(ctx, pid); err != nil {
		return timing{}, 0, err
	}
	// The reload's change of rules: in place, or (before it could be) a full apply.
	applied := func(st *daemon.Status) bool {
		for _, ev := range st.Events {
			if strings.HasPrefix(ev.Message, "allow list updated in place") || strings.Contains(ev.Message, "why=reload") {
				return true
			}
		}
		return false
	}
	if err := change(); err != nil {
		return timing{}, 0, err
	}
	var took, cpuKernel time.Duration
	cpu0 := cpuNanos(pid)
	err = netns.Do(e.Topo.Router, func() error {
		conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		// One lasting socket: a socket per poll (gnft.New's default) waits for an RCU grace period at each
		// close, which on a busy machine was the larger part of the time measured.
		gconn, err := gnft.New(gnft.AsLasting())
		if err != nil {
			return err
		}
		defer gconn.CloseLasting()
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			return err
		}
		deadline := start.Add(30 * time.Second)
		for time.Now().Before(deadline) {
			// The sets the rules use: the list's (allow_fwd-cam, or allow_fwd-cam_b after a full apply swapped
			// it), one per prefix length (allow_fwd-cam_24), or, before hash sets, one interval set of the
			// list's name; before stable names, the list's and a hash of its content.
			sets, err := gconn.GetSets(&gnft.Table{Name: nft.Table, Family: gnft.TableFamilyIPv4})
			if err != nil {
				return err
			}
			holds := func(p netip.Prefix) (bool, error) {
				for _, set := range sets {
					rest, ok := strings.CutPrefix(set.Name, "allow_"+id)
					if !ok {
						continue
					}
					rest = strings.TrimPrefix(rest, "_b")
					if bits, err := strconv.Atoi(strings.TrimPrefix(rest, "_")); err == nil && bits != p.Bits() {
						continue
					}
					if in, err := nft.SetHolds(conn, set.Name, p); in || err != nil {
						return in, err
					}
				}
				return false, nil
			}
			added, err := holds(changedPrefix)
			if err != nil {
				return err
			}
			still, err := holds(gone)
			if err != nil {
				return err
			}
			if added && !still {
				took = time.Since(start)
				cpuKernel = time.Duration(cpuNanos(pid) - cpu0)
				return nil
			}
			time.Sleep(100 * time.Microsecond)
		}
		return fmt.Errorf("the kernel did not hold the changed list 30 s after SIGHUP")
	})
	if err != nil {
		return timing{}, 0, err
	}
	if _, err := lab.WaitDaemon(ctx, sock, 30*time.Second, applied); err != nil {
		return timing{}, 0, err
	}
	// What the reload does after its change of rules (upstream, DDNS, returning memory) is counted too: a
	// measured pause, not a wait for an event.
	time.Sleep(300 * time.Millisecond)
	e.Log("daemon reload: %.1f ms to the kernel holding the change, %.1f ms of the daemon's CPU by then, %.1f ms for the whole reload",
		took.Seconds()*1e3, cpuKernel.Seconds()*1e3, float64(cpuNanos(pid)-cpu0)/1e6)
	return timing{Wall: took, CPU: cpuKernel}, statusKB(pid, "VmHWM:") / 1024, nil
}

// cpuNanos is the CPU time pid's threads have run, in nanoseconds (/proc/PID/task/*/schedstat): finer than
// the clock ticks of /proc/PID/stat, which cannot tell 2 ms from 9.
// settled waits until pid's CPU time has not moved for a quarter of a second.
func settled(ctx context.Context, pid int) error {
	last, since := cpuNanos(pid), time.Now()
	err := poll.Until(ctx, 30*time.Second, func() bool {
		if now := cpuNanos(pid); now != last {
			last, since = now, time.Now()
			return false
		}
		return time.Since(since) >= 250*time.Millisecond
	})
	if err != nil {
		return fmt.Errorf("the daemon did not go idle after its start: %w", err)
	}
	return nil
}

func cpuNanos(pid int) int64 {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// changeInPlace times what the daemon's reload does once the changed list is parsed: it applies the plan with
// list in the router namespace from this program, then times SetAllowPrefixes to the plan with changed (wall,
// and this thread's CPU, the kernel's commit included: it runs in the sending thread).
func (e *Env) changeInPlace(ctx context.Context, cfgPath, listPath, list, changed string) (timing, float64, error) {
	load := func(text string) (*plan.Desired, error) {
		if err := os.WriteFile(listPath, []byte(text), 0o644); err != nil {
			return nil, err
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		d, _ := plan.Build(cfg, plan.Observed{WANExists: true, WANAddrs: []netip.Addr{e.Topo.RouterWAN}, LANNets: []netip.Prefix{e.Topo.LANNet}}, plan.Options{})
		return d, nil
	}
	have, err := load(list)
	if err != nil {
		return timing{}, 0, err
	}
	want, err := load(changed)
	if err != nil {
		return timing{}, 0, err
	}
	var took timing
	err = netns.Do(e.Topo.Router, func() error {
		b, err := nft.New()
		if err != nil {
			return err
		}
		defer b.Close()
		if err := b.Apply(ctx, have); err != nil {
			return err
		}
		changes := plan.ChangedPrefixSets(have, want)
		c0, t0 := threadCPU(), time.Now()
		if err := b.SetAllowPrefixes(ctx, changes); err != nil {
			return err
		}
		took = timing{Wall: time.Since(t0), CPU: threadCPU() - c0}
		return nil
	})
	return took, 0, err
}

// threadCPU is the CPU time of the calling OS thread (netns.Do locks it), kernel time included.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
