//go:build lab

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/cli"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lab"
)

const labStateDir = "/run/hairpin-lab"

func labCmd() *cli.Command {
	var keep, doubleNAT, ipv6, ha bool
	var prefix, isp string
	cmd := &cli.Command{
		Use:   "lab",
		Short: "Build the article's home network in namespaces and prove every forward from LAN, WAN and router",
		Long: `lab builds an internet host, a router running hairpin, a LAN switch, four IP cameras and a laptop in
network namespaces, applies hairpin, and fetches every bookmark from the laptop, the internet host and the
router. Then it turns hairpin's masquerade off to show the classic failure from the LAN. Needs root.`,
		Run: func(cmd *cli.Command) error {
			if isp != "" && !slices.Contains(lab.ISPKinds, isp) {
				return configError{errfmt.Errorf("--isp %q: use one of %s", isp, strings.Join(lab.ISPKinds, ", "))}
			}
			if ipv6 && (doubleNAT || isp != "") {
				return configError{errfmt.Errorf("--ipv6 runs without --double-nat or --isp")}
			}
			if ha && (ipv6 || doubleNAT || isp != "" || keep) {
				return configError{errfmt.Errorf("--ha runs without --ipv6, --double-nat, --isp and --keep")}
			}
			return runLab(cmd.Context(), cmd.OutOrStdout(), prefix, keep, doubleNAT, isp, ipv6, ha)
		},
	}
	cmd.Flags().BoolVar(&ipv6, "ipv6", false, "give the lab IPv6 too (a delegated and a ULA prefix) and prove every bookmark over IPv6, then change the prefix and prove them again")
	cmd.Flags().BoolVar(&ha, "ha", false, "two routers with keepalived and conntrackd (docs/ha.md): the master dies mid-download, and every bookmark works through the other")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running, for exploring with ip netns exec")
	cmd.Flags().BoolVar(&doubleNAT, "double-nat", false, "put an ISP box in front of the router (double NAT) and run the daemon, which learns the public address")
	cmd.Flags().StringVar(&isp, "isp", "", "the network in front of the router: upnp (an ISP box with miniupnpd; hairpin maps the ports on it), cgnat (carrier-grade NAT) or ds-lite (an AFTR over an IPv6 tunnel); each runs the daemon with a probe server on the internet")
	cmd.PersistentFlags().StringVar(&prefix, "prefix", "hairpin-lab", "namespace name prefix")
	cmd.AddCommand(labDownCmd(&prefix), labServeCmd())
	return cmd
}

func runLab(ctx context.Context, out io.Writer, prefix string, keep, doubleNAT bool, isp string, ipv6, ha bool) error {
	_ = lab.Down(labStateDir, prefix) // a lab kept from an earlier run would collide with this one
	fmt.Fprintf(out, "Building the lab (namespaces %s-*)...\n", prefix)
	t, err := lab.Build(ctx, lab.Options{Prefix: prefix, DoubleNAT: doubleNAT, ISP: isp, IPv6: ipv6, HA: ha})
	if err != nil {
		return err
	}
	defer func() {
		if !keep {
			t.Close()
		}
	}()
	if err := t.StartCameras(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hairpin-lab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if keep {
		dir = filepath.Join(labStateDir, prefix)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	demo := t.Demo
	if ha {
		demo = t.DemoHA
	}
	failed, err := demo(ctx, out, dir)
	if err != nil {
		return err
	}
	if ipv6 && failed == 0 {
		if failed, err = t.DemoIPv6(ctx, out, dir); err != nil {
			return err
		}
	}
	if keep {
		if err := lab.SaveKept(labStateDir, prefix, t.Detach()); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nThe lab is still up. Try:\n  ip netns exec %s curl http://%s:8090/\n  ip netns exec %s nft list table ip hairpin\n",
			t.Laptop, t.PublicAddr, t.Router)
		if doubleNAT || isp != "" {
			fmt.Fprintf(out, "  hairpin status --socket %s/hairpin.sock   (the daemon; its log is %s/daemon.log)\n", dir, dir)
		}
		fmt.Fprintf(out, "Remove it with: hairpin lab down --prefix %s\n", prefix)
	}
	if failed > 0 {
		return errfmt.Errorf("%d check(s) did not behave as expected", failed)
	}
	return nil
}

func labDownCmd(prefix *string) *cli.Command {
	return &cli.Command{
		Use:   "down",
		Short: "Remove a lab left running with --keep",
		Run: func(cmd *cli.Command) error {
			if err := lab.Down(labStateDir, *prefix); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "lab removed")
			return nil
		},
	}
}

func labServeCmd() *cli.Command {
	var name string
	var tcp, udp []int
	var whoami int
	cmd := &cli.Command{
		Use:    "serve",
		Short:  "Run a lab host's servers (used inside the lab's namespaces)",
		Hidden: true,
		Run: func(cmd *cli.Command) error {
			if whoami > 0 {
				return lab.ServeWhoami(cmd.Context(), whoami)
			}
			return lab.Serve(cmd.Context(), name, tcp, udp)
		},
	}
	cmd.Flags().StringVar(&name, "name", "server", "name to answer with")
	cmd.Flags().IntSliceVar(&tcp, "tcp", nil, "TCP ports to serve HTTP on")
	cmd.Flags().IntSliceVar(&udp, "udp", nil, "UDP ports to echo on")
	cmd.Flags().IntVar(&whoami, "whoami", 0, "serve the caller's address as text on this TCP port instead")
	return cmd
}
