package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

const labStateDir = "/run/hairpin-lab"

func labCmd() *cobra.Command {
	var keep, doubleNAT bool
	var prefix string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build the article's home network in namespaces and prove every forward from LAN, WAN and router",
		Long: `lab builds an internet host, a router running hairpin, a LAN switch, four IP cameras and a laptop in
network namespaces, applies hairpin, and fetches every bookmark from the laptop, the internet host and the
router. Then it turns hairpin's masquerade off to show the classic failure from the LAN. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLab(cmd.Context(), cmd.OutOrStdout(), prefix, keep, doubleNAT)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the lab running for exploring with `ip netns exec`")
	cmd.Flags().BoolVar(&doubleNAT, "double-nat", false, "put an ISP box in front of the router (double NAT) and run the daemon, which learns the public address")
	cmd.PersistentFlags().StringVar(&prefix, "prefix", "hairpin-lab", "namespace name prefix")
	cmd.AddCommand(labDownCmd(&prefix), labServeCmd())
	return cmd
}

func runLab(ctx context.Context, out io.Writer, prefix string, keep, doubleNAT bool) error {
	_ = labDown(prefix) // a lab kept from an earlier run would collide with this one
	fmt.Fprintf(out, "Building the lab (namespaces %s-*)...\n", prefix)
	t, err := lab.Build(ctx, lab.Options{Prefix: prefix, DoubleNAT: doubleNAT})
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
	var failed int
	if doubleNAT {
		failed, err = labDoubleNAT(ctx, out, t, dir)
	} else {
		failed, err = labSingleNAT(ctx, out, t, dir)
	}
	if err != nil {
		return err
	}
	if keep {
		if err := saveLab(prefix, t.Detach()); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nThe lab is still up. Try:\n  ip netns exec %s curl http://%s:8090/\n  ip netns exec %s nft list table ip hairpin\n",
			t.Laptop, t.PublicAddr, t.Router)
		if doubleNAT {
			fmt.Fprintf(out, "  hairpin status --socket %s/hairpin.sock   (the daemon; its log is %s/daemon.log)\n", dir, dir)
		}
		fmt.Fprintf(out, "Remove it with: hairpin lab down --prefix %s\n", prefix)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) did not behave as expected", failed)
	}
	return nil
}

func labSingleNAT(ctx context.Context, out io.Writer, t *lab.Topology, dir string) (int, error) {
	cfgPath, err := lab.WriteConfig(dir, t.Config())
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nRouter config (%s):\n%s\n", cfgPath, indent(t.Config()))
	failed, err := labProve(ctx, out, t, cfgPath)
	if err != nil || failed > 0 {
		return failed, err
	}
	return 0, labFollow(ctx, out, t, dir)
}

// labDoubleNAT runs the daemon behind the lab's ISP box: it learns the public address from a "what is my IP"
// service on the internet host and forwards it too, so the bookmarks work from the LAN without the ISP box
// (which does not hairpin) and from the internet through both NATs.
func labDoubleNAT(ctx context.Context, out io.Writer, t *lab.Topology, dir string) (int, error) {
	if _, _, err := t.Start(t.Internet, "lab", "serve", "--whoami", "8080"); err != nil {
		return 0, err
	}
	whoami := "http://" + t.InternetAddr.String() + ":8080/ip"
	if err := poll.Until(ctx, 10*time.Second, func() bool {
		a := lab.HTTPGet(ctx, t.Router, whoami, time.Second)
		return a.Err != nil && strings.Contains(a.Err.Error(), "unexpected answer") // it answered, with a bare address
	}); err != nil {
		return 0, errors.New("the lab's what-is-my-IP service did not start")
	}
	wanSection := fmt.Sprintf("wan:\n  interface: %s\n", t.WANIf)
	text := strings.Replace(t.Config(), wanSection, wanSection+"  double_nat: auto\n  public_ip: [\""+whoami+"\"]\n", 1)
	cfgPath := filepath.Join(dir, "hairpin.yaml")
	daemonText := fmt.Sprintf("daemon: {status: %s/hairpin.sock}\nstate_dir: %s\n%s", dir, dir, text)
	if err := os.WriteFile(cfgPath, []byte(daemonText), 0o644); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nAn ISP box (%s) sits in front of the router: it owns the public address %s and forwards\neverything to the router's private WAN address %s. Router config (%s):\n%s\n",
		t.ISPBox, t.PublicAddr, t.RouterWAN, cfgPath, indent(daemonText))
	proc, logs, err := t.Start(t.Router, "run", "-c", cfgPath)
	if err != nil {
		return 0, err
	}
	if err := poll.Until(ctx, 15*time.Second, func() bool { return strings.Contains(logs.String(), "WAN address set updated") }); err != nil {
		t.Stop(proc)
		return 0, fmt.Errorf("the daemon did not learn the public address:\n%s", logs.String())
	}
	fmt.Fprintf(out, "router$ hairpin run -c %s\n", cfgPath)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		fmt.Fprintf(out, "  %s\n", line)
	}
	checks := t.ProveAll(ctx)
	fmt.Fprintf(out, "\nEvery bookmark on the public address %s:\n\n", t.PublicAddr)
	lab.PrintChecks(out, checks, false)
	failed := lab.Failures(checks)

	// Negative control: the same forwards without double-NAT handling.
	t.Stop(proc)
	off := strings.Replace(t.Config(), wanSection, wanSection+"  double_nat: off\n", 1)
	offPath := filepath.Join(dir, "double-nat-off.yaml")
	if err := os.WriteFile(offPath, []byte(off), 0o644); err != nil {
		return failed, err
	}
	if _, err := t.Apply(ctx, offPath); err != nil {
		return failed, err
	}
	neg := t.ProveFromLAN(ctx)
	fmt.Fprintf(out, "\nNegative control: double_nat off. The router does not know the public address, the laptop's\nrequest goes to the ISP box, which does not hairpin:\n\n")
	lab.PrintChecks(out, neg, true)
	failed += lab.Answered(neg)
	// Leave the daemon running again, for --keep; it logs to a file so it can outlive this command.
	if _, err := t.StartToFile(t.Router, filepath.Join(dir, "daemon.log"), "run", "-c", cfgPath); err != nil {
		return failed, err
	}
	if err := poll.Until(ctx, 15*time.Second, func() bool {
		st, err := daemon.Fetch(ctx, filepath.Join(dir, "hairpin.sock"))
		return err == nil && len(st.ForwardSet) == 2
	}); err != nil {
		return failed, errors.New("the restarted daemon did not learn the public address again")
	}
	if failed == 0 {
		fmt.Fprintf(out, "\nBehind double NAT all %d forwards work from LAN, WAN and router; without it all %d fail from the LAN.\n", len(checks), len(neg))
	}
	return failed, nil
}

// labProve applies hairpin, proves every forward, then shows the negative control and restores hairpin.
func labProve(ctx context.Context, out io.Writer, t *lab.Topology, cfgPath string) (failed int, err error) {
	msg, err := t.Apply(ctx, cfgPath)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "router$ hairpin apply -c %s\n%s\n", cfgPath, indent(msg))
	checks := t.ProveAll(ctx)
	fmt.Fprintf(out, "Every bookmark, from the LAN (hairpin), the internet and the router itself, public address %s:\n\n", t.PublicAddr)
	lab.PrintChecks(out, checks, false)
	failed += lab.Failures(checks)

	if _, err := t.Apply(ctx, cfgPath, "--no-hairpin-masquerade"); err != nil {
		return failed, err
	}
	neg := t.ProveFromLAN(ctx)
	fmt.Fprintf(out, "\nNegative control: the same rules without hairpin's masquerade. The camera answers the laptop\ndirectly from its LAN address, and the laptop drops the reply:\n\n")
	lab.PrintChecks(out, neg, true)
	failed += lab.Answered(neg)
	if _, err := t.Apply(ctx, cfgPath); err != nil {
		return failed, err
	}
	if failed == 0 {
		fmt.Fprintf(out, "\nAll %d forwards work from LAN, WAN and router; without hairpin's masquerade all %d fail from the LAN.\n", len(checks), len(neg))
	}
	return failed, nil
}

// labFollow runs the daemon on the router and moves the WAN address, as an ISP's DHCP server would, showing
// the forwards follow at once and the old address stops forwarding.
func labFollow(ctx context.Context, out io.Writer, t *lab.Topology, dir string) error {
	cfg := fmt.Sprintf("daemon: {status: %s/hairpin.sock}\nstate_dir: %s\n%s", dir, dir, t.Config())
	cfgPath := filepath.Join(dir, "daemon.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	proc, logs, err := t.Start(t.Router, "run", "-c", cfgPath)
	if err != nil {
		return err
	}
	defer t.Stop(proc)
	if err := poll.Until(ctx, 10*time.Second, func() bool { return strings.Contains(logs.String(), "rules applied") }); err != nil {
		return fmt.Errorf("the daemon did not start: %s", logs.String())
	}
	oldAddr, newAddr := t.PublicAddr.String(), "203.0.113.11"
	fmt.Fprintf(out, "\nrouter$ hairpin run -c %s   (the daemon)\nThe ISP moves the WAN address from %s to %s:\n", cfgPath, oldAddr, newAddr)
	for _, c := range []string{"addr del " + oldAddr + "/24 dev " + t.WANIf, "addr add " + newAddr + "/24 dev " + t.WANIf, "route replace default via " + t.InternetAddr.String()} {
		if err := t.IP(ctx, t.Router, c); err != nil {
			return err
		}
	}
	start := time.Now()
	url := "http://" + newAddr + ":8090/"
	a := lab.HTTPGet(ctx, t.Laptop, url, 200*time.Millisecond)
	for !a.OK() {
		if time.Since(start) > 5*time.Second {
			return fmt.Errorf("the forwards did not follow the new address: %s", logs.String())
		}
		time.Sleep(time.Millisecond) // pacing between attempts; a refused connection returns at once
		a = lab.HTTPGet(ctx, t.Laptop, url, 200*time.Millisecond)
	}
	took := time.Since(start)
	// The daemon enables the new address before it retires the old one; give it the moment that takes.
	var old lab.Answer
	_ = poll.Until(ctx, 2*time.Second, func() bool {
		old = lab.HTTPGet(ctx, t.Laptop, "http://"+oldAddr+":8090/", 500*time.Millisecond)
		return !old.OK()
	})
	fmt.Fprintf(out, "  laptop -> %s:8090: %s, %s after the change\n  laptop -> %s:8090 (old): %s\n", newAddr, a, took.Round(time.Millisecond), oldAddr, old)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "WAN address") {
			fmt.Fprintf(out, "  daemon log: %s\n", line)
		}
	}
	if old.OK() {
		return fmt.Errorf("the old address %s still forwards", oldAddr)
	}
	// Put the lab back as it was, for --keep.
	for _, c := range []string{"addr del " + newAddr + "/24 dev " + t.WANIf, "addr add " + oldAddr + "/24 dev " + t.WANIf, "route replace default via " + t.InternetAddr.String()} {
		if err := t.IP(ctx, t.Router, c); err != nil {
			return err
		}
	}
	return poll.Until(ctx, 5*time.Second, func() bool {
		return lab.HTTPGet(ctx, t.Laptop, "http://"+oldAddr+":8090/", 200*time.Millisecond).OK()
	})
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

type labState struct {
	Prefix string `json:"prefix"`
	PIDs   []int  `json:"pids"`
}

func saveLab(prefix string, pids []int) error {
	data, _ := json.Marshal(labState{Prefix: prefix, PIDs: pids})
	return os.WriteFile(filepath.Join(labStateDir, prefix+".json"), data, 0o600)
}

// labDown stops the servers of a kept lab, by the PIDs it recorded (and only if they still run this program's
// lab server), then deletes the lab's namespaces.
func labDown(prefix string) error {
	stateFile := filepath.Join(labStateDir, prefix+".json")
	if data, err := os.ReadFile(stateFile); err == nil {
		var st labState
		if json.Unmarshal(data, &st) == nil {
			for _, pid := range st.PIDs {
				// Only processes that are still this lab's: a server, or a daemon reading the lab's config.
				cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				if err == nil && (strings.Contains(string(cmdline), "lab\x00serve") || strings.Contains(string(cmdline), filepath.Join(labStateDir, prefix))) {
					_ = syscall.Kill(pid, syscall.SIGTERM)
				}
			}
		}
		_ = os.Remove(stateFile)
	}
	_ = os.RemoveAll(filepath.Join(labStateDir, prefix))
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return err
	}
	removed := 0
	for _, line := range strings.Split(string(list), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, prefix+"-") {
			if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
				removed++
			}
		}
	}
	if removed == 0 {
		return errors.New("no lab namespaces found with prefix " + prefix)
	}
	return nil
}

func labDownCmd(prefix *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove a lab left running with --keep",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := labDown(*prefix); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "lab removed")
			return nil
		},
	}
}

func labServeCmd() *cobra.Command {
	var name string
	var tcp, udp []int
	var whoami int
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run a lab host's servers (used inside the lab's namespaces)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
