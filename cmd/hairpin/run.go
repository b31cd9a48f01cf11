package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/backends"
	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/publicip"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

func runCmd(version string) *cli.Command {
	var path, logFormat, logLevel, status string
	cmd := &cli.Command{
		Use:   "run",
		Short: "Run the daemon: apply, then follow WAN address changes, the public address and dynamic DNS",
		Run: func(cmd *cli.Command) error {
			routerMemory()
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if logFormat == "" {
				logFormat = cfg.Daemon.LogFormat
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return configError{errfmt.Errorf("--log-level: %w", err)}
			}
			logger := slog.New(daemon.LogHandler(cmd.ErrOrStderr(), logFormat, level))
			if status != "" {
				cfg.Daemon.Status = status
			}
			return runDaemon(cmd.Context(), version, cfg, path, status, logger)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&logFormat, "log-format", "", "text or json (default: daemon.log_format from the config)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&status, "status", "", "status listener: a unix socket path or host:port (default: daemon.status)")
	return cmd
}

// routerMemory sets the daemon's garbage collector for a router with 128 MB of RAM: collect at half the
// default heap growth (GOGC=50) and harder as the Go heap nears 32 MiB (a soft limit: past it the daemon keeps
// running, at more CPU). At most two Ps, which run the loop and the collector beside it: every further P keeps
// its own partly used spans and brings threads, 0.1-0.15 MB each at idle (a four-thread MT7621 router would
// run four). GOGC, GOMEMLIMIT and GOMAXPROCS in the environment (systemctl edit, procd's env) win.
func routerMemory() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(50)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(32 << 20)
	}
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok && runtime.GOMAXPROCS(0) > maxProcs {
		runtime.GOMAXPROCS(maxProcs)
	}
}

// maxProcs is the daemon's default GOMAXPROCS ceiling.
const maxProcs = 2

// reloadConfig reads the config again for a reload. run's --status outranks the file for the daemon's whole
// life: without it, every reload of a changed file would read as a change of the status listener, which only
// a restart may make, and be refused.
func reloadConfig(path, status string, prev *config.Config) (*config.Config, error) {
	cfg, err := config.Reload(path, prev)
	if err == nil && status != "" {
		cfg.Daemon.Status = status
	}
	return cfg, err
}

func runDaemon(ctx context.Context, version string, cfg *config.Config, path, status string, logger *slog.Logger) error {
	// One daemon per state directory: two would undo each other's rules at every resync.
	release, err := daemon.Lock(cfg.StateDir)
	if err != nil {
		return err
	}
	defer release()
	listener, err := daemon.Listen(cfg.Daemon.Status)
	if err != nil {
		return err
	}
	defer listener.Close()
	drv, err := openChanging(cfg, logger)
	if err != nil {
		return err
	}
	defer closeBackend(drv)
	deps := daemon.Deps{
		Version:     version,
		IntentFile:  filepath.Join(cfg.StateDir, "wan-set.intent"),
		ForcedFile:  filepath.Join(cfg.StateDir, daemon.ForcedFile),
		Backend:     drv.Backend,
		Observe:     drv.Watch,
		Logger:      logger,
		Load:        func(prev *config.Config) (*config.Config, error) { return reloadConfig(path, status, prev) },
		PauseGC:     pauseGC,
		SameBackend: backends.Same,
		Ready: func() {
			if err := daemon.NotifyReady(); err != nil {
				logger.Warn("systemd readiness notification failed", "error", err)
			}
		},
		WatchdogEvery: daemon.WatchdogEvery(),
		Watchdog: func() {
			if err := daemon.NotifyWatchdog(); err != nil {
				logger.Warn("systemd watchdog notification failed", "error", err)
			}
		},
		NewDiscoverer: func(cfg *config.Config) (daemon.Discoverer, error) {
			sources := cfg.WAN.PublicIP
			if len(sources) == 0 {
				sources = publicip.DefaultSources()
			}
			return publicip.NewDiscoverer(sources, publicip.Options{Logger: logger, UserAgent: userAgent(version)})
		},
		DetectDSLite:    detectDSLite(drv),
		NewUpstream:     upstreamMapper(logger, drv),
		NewProber:       newProber(logger),
		UpstreamGateway: upstream.DefaultGateway,
		NewDDNS: func(cfg *config.Config) (daemon.DDNS, error) {
			e, err := ddns.New(cfg.DDNS, cfg.StateDir, ddnsUserAgent(version), logger, ddns.KeepDisabled())
			if err != nil {
				return nil, err
			}
			return e, nil
		},
	}
	d := daemon.New(cfg, deps)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading config", "file", path)
				_ = d.Reload(ctx)
			}
		}
	}()
	go func() {
		// Stopping closes the listener under it: that is the end of serving, not a failure.
		if err := d.ServeListener(ctx, listener); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			logger.Error("status listener failed; hairpin status will not answer", "error", err)
		}
	}()
	return d.Run(ctx)
}

func userAgent(version string) string {
	return "hairpin/" + version + " (+https://github.com/hairpin-nat/hairpin)"
}

// isLocal reports whether drv's router is this machine (backend.Local).
func isLocal(drv *backend.Driver) bool {
	_, ok := drv.Backend.(backend.Local)
	return ok
}

// detectDSLite is the daemon's DS-Lite check: this machine's routes, when the router is this machine.
func detectDSLite(drv *backend.Driver) func() (bool, string, error) {
	if l, ok := drv.Backend.(backend.Local); ok {
		return l.DetectDSLite
	}
	return nil
}

// upstreamMapper builds the daemon's upstream mapper. It runs on this machine, so it maps for a Linux router
// only: a RouterOS router asks its own box (MikroTik's /ip/upnp is a UPnP server, not a client).
func upstreamMapper(logger *slog.Logger, drv *backend.Driver) func(cfg *config.Config) (daemon.Upstream, error) {
	return func(cfg *config.Config) (daemon.Upstream, error) {
		if !isLocal(drv) {
			return nil, errors.New("wan.upstream maps ports from the router itself; hairpin does it with backend linux only")
		}
		return upstream.New(cfg.WAN.Upstream, upstream.Options{Logger: logger, StateDir: cfg.StateDir})
	}
}
