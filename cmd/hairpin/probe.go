package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

// probeSecret reads wan.probe's shared secret with the hardened secret reader.
func probeSecret(cfg *config.Config, logger *slog.Logger) ([]byte, error) {
	p := cfg.WAN.Probe
	if p.SecretEnv != "" {
		s := os.Getenv(p.SecretEnv)
		if s == "" {
			return nil, fmt.Errorf("wan.probe: environment variable %s is not set or empty", p.SecretEnv)
		}
		return []byte(s), nil
	}
	s, err := secret.Read(p.SecretFile, secret.Options{ConfigDir: filepath.Dir(cfg.File), Warn: func(msg string, args ...any) {
		if logger != nil {
			logger.Warn("probe: "+msg, args...)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("wan.probe secret: %w", err)
	}
	return []byte(s), nil
}

func probeClient(cfg *config.Config, logger *slog.Logger) (*probe.Client, error) {
	key, err := probeSecret(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &probe.Client{URL: cfg.WAN.Probe.URL, Secret: key}, nil
}

func newProber(logger *slog.Logger) func(cfg *config.Config) (daemon.Prober, error) {
	return func(cfg *config.Config) (daemon.Prober, error) { return probeClient(cfg, logger) }
}

func probeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Ask the probe server (wan.probe) whether each TCP forward can be reached from the internet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			a, err := c.Probe(ctx, ports)
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
				return fmt.Errorf("%d of %d forwards cannot be reached from the internet (see hairpin doctor)", n, len(st.Results))
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func probeServerCmd() *cobra.Command {
	var listen, secretFile, certFile, keyFile string
	var perMinute, maxPorts int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe-server",
		Short: "Answer signed reachability probes: connect back to the caller's own address on the ports it asks",
		Long: "Run at a second site or on a small VPS. Each request must be signed (HMAC-SHA256) with the shared secret; the\n" +
			"server connects only back to the address the request came from (never to an address named in it, nor one\n" +
			"from X-Forwarded-For), at most --max-ports TCP ports per request and --rate requests per client per minute.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := secret.Read(secretFile, secret.Options{Warn: func(msg string, args ...any) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+msg, fmt.Sprint(args...))
			}})
			if err != nil {
				return configError{fmt.Errorf("--secret-file: %w", err)}
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv := &probe.Server{Secret: []byte(key), Timeout: timeout, PerMinute: perMinute, MaxPorts: maxPorts, Logger: logger}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
				WriteTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
			go func() {
				<-cmd.Context().Done()
				_ = hs.Close()
			}()
			logger.Info("probe server listening", "address", l.Addr().String(), "tls", certFile != "")
			if certFile != "" {
				err = hs.ServeTLS(l, certFile, keyFile)
			} else {
				err = hs.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", ":9470", "address to listen on")
	cmd.Flags().StringVar(&secretFile, "secret-file", "/etc/hairpin/probe.secret", "file holding the shared secret (one line, mode 600)")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "serve HTTPS with this certificate (and --tls-key)")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "the certificate's key")
	cmd.Flags().IntVar(&perMinute, "rate", 6, "requests per client address per minute")
	cmd.Flags().IntVar(&maxPorts, "max-ports", probe.MaxPorts, "ports per request (at most 32)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for each connection back")
	return cmd
}
