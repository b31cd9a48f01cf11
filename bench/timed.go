package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// run is one timed run of the hairpin binary.
type run struct {
	took   time.Duration
	peakMB float64 // peak resident memory (GNU time's maximum RSS), or the watchdog's last reading
	exit   int
	out    string
	killed bool // the watchdog stopped it past its memory limit
}

// timedRun runs bin with args under GNU time and returns its wall time, peak resident memory, exit code and
// output. The memory comes from GNU time: a child Go starts directly inherits this process's peak in its own
// (Go's clone shares the address space until exec), while time's child is a plain fork of a small process.
// With limitMB > 0 a watchdog kills the run once its resident memory passes the limit (an attack measured on
// code that does not resist it must not take the machine down with it).
func timedRun(ctx context.Context, dir, bin string, args []string, limitMB float64) (run, error) {
	f, err := os.CreateTemp(dir, "rss-")
	if err != nil {
		return run{}, err
	}
	rssFile := f.Name()
	f.Close()
	defer os.Remove(rssFile)
	var out strings.Builder
	cmd := exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-q", "-o", rssFile, "-f", "%M", bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run{}, err
	}
	var r run
	done := make(chan struct{})
	if limitMB > 0 {
		go func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				pid := childOf(cmd.Process.Pid)
				if mb := rssMB(pid); pid > 0 && mb > limitMB {
					r.killed, r.peakMB = true, mb
					_ = syscall.Kill(pid, syscall.SIGKILL)
					return
				}
			}
		}()
	}
	err = cmd.Wait()
	close(done)
	r.took, r.out = time.Since(start), out.String()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	case err != nil:
		return r, err
	}
	if r.killed {
		return r, nil
	}
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return r, fmt.Errorf("GNU time's output (install the time package): %w", err)
	}
	// GNU time says "Command exited with non-zero status N" before the figure when the command fails.
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return r, fmt.Errorf("GNU time's output %q", b)
	}
	kb, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil {
		return r, fmt.Errorf("GNU time's output %q: %w", b, err)
	}
	r.peakMB = float64(kb) / 1024
	return r, nil
}

// childOf is the first child of pid (GNU time's one child), 0 when there is none yet.
func childOf(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// rssMB is the resident memory of pid now, in MB (0 when it is gone).
func rssMB(pid int) float64 {
	return statusKB(pid, "VmRSS:") / 1024
}

// statusKB reads a "Key: N kB" line of /proc/PID/status.
func statusKB(pid int, key string) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}

// cpuSeconds is the user and system CPU time pid has used (/proc/PID/stat, in clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}
