package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// Failures6 counts the IPv6 checks that did not behave as expected (Check.Pass6).
func Failures6(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.Pass6() {
			n++
		}
	}
	return n
}

// DemoIPv6 is the IPv6 scenario (a topology built with Options.IPv6): every bookmark over IPv6 from the
// laptop, the internet and the router, the forward without to6 not forwarded, the negative control without
// the masquerade; then the daemon, the ISP delegating a new prefix, and every bookmark proven again on it.
func (t *Topology) DemoIPv6(ctx context.Context, out io.Writer, dir string) (failed int, err error) {
	if t.V6 == nil {
		return 0, fmt.Errorf("the lab has no IPv6 (build it with Options.IPv6)")
	}
	sock := filepath.Join(dir, "hairpin6.sock")
	// The lab's BIND on the internet host takes the AAAA record, signed with a TSIG key.
	bindDir := filepath.Join(dir, "bind6")
	if err := os.MkdirAll(bindDir, 0o700); err != nil {
		return 0, err
	}
	const keyName, secret = "hairpin-key", "aGFpcnBpbi1sYWItdHNpZy1rZXktZm9yLWFhYWEtMDE="
	bind, err := t.StartDNSWithKey(ctx, bindDir, time.Minute, nil, keyName, secret)
	if err != nil {
		return 0, err
	}
	tsig := filepath.Join(dir, "tsig6.secret")
	if err := os.WriteFile(tsig, []byte(secret+"\n"), 0o600); err != nil {
		return 0, err
	}
	text := fmt.Sprintf("daemon: {status: %s}\nstate_dir: %s\nddns:\n  - {provider: rfc2136, server: %q, zone: example.net, hostname: home.example.net, tsig_key: %s, tsig_secret_file: %s, family: ipv6}\n%s",
		sock, dir, bind.Addr, keyName, tsig, t.Config6())
	cfgPath := filepath.Join(dir, "hairpin6.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\nIPv6: the router's global address is %s; the LAN has the delegated prefix %s and the ULA prefix %s.\nRouter config (%s):\n%s\n",
		t.V6.RouterWAN, t.V6.Prefix, t.V6.ULA, cfgPath, indent(text))
	msg, err := t.Apply(ctx, cfgPath)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "router$ hairpin apply -c %s\n%s\n", cfgPath, indent(msg))
	checks := t.ProveAll6(ctx, t.Want6)
	fmt.Fprintf(out, "Every bookmark over IPv6, from the LAN (hairpin), the internet and the router itself:\n\n")
	PrintChecks(out, checks, false)
	failed += Failures6(checks)

	if _, err := t.Apply(ctx, cfgPath, "--no-hairpin-masquerade"); err != nil {
		return failed, err
	}
	var neg []Check
	for _, c := range t.ProveAll6(ctx, t.Want6) {
		if c.From == "laptop" && c.WantServer != "" {
			neg = append(neg, c)
		}
	}
	fmt.Fprintf(out, "\nNegative control: the same IPv6 rules without hairpin's masquerade fail from the LAN:\n\n")
	PrintChecks(out, neg, true)
	failed += Answered(neg)

	proc, logs, err := t.Start(t.Router, "run", "-c", cfgPath)
	if err != nil {
		return failed, err
	}
	defer t.Stop(proc)
	if _, err := WaitDaemon(ctx, sock, 30*time.Second, Installed); err != nil {
		return failed, fmt.Errorf("the daemon did not start: %v\n%s", err, logs.String())
	}
	aaaa := func(want netip.Addr) bool {
		err := poll.Until(ctx, 10*time.Second, func() bool {
			got, err := bind.AAAA(ctx, "home")
			return err == nil && len(got) == 1 && got[0] == want
		})
		got, _ := bind.AAAA(ctx, "home")
		fmt.Fprintf(out, "  BIND at %s: home.example.net AAAA %v\n", bind.Addr, got)
		return err == nil
	}
	fmt.Fprintf(out, "\nrouter$ hairpin run -c %s   (the daemon)\n", cfgPath)
	if !aaaa(t.V6.RouterWAN) {
		failed++
	}
	old, next := t.V6.Prefix, LANPrefixes6[1]
	if old == next {
		next = LANPrefixes6[0]
	}
	newWAN := On(netip.PrefixFrom(t.V6.RouterWAN, 64), 0x11)
	fmt.Fprintf(out, "The ISP moves the router to %s and delegates a new prefix: %s replaces %s (the router's old LAN address is\ndeprecated, the hosts renumber):\n", newWAN, next, old)
	if err := t.MoveWAN6(ctx, newWAN); err != nil {
		return failed, err
	}
	if err := t.RenumberLAN(ctx, next, true); err != nil {
		return failed, err
	}
	want := "[" + t.Want6(t.Cameras[0]).String() + "]:80"
	start := time.Now()
	st, err := WaitDaemon(ctx, sock, 30*time.Second, func(s *daemon.Status) bool { return len(s.Forwards) > 0 && s.Forwards[0].IPv6 == want })
	if err != nil {
		return failed + 1, fmt.Errorf("the daemon did not follow the new prefix: %v\n%s", err, logs.String())
	}
	fmt.Fprintf(out, "  the daemon moved %s to %s within %s\n", t.Cameras[0].Name, want, time.Since(start).Round(time.Millisecond))
	if !aaaa(newWAN) {
		failed++
	}
	for _, e := range st.Events {
		if strings.HasPrefix(e.Message, "IPv6") {
			fmt.Fprintf(out, "  daemon: %s\n", e.Message)
		}
	}
	// The hosts' first packets on a prefix they took moments ago may wait on neighbour discovery.
	_ = poll.Until(ctx, 10*time.Second, func() bool { return Failures6(t.ProveAll6(ctx, t.Want6)) == 0 })
	checks = t.ProveAll6(ctx, t.Want6)
	fmt.Fprintf(out, "\nEvery bookmark over IPv6 again, at %s, on the new prefix:\n\n", t.V6.RouterWAN)
	PrintChecks(out, checks, false)
	failed += Failures6(checks)
	if failed == 0 {
		fmt.Fprintf(out, "\nAll IPv6 forwards work from LAN, WAN and router, before and after the prefix change, and the AAAA record followed;\nthe forward without to6 stays IPv4-only.\n")
	}
	return failed, nil
}
