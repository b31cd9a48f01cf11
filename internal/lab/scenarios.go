package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// The demo's scenarios. Each prints what it does, proves every forward, shows a negative control (the same
// forwards without the piece that makes them work), and counts the checks that did not behave as expected.

// Demo runs the scenario for the topology: one NAT (apply, prove, negative control, then the daemon
// following a WAN address change), or, on a double-NAT topology, the daemon learning the public address.
// dir holds the configs and the daemon's socket and state; a daemon is left running for a kept lab.
func (t *Topology) Demo(ctx context.Context, out io.Writer, dir string) (failed int, err error) {
	if t.isp != "" {
		return t.ispDemo(ctx, out, dir)
	}
	if t.ISPBox != "" {
		return t.demoDoubleNAT(ctx, out, dir)
	}
	cfgPath, err := t.RouterConfig().Write(dir, "hairpin.yaml")
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nRouter config (%s):\n%s\n", cfgPath, indent(t.Config()))
	failed, err = t.demoProve(ctx, out, cfgPath)
	if err != nil || failed > 0 {
		return failed, err
	}
	return 0, t.demoFollow(ctx, out, dir)
}

// WaitDaemon asks the daemon at socket for its status until cond holds.
func WaitDaemon(ctx context.Context, socket string, within time.Duration, cond func(*daemon.Status) bool) (*daemon.Status, error) {
	var last *daemon.Status
	var lastErr error
	err := poll.Until(ctx, within, func() bool {
		st, err := daemon.Fetch(ctx, socket)
		last, lastErr = st, err
		return err == nil && cond(st)
	})
	if err != nil && lastErr != nil {
		err = fmt.Errorf("%w (last: %v)", err, lastErr)
	}
	return last, err
}

// Installed is the WaitDaemon condition for rules in place.
func Installed(st *daemon.Status) bool { return st.Installed }

// demoProve applies hairpin, proves every forward, then shows the negative control and restores hairpin.
func (t *Topology) demoProve(ctx context.Context, out io.Writer, cfgPath string) (failed int, err error) {
	msg, err := t.Apply(ctx, cfgPath)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "router$ hairpin apply -c %s\n%s\n", cfgPath, indent(msg))
	checks := t.ProveAll(ctx)
	fmt.Fprintf(out, "Every bookmark, from the LAN (hairpin), the internet and the router itself, public address %s:\n\n", t.PublicAddr)
	PrintChecks(out, checks, false)
	failed += Failures(checks)

	if _, err := t.Apply(ctx, cfgPath, "--no-hairpin-masquerade"); err != nil {
		return failed, err
	}
	neg := t.ProveFromLAN(ctx)
	fmt.Fprintf(out, "\nNegative control: the same rules without hairpin's masquerade. The camera answers the laptop\ndirectly from its LAN address, and the laptop drops the reply:\n\n")
	PrintChecks(out, neg, true)
	failed += Answered(neg)
	if _, err := t.Apply(ctx, cfgPath); err != nil {
		return failed, err
	}
	if failed == 0 {
		fmt.Fprintf(out, "\nAll %s work from LAN, WAN and router; without hairpin's masquerade all %s from the LAN fail.\n", Counted(checks), Counted(neg))
	}
	return failed, nil
}

// demoFollow runs the daemon on the router and moves the WAN address, as an ISP's DHCP server would, showing
// the forwards follow at once and the old address stops forwarding.
func (t *Topology) demoFollow(ctx context.Context, out io.Writer, dir string) error {
	cfg := t.RouterConfig()
	cfg.Status, cfg.StateDir = filepath.Join(dir, "hairpin.sock"), dir
	cfgPath, err := cfg.Write(dir, "daemon.yaml")
	if err != nil {
		return err
	}
	proc, logs, err := t.Start(t.Router, "run", "-c", cfgPath)
	if err != nil {
		return err
	}
	defer t.Stop(proc)
	if _, err := WaitDaemon(ctx, cfg.Status, 30*time.Second, Installed); err != nil {
		return fmt.Errorf("the daemon did not start: %v\n%s", err, logs.String())
	}
	oldAddr, newAddr := t.PublicAddr.String(), "203.0.113.11"
	fmt.Fprintf(out, "\nrouter$ hairpin run -c %s   (the daemon)\nThe ISP moves the WAN address from %s to %s:\n", cfgPath, oldAddr, newAddr)
	if err := t.moveWAN(ctx, oldAddr, newAddr); err != nil {
		return err
	}
	start := time.Now()
	url := "http://" + newAddr + ":8090/"
	var a Answer
	// Fast polling: the time until the first answer is what this shows. A refused connection returns at once.
	// The deadline only bounds a failure, generously, since a loaded machine (CI) can be slow.
	if err := poll.Until(ctx, 15*time.Second, func() bool { a = HTTPGet(ctx, t.Laptop, url, 200*time.Millisecond); return a.OK() }); err != nil {
		return fmt.Errorf("the forwards did not follow the new address: %s", logs.String())
	}
	took := time.Since(start)
	// The daemon enables the new address before it retires the old one; give it the moment that takes.
	var old Answer
	_ = poll.Until(ctx, 10*time.Second, func() bool {
		old = HTTPGet(ctx, t.Laptop, "http://"+oldAddr+":8090/", 500*time.Millisecond)
		return !old.OK()
	})
	fmt.Fprintf(out, "  laptop -> %s:8090: %s, %s after the change\n  laptop -> %s:8090 (old): %s\n", newAddr, a, took.Round(time.Millisecond), oldAddr, old)
	if st, err := daemon.Fetch(ctx, cfg.Status); err == nil {
		for _, e := range st.Events {
			if strings.HasPrefix(e.Message, "WAN address") {
				fmt.Fprintf(out, "  daemon: %s\n", e.Message)
			}
		}
	}
	if old.OK() {
		return fmt.Errorf("the old address %s still forwards", oldAddr)
	}
	// Put the lab back as it was, for --keep.
	if err := t.moveWAN(ctx, newAddr, oldAddr); err != nil {
		return err
	}
	return poll.Until(ctx, 15*time.Second, func() bool {
		return HTTPGet(ctx, t.Laptop, "http://"+oldAddr+":8090/", 200*time.Millisecond).OK()
	})
}

// moveWAN replaces the router's WAN address, as the ISP's DHCP server would.
func (t *Topology) moveWAN(ctx context.Context, from, to string) error {
	for _, c := range []string{"addr del " + from + "/24 dev " + t.WANIf, "addr add " + to + "/24 dev " + t.WANIf, "route replace default via " + t.InternetAddr.String()} {
		if err := t.IP(ctx, t.Router, c); err != nil {
			return err
		}
	}
	return nil
}

// demoDoubleNAT runs the daemon behind the lab's ISP box: it learns the public address from a "what is my IP"
// service on the internet host and forwards it too, so the bookmarks work from the LAN without the ISP box
// (which does not hairpin) and from the internet through both NATs.
func (t *Topology) demoDoubleNAT(ctx context.Context, out io.Writer, dir string) (int, error) {
	if _, _, err := t.Start(t.Internet, "lab", "serve", "--whoami", "8080"); err != nil {
		return 0, err
	}
	whoami := "http://" + t.InternetAddr.String() + ":8080/ip"
	if err := poll.Until(ctx, 30*time.Second, func() bool {
		a := HTTPGet(ctx, t.Router, whoami, time.Second)
		return a.Err != nil && strings.Contains(a.Err.Error(), "unexpected answer") // it answered, with a bare address
	}); err != nil {
		return 0, errors.New("the lab's what-is-my-IP service did not start")
	}
	cfg := t.RouterConfig()
	cfg.DoubleNAT, cfg.PublicIP = "auto", []string{whoami}
	cfg.Status, cfg.StateDir = filepath.Join(dir, "hairpin.sock"), dir
	cfgPath, err := cfg.Write(dir, "hairpin.yaml")
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nAn ISP box (%s) sits in front of the router: it owns the public address %s and forwards\neverything to the router's private WAN address %s. Router config (%s):\n%s\n",
		t.ISPBox, t.PublicAddr, t.RouterWAN, cfgPath, indent(cfg.YAML()))
	proc, logs, err := t.Start(t.Router, "run", "-c", cfgPath)
	if err != nil {
		return 0, err
	}
	learned := func(st *daemon.Status) bool { return st.Installed && containsAddr(st.ForwardSet, t.PublicAddr) }
	if _, err := WaitDaemon(ctx, cfg.Status, 30*time.Second, learned); err != nil {
		t.Stop(proc)
		return 0, fmt.Errorf("the daemon did not learn the public address: %v\n%s", err, logs.String())
	}
	fmt.Fprintf(out, "router$ hairpin run -c %s\n", cfgPath)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		fmt.Fprintf(out, "  %s\n", line)
	}
	checks := t.ProveAll(ctx)
	fmt.Fprintf(out, "\nEvery bookmark on the public address %s:\n\n", t.PublicAddr)
	PrintChecks(out, checks, false)
	failed := Failures(checks)

	// Negative control: the same forwards without double-NAT handling.
	t.Stop(proc)
	off := t.RouterConfig()
	off.DoubleNAT = "off"
	offPath, err := off.Write(dir, "double-nat-off.yaml")
	if err != nil {
		return failed, err
	}
	if _, err := t.Apply(ctx, offPath); err != nil {
		return failed, err
	}
	neg := t.ProveFromLAN(ctx)
	fmt.Fprintf(out, "\nNegative control: double_nat off. The router does not know the public address, the laptop's\nrequest goes to the ISP box, which does not hairpin:\n\n")
	PrintChecks(out, neg, true)
	failed += Answered(neg)
	// Leave the daemon running again, for --keep; it logs to a file so it can outlive this command.
	if _, err := t.StartToFile(t.Router, filepath.Join(dir, "daemon.log"), "run", "-c", cfgPath); err != nil {
		return failed, err
	}
	if _, err := WaitDaemon(ctx, cfg.Status, 30*time.Second, learned); err != nil {
		return failed, errors.New("the restarted daemon did not learn the public address again")
	}
	if failed == 0 {
		fmt.Fprintf(out, "\nBehind double NAT all %s work from LAN, WAN and router; without it all %s from the LAN fail.\n", Counted(checks), Counted(neg))
	}
	return failed, nil
}

func containsAddr(list []string, a netip.Addr) bool {
	for _, s := range list {
		if s == a.String() {
			return true
		}
	}
	return false
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
