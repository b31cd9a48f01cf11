package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// Env is a built lab plus what the benchmarks started in it. Close undoes all of it.
type Env struct {
	Topo *lab.Topology
	Bin  string // the hairpin binary under test
	Dir  string // scratch directory for configs and scripts
	Log  func(format string, args ...any)

	mu      sync.Mutex
	procs   []*exec.Cmd
	closers []func()
}

// NewEnv builds a lab with a random namespace prefix. bin is the hairpin binary to benchmark.
func NewEnv(ctx context.Context, bin string, logf func(string, ...any)) (*Env, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hairpin-bench-")
	if err != nil {
		return nil, err
	}
	// "hb" tells the benchmark's namespaces from the tests' ("hp") in `ip netns list`.
	topo, err := lab.Build(ctx, lab.Options{Bin: bin, Prefix: "hb" + strings.TrimPrefix(lab.RandomPrefix(), "hp")})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Env{Topo: topo, Bin: bin, Dir: dir, Log: logf}, nil
}

// Close stops everything the benchmarks started (processes by PID), then the lab's namespaces.
func (e *Env) Close() {
	e.mu.Lock()
	procs, closers := e.procs, e.closers
	e.procs, e.closers = nil, nil
	e.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	for _, p := range procs {
		lab.StopProcess(p)
	}
	e.Topo.Close()
	os.RemoveAll(e.Dir)
}

// onClose registers fn to run when the environment closes (listeners, proxies).
func (e *Env) onClose(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closers = append(e.closers, fn)
}

// startIn runs a long-lived command inside namespace ns until Close. It gets its own process group, so a
// terminal's Ctrl-C reaches the benchmark, which then stops the command by PID.
func (e *Env) startIn(ns, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.procs = append(e.procs, cmd)
	e.mu.Unlock()
	return cmd, nil
}

// timing is how long something took by the clock, and how much CPU it used (user plus system, its
// children included). On a busy shared machine the clock mostly measures the neighbours; CPU time much less.
type timing struct{ Wall, CPU time.Duration }

// Run runs a command inside namespace ns, feeding it stdin, and returns how long it took.
func Run(ctx context.Context, ns, stdin, name string, args ...string) (timing, string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := timing{Wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		// wait4's usage covers the process and the children it waited for (hairpin's nft runs).
		took.CPU = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		return took, out.String(), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns, err, firstLine(out.String()))
	}
	return took, out.String(), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// WriteFile writes text into the scratch directory and returns its path.
func (e *Env) WriteFile(name, text string) (string, error) {
	path := filepath.Join(e.Dir, name)
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// Apply runs `hairpin apply -c path` in the router namespace and returns how long it took.
func (e *Env) Apply(ctx context.Context, path string) (timing, error) {
	took, _, err := Run(ctx, e.Topo.Router, "", e.Bin, "apply", "-c", path)
	return took, err
}

// loadFile runs `nft -f path` in the router namespace and returns how long it took.
func (e *Env) loadFile(ctx context.Context, path string) (timing, error) {
	took, _, err := Run(ctx, e.Topo.Router, "", "nft", "-f", path)
	return took, err
}

// Clean leaves the router without hairpin's table or any comparison table.
func (e *Env) Clean(ctx context.Context) error {
	if _, _, err := Run(ctx, e.Topo.Router, "", e.Bin, "down"); err != nil {
		return err
	}
	for _, t := range []string{FloorTable, RuleListTable} {
		_, out, err := Run(ctx, e.Topo.Router, "", "nft", "delete", "table", "ip", t)
		if err != nil && !strings.Contains(out, "No such file or directory") {
			return err
		}
	}
	return nil
}

// Public is the lab's public address, LAN its subnet.
func (e *Env) Public() netip.Addr { return e.Topo.PublicAddr }

// LAN is the lab's LAN subnet.
func (e *Env) LAN() netip.Prefix { return e.Topo.LANNet }

// Camera is the first camera's namespace and address: the server of every benchmark.
func (e *Env) Camera() (string, netip.Addr) { return e.Topo.Cameras[0].NS, e.Topo.Cameras[0].Addr }

// sysctl sets a sysctl inside namespace ns.
func sysctl(ctx context.Context, ns, key, value string) error {
	_, _, err := Run(ctx, ns, "", "sysctl", "-qw", key+"="+value)
	return err
}

var errNoServer = errors.New("server did not start listening")

// waitListening polls ss in namespace ns until a TCP socket listens on port.
func waitListening(ctx context.Context, ns string, port int) error {
	err := poll.Until(ctx, 10*time.Second, func() bool {
		_, out, err := Run(ctx, ns, "", "ss", "-Hltn", fmt.Sprintf("sport = :%d", port))
		return err == nil && strings.TrimSpace(out) != ""
	})
	if err != nil {
		return fmt.Errorf("port %d in %s: %w", port, ns, errNoServer)
	}
	return nil
}
