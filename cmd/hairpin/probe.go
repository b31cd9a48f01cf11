package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/hairpin-nat/hairpin/internal/backends"
	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/ipclass"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/publicip"
	"github.com/hairpin-nat/hairpin/internal/secret"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// probeSecret reads wan.probe's shared secret with the hardened secret reader.
func probeSecret(cfg *config.Config, logger *slog.Logger) ([]byte, error) {
	p := cfg.WAN.Probe
	key, err := probe.ReadSecret(p.SecretFile, p.SecretEnv, secret.Options{ConfigDir: filepath.Dir(cfg.File), Owners: cfg.SecretOwners,
		Warn: func(msg string, args ...any) {
			if logger != nil {
				logger.Warn("probe: "+msg, args...)
			}
		}})
	if err != nil {
		return nil, errfmt.Errorf("wan.probe secret: %w", err)
	}
	return key, nil
}

func probeClient(cfg *config.Config, logger *slog.Logger) (*probe.Client, error) {
	key, err := probeSecret(cfg, logger)
	if err != nil {
		return nil, err
	}
	c := &probe.Client{URL: cfg.WAN.Probe.URL, Secret: key}
	if f := cfg.WAN.Probe.CAFile; f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(cfg.File), f)
		}
		pem, err := readCAFile(f)
		if err != nil {
			return nil, errfmt.Errorf("wan.probe.ca_file: %w", err)
		}
		c.Roots = x509.NewCertPool()
		if !c.Roots.AppendCertsFromPEM(pem) {
			return nil, errfmt.Errorf("wan.probe.ca_file %s: no PEM certificate in it", f)
		}
	}
	return c, nil
}

// readCAFile reads a PEM bundle, at most 1 MiB: a regular file only (a FIFO would block).
func readCAFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errfmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err == nil && len(data) > 1<<20 {
		err = errfmt.Errorf("%s is larger than 1 MiB", path)
	}
	return data, err
}

// probeTarget is the address `hairpin probe` expects the probe server to test: the running daemon's public
// address (learned, or a public WAN address), else a public address on the WAN interface, else what
// wan.public_ip says.
func probeTarget(ctx context.Context, cfg *config.Config) (netip.Addr, error) {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if st, err := daemon.Fetch(dctx, cfg.Daemon.Status); err == nil {
		if a, err := netip.ParseAddr(st.Public); err == nil {
			return a, nil
		}
	}
	if drv, err := backends.Open(cfg, nil); err == nil {
		obs, err := drv.Observe(ctx)
		closeBackend(drv)
		if err == nil {
			for _, a := range obs.WANAddrs {
				if ipclass.IsPublic(a) {
					return a, nil
				}
			}
		}
	}
	if len(cfg.WAN.PublicIP) > 0 {
		disc, err := publicip.NewDiscoverer(cfg.WAN.PublicIP, publicip.Options{})
		if err == nil {
			if a, _, err := disc.Discover(ctx); err == nil {
				return a, nil
			}
		}
	}
	return netip.Addr{}, errors.New("the public address is not known, so the probe's answer could not be checked: run it while the daemon runs, set wan.public_ip, or pass --expect ADDRESS")
}

func newProber(logger *slog.Logger) func(cfg *config.Config) (daemon.Prober, error) {
	return func(cfg *config.Config) (daemon.Prober, error) { return probeClient(cfg, logger) }
}

func probeCmd() *cli.Command {
	var path, expectFlag string
	cmd := &cli.Command{
		Use:   "probe",
		Short: "Ask the probe server (wan.probe) whether each TCP forward can be reached from the internet",
		Run: func(cmd *cli.Command) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			if cfg.WAN.Probe == nil {
				return configError{errors.New("no wan.probe in the config: run `hairpin probe-server` at a second site and add wan.probe: {url, secret_file}")}
			}
			c, err := probeClient(cfg, nil)
			if err != nil {
				return configError{err}
			}
			var ports []probe.Port
			var names []string
			for _, f := range cfg.Forwards {
				if f.Protocol.Has(config.TCP) && len(ports) < probe.MaxPorts {
					ports = append(ports, probe.Port{Protocol: "tcp", Port: f.Port.First})
					names = append(names, f.Name)
				}
			}
			if len(ports) == 0 {
				return errors.New("no TCP forwards to probe")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var expect netip.Addr
			if expectFlag != "" {
				if expect, err = netip.ParseAddr(expectFlag); err != nil {
					return configError{errfmt.Errorf("--expect %q is not an IP address", expectFlag)}
				}
			} else if expect, err = probeTarget(ctx, cfg); err != nil {
				return err
			}
			a, err := c.Probe(ctx, expect, ports)
			if err != nil {
				return err
			}
			var st daemon.ProbeStatus
			st.Address = a.Address
			for i, r := range a.Results {
				if i < len(names) {
					st.Results = append(st.Results, daemon.ForwardProbed{Forward: names[i], Port: r.Port.Port, Result: r.Result, TookMS: r.TookMS})
				}
			}
			printProbe(cmd.OutOrStdout(), &st)
			if n := st.Unreachable(); n > 0 {
				return errfmt.Errorf("%d of %d forwards cannot be reached from the internet (see hairpin doctor)", n, len(st.Results))
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&expectFlag, "expect", "", "the public address the probe server must find this router at (default: the daemon's, the WAN's, or wan.public_ip's)")
	return cmd
}

func probeServerCmd() *cli.Command {
	var listen, secretFile, certFile, keyFile string
	var perMinute, maxPorts int
	var timeout time.Duration
	cmd := &cli.Command{
		Use:   "probe-server",
		Short: "Answer signed reachability probes: connect back to the caller's own address on the ports it asks",
		Long: "Run at a second site or on a small VPS, with --tls-cert and --tls-key (routers refuse plain http to another host).\n" +
			"Each request must be signed (HMAC-SHA256) with the shared secret and name the address to test; the server\n" +
			"tests it only if that is the address the request came from (never one from X-Forwarded-For), at most\n" +
			"--max-ports TCP ports per request and --rate requests per client per minute.",
		Run: func(cmd *cli.Command) error {
			if certFile != "" && serveTLS == nil {
				return configError{errors.New("--tls-cert: this build has no TLS server (the mips and mipsle builds " +
					"leave it out to fit small routers); run the probe server from another architecture's build, or " +
					"behind a TLS proxy with --listen 127.0.0.1:9470")}
			}
			key, err := secret.Read(secretFile, secret.Options{Warn: func(msg string, args ...any) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+msg, fmt.Sprint(args...))
			}})
			if err != nil {
				return configError{errfmt.Errorf("--secret-file: %w", err)}
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv := &probe.Server{Secret: []byte(key), Timeout: timeout, PerMinute: perMinute, MaxPorts: maxPorts, Logger: logger}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			hs := &web.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
				WriteTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
			go func() {
				<-cmd.Context().Done()
				_ = hs.Close()
			}()
			logger.Info("probe server listening", "address", l.Addr().String(), "tls", certFile != "")
			if ap, err := netip.ParseAddrPort(l.Addr().String()); certFile == "" && (err != nil || !ap.Addr().Unmap().IsLoopback()) {
				logger.Warn("probe server without --tls-cert: routers refuse plain http to anything but this machine")
			}
			if certFile != "" {
				err = serveTLS(hs, l, certFile, keyFile)
			} else {
				err = hs.Serve(l)
			}
			if errors.Is(err, web.ErrServerClosed) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", ":9470", "address to listen on")
	cmd.Flags().StringVar(&secretFile, "secret-file", "/etc/hairpin/probe.secret", "file holding the shared secret (one line, mode 600)")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "serve HTTPS with this certificate (and --tls-key); not in the mips and mipsle builds")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "the certificate's key")
	cmd.Flags().IntVar(&perMinute, "rate", 6, "requests per client address per minute")
	cmd.Flags().IntVar(&maxPorts, "max-ports", probe.MaxPorts, "ports per request (at most 32)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for each connection back")
	return cmd
}
