// Command hairpin-bench is `make bench`: it builds the lab's namespaces, measures hairpin's datapath and apply
// path against the kernel's floor, prints one table and writes it to a file. It needs root and changes
// nothing outside the namespaces it creates, which it removes on exit, Ctrl-C included.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hairpin-nat/hairpin/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	bin := flag.String("bin", "bin/hairpin", "hairpin binary to benchmark")
	out := flag.String("out", "bench/results.txt", "also write the table here (empty: don't)")
	rounds := flag.Int("rounds", 10, "rounds of the throughput benchmark (variants rotate each round)")
	secs := flag.Int("seconds", 2, "seconds per iperf3 run")
	sizes := flag.String("apply", "1000:5,10000:5,50000:3", "apply benchmark: forwards:rounds,...")
	connFwds := flag.Int("conn-forwards", 10000, "forwards in the connection-rate benchmark")
	connRounds := flag.Int("conn-rounds", 7, "rounds of the connection-rate benchmark")
	connDur := flag.Duration("conn-time", 2*time.Second, "time per connection-rate measurement")
	checkRounds := flag.Int("check-rounds", 3, "rounds of the config-check benchmark")
	allowN := flag.Int("allow-prefixes", 100_000, "prefixes in the allowlist benchmark")
	allowRounds := flag.Int("allow-rounds", 3, "rounds of the allowlist benchmark")
	memFwds := flag.Int("memory-forwards", 10_000, "forwards of the memory benchmark's large config")
	memRounds := flag.Int("memory-rounds", 3, "rounds of the memory benchmark")
	memSettle := flag.Duration("memory-settle", 5*time.Second, "how long the daemon runs before its steady size is read")
	loadAllow := flag.String("load-allow", "", "internal: load this prefix file into hairpin's table and exit (the allowlist benchmark runs it)")
	probeRounds := flag.Int("probe-rounds", 4, "rounds of the probe-server flood")
	probeRequests := flag.Int("probe-requests", 15_000, "unsigned requests per round of the probe-server flood, each from an address of its own")
	rosRounds := flag.Int("routeros-rounds", 3, "rounds of the hostile RouterOS reply benchmark")
	rosLimit := flag.Float64("routeros-limit", 3000, "MB of resident memory past which a hostile-reply run is killed")
	only := flag.String("only", "check,throughput,apply,connrate,allow,memory,probe,routeros", "benchmarks to run")
	quiet := flag.Bool("q", false, "do not log each measurement")
	skip := flag.String("skip", "", "throughput variants to leave out: nocount,direct,proxy")
	flag.Parse()

	if *loadAllow != "" {
		if err := bench.LoadAllowFile(*loadAllow); err != nil {
			fmt.Fprintln(os.Stderr, "hairpin-bench:", err)
			return 1
		}
		return 0
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "hairpin-bench needs root (network namespaces and nftables); run `sudo make bench`")
		return 1
	}
	applyOpt, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hairpin-bench: -apply:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logf := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
		}
	}
	started := time.Now()
	selected := func(name string) bool { return strings.Contains(","+*only+",", ","+name+",") }
	// The lab's namespaces only for the benchmarks that use them: check, probe and routeros run on loopback.
	var env *bench.Env
	if selected("throughput") || selected("apply") || selected("allow") || selected("memory") || selected("connrate") {
		var err error
		if env, err = bench.NewEnv(ctx, *bin, logf); err != nil {
			fmt.Fprintln(os.Stderr, "hairpin-bench: building the lab:", err)
			return 1
		}
		defer env.Close()
	}

	var rows []bench.Row
	var failed error
	runs := []struct {
		name string
		fn   func() ([]bench.Row, error)
	}{
		{"check", func() ([]bench.Row, error) {
			return bench.CheckFiles(ctx, *bin, bench.CheckOptions{Rounds: *checkRounds}, logf)
		}},
		{"throughput", func() ([]bench.Row, error) {
			return bench.Throughput(ctx, env, bench.ThroughputOptions{Rounds: *rounds, Seconds: *secs, Skip: strings.Split(*skip, ",")})
		}},
		{"apply", func() ([]bench.Row, error) { return bench.ApplyTime(ctx, env, applyOpt) }},
		{"allow", func() ([]bench.Row, error) {
			return bench.AllowList(ctx, env, bench.AllowOptions{Prefixes: *allowN, Rounds: *allowRounds})
		}},
		{"memory", func() ([]bench.Row, error) {
			return bench.Memory(ctx, env, bench.MemoryOptions{Forwards: *memFwds, Prefixes: *allowN, Rounds: *memRounds, Settle: *memSettle})
		}},
		{"connrate", func() ([]bench.Row, error) {
			return bench.ConnRate(ctx, env, bench.ConnRateOptions{Forwards: *connFwds, Rounds: *connRounds, Duration: *connDur, Workers: 2})
		}},
		{"probe", func() ([]bench.Row, error) {
			return bench.ProbeFlood(ctx, *bin, bench.ProbeFloodOptions{Rounds: *probeRounds, Requests: *probeRequests, Workers: 8}, logf)
		}},
		{"routeros", func() ([]bench.Row, error) {
			return bench.RouterOSReply(ctx, *bin, bench.RouterOSReplyOptions{Rounds: *rosRounds, ReplyMB: 32, LimitMB: *rosLimit}, logf)
		}},
	}
	for _, r := range runs {
		if !selected(r.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s...\n", r.name)
		got, err := r.fn()
		if err != nil {
			failed = fmt.Errorf("%s: %w", r.name, err)
			break
		}
		rows = append(rows, got...)
	}
	if err := report(rows, *out, time.Since(started)); err != nil {
		fmt.Fprintln(os.Stderr, "hairpin-bench:", err)
		return 1
	}
	if failed != nil {
		fmt.Fprintln(os.Stderr, "hairpin-bench:", failed)
		return 1
	}
	return 0
}

func report(rows []bench.Row, path string, took time.Duration) error {
	if len(rows) == 0 {
		return nil
	}
	var w io.Writer = os.Stdout
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "hairpin benchmarks, %s, %s, %d CPUs, load average %s, took %s\n", time.Now().UTC().Format(time.RFC3339), host,
		runtime.NumCPU(), loadAvg(), took.Round(time.Second))
	fmt.Fprintf(w, "VALUE is the median over rounds, RATIO the median of per-round ratios against VS (variants alternate each round).\n\n")
	if err := bench.WriteTable(w, rows); err != nil {
		return err
	}
	if f != nil {
		return f.Close()
	}
	return nil
}

// parseSizes reads "1000:5,10000:3" (forwards:rounds).
func parseSizes(s string) (bench.ApplyOptions, error) {
	var opt bench.ApplyOptions
	for _, part := range strings.Split(s, ",") {
		n, r, ok := strings.Cut(strings.TrimSpace(part), ":")
		fn, err1 := strconv.Atoi(n)
		fr, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil || fn < 1 || fr < 1 {
			return opt, fmt.Errorf("%q is not forwards:rounds", part)
		}
		opt.Sizes = append(opt.Sizes, fn)
		opt.Rounds = append(opt.Rounds, fr)
	}
	return opt, nil
}

// loadAvg is the 1, 5 and 15 minute load average: a busy machine explains a wide RANGE.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
