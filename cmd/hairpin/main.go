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
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// The first signal asks for a clean stop; handing the signals back to the runtime then makes a second one
	// end the process whatever it is waiting for.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, version, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own arguments and buffers.
func run(ctx context.Context, version string, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "hairpin",
		Short:         "Port forwarding with hairpin NAT that follows the WAN address",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError{err} })
	root.AddCommand(versionCmd(version), checkCmd(), showCmd(), applyCmd(), downCmd(), runCmd(version), statusCmd(),
		doctorCmd(), ddnsCmd(version), exportCmd(), labCmd(), probeCmd(), probeServerCmd())
	err := root.Execute()
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
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "hairpin: "+ce.Error())
		return exitConfig
	default:
		fmt.Fprintln(stderr, "hairpin: "+err.Error())
		return exitRuntime
	}
}

func versionCmd(version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "hairpin "+version)
			return nil
		},
	}
}

// loadConfig reads the config and prints its warnings; errors come back as config.Errors (exit 2).
func loadConfig(cmd *cobra.Command, path string) (*config.Config, error) {
	return loadConfigWith(cmd, path, config.Load)
}

// loadConfigWith is loadConfig with another loader (config.LoadForExport).
func loadConfigWith(cmd *cobra.Command, path string, load func(string) (*config.Config, error)) (*config.Config, error) {
	cfg, err := load(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			return nil, err
		}
		return nil, configError{fmt.Errorf("reading config: %w", err)}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.String())
	}
	return cfg, nil
}

func configFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "config", "c", "/etc/hairpin/hairpin.yaml", "config file")
}
