// Command hairpin makes port forwards with hairpin NAT work on a Linux or MikroTik router and keeps them right
// when the WAN address changes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// version and commit are set at build time: make build and make dist pass
// -ldflags "-X main.version=V -X main.commit=C".
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes: config errors are the user's to fix (2); anything else that fails at run time is 1.
const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

// configError marks errors that exit 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// notExist is an error that says more than os.ErrNotExist and still is one.
type notExist struct{ error }

func (notExist) Is(target error) bool { return target == os.ErrNotExist }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal asks for a clean stop; handing the signals back to the runtime then makes a second one
	// end the process whatever it is waiting for. (AfterFunc: no goroutine waits for a signal that most
	// commands never get.)
	context.AfterFunc(ctx, stop)
	code := run(ctx, version, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own arguments and buffers.
func run(ctx context.Context, version string, args []string, stdout, stderr io.Writer) int {
	err := rootCmd(version).Execute(ctx, args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	var cfgErrs config.Errors
	var ce configError
	switch {
	case errors.As(err, &cfgErrs):
		fmt.Fprintln(stderr, cfgErrs.Error())
		fmt.Fprintf(stderr, "%d error(s) in the config; nothing was changed\n", cfgErrs.Count())
		return exitConfig
	case errors.As(err, &ce), cli.IsUsage(err):
		fmt.Fprintln(stderr, "hairpin: "+err.Error())
		return exitConfig
	default:
		fmt.Fprintln(stderr, "hairpin: "+err.Error())
		return exitRuntime
	}
}

// rootCmd is the command tree.
func rootCmd(version string) *cli.Command {
	root := &cli.Command{
		Use:   "hairpin",
		Short: "Port forwarding with hairpin NAT that follows the WAN address",
		Long: `hairpin makes port forwards with hairpin NAT (NAT loopback) work on a Linux router or a MikroTik, and keeps
them right when the WAN address changes; it also keeps a hostname pointing at the router (dynamic DNS).

The first time: hairpin init, edit /etc/hairpin/hairpin.yaml, hairpin check, systemctl enable --now hairpin,
hairpin status. Every command that reads the config takes -c FILE (default /etc/hairpin/hairpin.yaml).
Exit codes: 0 success, 2 a config or usage error (nothing was changed), 1 anything else.`,
	}
	showVersion := root.Flags().Bool("version", false, "print the version, the commit and the Go version")
	root.Run = func(cmd *cli.Command) error {
		if *showVersion {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine(version))
			return nil
		}
		return cmd.Help()
	}
	root.AddCommand(versionCmd(version), initCmd(), checkCmd(), showCmd(), applyCmd(), downCmd(), runCmd(version), statusCmd(),
		doctorCmd(), ddnsCmd(version), exportCmd(), routerosCmd(), labCmd(), probeCmd(), probeServerCmd())
	return root
}

func versionLine(version string) string {
	return fmt.Sprintf("hairpin %s (commit %s, %s)", version, commit, runtime.Version())
}

func versionCmd(version string) *cli.Command {
	return &cli.Command{
		Use:   "version",
		Short: "Print the version, the commit and the Go version it was built with",
		Run: func(cmd *cli.Command) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine(version))
			return nil
		},
	}
}

// loadConfig reads the config and prints its warnings; errors come back as config.Errors (exit 2).
func loadConfig(cmd *cli.Command, path string) (*config.Config, error) {
	return loadConfigWith(cmd, path, config.Load)
}

// loadConfigWith is loadConfig with another loader (config.LoadForExport).
func loadConfigWith(cmd *cli.Command, path string, load func(string) (*config.Config, error)) (*config.Config, error) {
	resume := pauseGC()
	cfg, err := load(path)
	resume()
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return nil, err
		}
		if errors.Is(err, os.ErrNotExist) {
			// Still os.ErrNotExist for callers: down works without a config.
			return nil, configError{notExist{missingConfig(path)}}
		}
		return nil, configError{errfmt.Errorf("reading config: %w", err)}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.String())
	}
	return cfg, nil
}

// pauseGC stops the collector while a config loads, up to a heap of pausedHeapLimit (or a lower GOMEMLIMIT).
// The config's node tree lives until the load returns, so a collection during the load frees almost nothing and
// marks the whole tree: a quarter of the CPU that loading 10,000 or 50,000 forwards took, for 5% less peak
// memory. Once the load returns the tree is garbage, and the first collection after resume marks only the
// config.
func pauseGC() (resume func()) {
	percent := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, pausedHeapLimit))
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(percent)
	}
}

// pausedHeapLimit is well above what the largest file config.Load takes (config.MaxFileSize) needs, about 30
// times the file's size, and bounds what a hostile one can make the parser allocate meanwhile.
const pausedHeapLimit = 256 << 20

// defaultConfig is where the config lives unless -c says otherwise; hairpin init writes it there.
const defaultConfig = "/etc/hairpin/hairpin.yaml"

func configFlag(cmd *cli.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "config", "c", defaultConfig, "config file")
}

// missingConfig says what to do when there is no config yet.
func missingConfig(path string) error {
	return errfmt.Errorf("%s does not exist: write one with `hairpin init` (see hairpin init --help), or start from a file in examples/", path)
}
