package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/wan"
)

func initCmd() *cli.Command {
	var wanIf, lanIf, ddnsName, out string
	var forwards []string
	cmd := &cli.Command{
		Use:   "init",
		Short: "Write a commented starter config (never over an existing one)",
		Long: `init writes a starter config: the WAN and LAN interfaces, the forwards given with --forward, an entry for
the dynamic DNS provider given with --ddns, and every other section as commented examples.

Without --wan and --lan it picks them: the WAN is the interface of the IPv4 default route, the LAN the
interface holding a private address that is not the WAN; it says what it chose and why. It never overwrites
a config (a file holding only comments, such as the package's placeholder, is not one).`,
		Example: `  hairpin init --forward front-cam=8090:192.168.88.180:80 --forward back-cam=8091:192.168.88.181:80 --ddns dyndns2
  hairpin init --wan ppp0 --lan br-lan -o /tmp/hairpin.yaml`,
		Run: func(cmd *cli.Command) error {
			s := config.Starter{WAN: wanIf, LAN: lanIf, DDNS: ddnsName}
			for _, f := range forwards {
				sf, err := config.ParseForwardFlag(f)
				if err != nil {
					return configError{err}
				}
				s.Forwards = append(s.Forwards, sf)
			}
			if ddnsName != "" {
				def, ok := providers.Lookup(ddnsName)
				if !ok {
					return configError{errfmt.Errorf("--ddns %q: use one of %s", ddnsName, strings.Join(providers.Names(), ", "))}
				}
				s.DDNSExample = def.Example
			}
			if err := refuseOverwrite(out); err != nil {
				return err
			}
			if wanIf == "" || lanIf == "" {
				w, l, err := wan.Detect()
				if wanIf == "" {
					if w.Name == "" {
						return configError{err}
					}
					s.WAN, s.WANWhy = w.Name, "chosen by hairpin init: "+w.Why
					fmt.Fprintf(cmd.OutOrStdout(), "WAN: %s, %s\n", w.Name, w.Why)
				}
				if lanIf == "" {
					if l.Name == "" {
						return configError{err}
					}
					s.LAN, s.LANWhy = l.Name, "chosen by hairpin init: "+l.Why
					fmt.Fprintf(cmd.OutOrStdout(), "LAN: %s, %s\n", l.Name, l.Why)
				}
			}
			text := s.Text()
			// The file must read back: a bad --forward is an error now, not at the first check.
			if _, err := config.Parse(out, []byte(text)); err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					return configError{errfmt.Errorf("the config would not be valid, nothing written:\n%s", errs.Error())}
				}
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d forwards", out, len(s.Forwards))
			if ddnsName != "" {
				fmt.Fprintf(cmd.OutOrStdout(), ", dynamic DNS %s (fill in its account)", ddnsName)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nnext: check the interfaces and fill in what it asks in %s, then: hairpin check", out)
			if out != defaultConfig {
				fmt.Fprintf(cmd.OutOrStdout(), " -c %s", out)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&wanIf, "wan", "", "the WAN interface (default: the interface of the default route)")
	cmd.Flags().StringVar(&lanIf, "lan", "", "the LAN interface (default: the interface with a private address that is not the WAN)")
	cmd.Flags().StringArrayVar(&forwards, "forward", nil, "a forward NAME=PORT:HOST:PORT, e.g. front-cam=8090:192.168.88.180:80 (repeat for more)")
	cmd.Flags().StringVar(&ddnsName, "ddns", "", "add a dynamic DNS entry for this provider ("+strings.Join(providers.Names(), ", ")+")")
	cmd.Flags().StringVarP(&out, "output", "o", defaultConfig, "the file to write")
	return cmd
}

// refuseOverwrite fails when path holds a config: anything but comments and blank lines.
func refuseOverwrite(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return configError{errfmt.Errorf("%s already holds a config; hairpin init never overwrites one: edit it, or write elsewhere with -o FILE", path)}
		}
	}
	return nil
}
