package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/daemon"
	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// quickStart returns the commands of the README's Quick start: the fenced block under its heading that runs
// `hairpin init`, with continued lines joined.
func quickStart(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Quick start\n")
	if !ok {
		t.Fatal("the README has no \"## Quick start\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if !strings.Contains(block[1], "hairpin init") {
			continue
		}
		var cmds []string
		line := ""
		sc := bufio.NewScanner(strings.NewReader(block[1]))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if cont, ok := strings.CutSuffix(l, "\\"); ok {
				line += cont + " "
				continue
			}
			if l = strings.TrimSpace(line + l); l != "" && !strings.HasPrefix(l, "#") {
				cmds = append(cmds, l)
			}
			line = ""
		}
		return cmds
	}
	t.Fatal("the Quick start has no fenced sh block with `hairpin init`")
	return nil
}

// unitCommands are the systemd unit's ExecStartPre and ExecStart, what `systemctl enable --now hairpin` runs.
func unitCommands(t *testing.T) (pre, start []string) {
	t.Helper()
	data, err := os.ReadFile("../dist/hairpin.service")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStartPre="); ok {
			pre = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStart="); ok {
			start = strings.Fields(v)
		}
	}
	if len(pre) < 2 || len(start) < 2 {
		t.Fatalf("the unit has no ExecStartPre and ExecStart lines:\n%s", data)
	}
	return pre, start
}

// TestQuickStart is a newcomer's first hour, as the README's Quick start tells it, on the lab's router (WAN
// wan0 with a public address, LAN lan0 192.168.88.1/24, four cameras) with a dyndns2 server on the internet
// host: every command of the Quick start's block runs, in order, and an unknown one fails the test, so the
// README cannot rot. Around it, a negative control for each "never silently" promise: a missing secret fails
// check; a daemon's rules cannot be pulled from under it; forwarding off and a forward filter that drops make
// apply warn, and the usual fix makes doctor read OK.
func TestQuickStart(t *testing.T) {
	// The race detector sleeps a second before a process exits; the stop below times hairpin, not that.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	topo, _ := labWithCameras(t, lab.Options{})
	rec := startDyndns(t, topo)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hairpin.yaml")
	sock := filepath.Join(dir, "hairpin.sock")
	secretFile := filepath.Join(dir, "ddns.secret")
	run := func(args ...string) (string, int) {
		t.Helper()
		out, code := hairpin(t, topo, args...)
		t.Logf("router# hairpin %s  (exit %d)\n%s", strings.Join(args, " "), code, out)
		return out, code
	}
	// The paths a real install uses (/etc/hairpin, /var/lib/hairpin, /run/hairpin) become the test's own.
	local := func(args []string) []string {
		var out []string
		for _, a := range args {
			out = append(out, strings.ReplaceAll(a, "/etc/hairpin/hairpin.yaml", cfg))
		}
		return out
	}
	var d *runningDaemon
	sawStatus := false
	for _, line := range quickStart(t) {
		args := strings.Fields(line)
		switch {
		case args[0] == "hairpin" && args[1] == "init":
			out, code := run(append(local(args[1:]), "-o", cfg)...)
			if code != 0 || !strings.Contains(out, "WAN: wan0, the interface of the default route") || !strings.Contains(out, "LAN: lan0, holds the private address 192.168.88.1/24") ||
				!strings.Contains(out, "4 forwards, dynamic DNS dyndns2") {
				t.Fatalf("init: exit %d\n%s", code, out)
			}
			// Never silently: the password file the entry names is not there yet, and check says so.
			out, code = run("check", "-c", cfg)
			if code != 2 || !strings.Contains(out, "ddns[0] (home.example.net)") || !strings.Contains(out, "/etc/hairpin/ddns.secret") {
				t.Errorf("check with the DNS password missing: exit %d, want 2 naming the entry and the file\n%s", code, out)
			}
			if out, code := run(append(local(args[1:]), "-o", cfg)...); code != 2 || !strings.Contains(out, "never overwrites") {
				t.Errorf("init again: exit %d, want 2\n%s", code, out)
			}
		case args[0] == "$EDITOR":
			// What the user fills in: the DNS account (here the lab's dyndns2 server) and its password; and, for
			// the test only, paths of its own instead of /var/lib/hairpin and /run/hairpin.
			if err := os.WriteFile(secretFile, []byte("s3cret-dyn\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.NewReplacer(
				"server: https://members.dyndns.org", "server: http://203.0.113.1:8245",
				"password_file: /etc/hairpin/ddns.secret", "password_file: "+secretFile,
			).Replace(string(text)) + fmt.Sprintf("daemon: {status: %s}\nstate_dir: %s\n", sock, filepath.Join(dir, "state"))
			if edited == string(text) {
				t.Fatal("the starter config has no dyndns2 server and password_file to fill in")
			}
			if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}
		case line == "hairpin check":
			if out, code := run("check", "-c", cfg); code != 0 || !strings.Contains(out, "ok (4 forwards, backend linux)") {
				t.Fatalf("check after the edit: exit %d\n%s", code, out)
			}
		case line == "systemctl enable --now hairpin":
			pre, start := unitCommands(t)
			if out, code := run(local(pre[1:])...); code != 0 {
				t.Fatalf("the unit's ExecStartPre: exit %d\n%s", code, out)
			}
			d = startDaemon(t, topo, cfg, sock)
			_ = start // started by startDaemon with the same arguments
			if got := strings.Join(local(start[1:]), " "); got != "run -c "+cfg {
				t.Errorf("the unit's ExecStart runs %q; the test runs `run -c CONFIG`", got)
			}
		case line == "hairpin status":
			sawStatus = true
			if err := poll.Until(context.Background(), 20*time.Second, func() bool { _, ok := rec.first(topo.PublicAddr.String()); return ok }); err != nil {
				t.Fatalf("the dyndns2 update never arrived; daemon log:\n%s", d.log.String())
			}
			d.waitStatus(t, "the DNS answer", func(s *daemon.Status) bool {
				return strings.Contains(fmt.Sprint(s.DDNS), "good "+topo.PublicAddr.String())
			})
			out, code := run("status", "-c", cfg)
			for _, want := range []string{"public address: 203.0.113.10 (from the WAN interface)", "rules: installed, forwarding on 203.0.113.10",
				"driveway-cam", "home.example.net", "good 203.0.113.10", "dynamic DNS: home.example.net now points at 203.0.113.10"} {
				if code != 0 || !strings.Contains(out, want) {
					t.Errorf("status lacks %q (exit %d)", want, code)
				}
			}
		default:
			t.Fatalf("the README's Quick start has a command this test does not know how to run: %q", line)
		}
	}
	if d == nil || !sawStatus {
		t.Fatal("the Quick start did not start the service and ask its status")
	}
	for _, c := range topo.ProveAll(context.Background()) {
		if c.Proto == "tcp" && !c.Pass() { // the Quick start forwards TCP only
			t.Errorf("%s %s from %s: %v", c.Proto, c.Target, c.From, c.Answer)
		}
	}

	// One owner at a time: down and apply refuse while the daemon runs, and the rules stay.
	before := tableText(t, topo)
	for _, cmd := range []string{"down", "apply"} {
		out, code := run(cmd, "-c", cfg)
		if code != 2 || !strings.Contains(out, fmt.Sprintf("PID %d", d.cmd.Process.Pid)) || !strings.Contains(out, "systemctl") {
			t.Errorf("%s with the daemon running: exit %d, want 2 naming the daemon's PID and what to run instead", cmd, code)
		}
	}
	if tableText(t, topo) != before {
		t.Error("a refused down or apply changed the rules")
	}
	// --force goes ahead; the daemon's status says so, and its next event (here a reload) puts them back.
	if out, code := run("down", "--force", "-c", cfg); code != 0 || tableText(t, topo) != "" {
		t.Fatalf("down --force: exit %d\n%s", code, out)
	}
	if out, _ := run("status", "-c", cfg); !strings.Contains(out, "rules CHANGED UNDER THE DAEMON by hairpin down --force") {
		t.Errorf("status does not say the rules were changed under the daemon")
	}
	d.signal(t, syscall.SIGHUP)
	d.waitStatus(t, "the rules put back", func(s *daemon.Status) bool {
		return s.ChangedUnder == "" && s.Installed && strings.Contains(fmt.Sprint(s.Events), "the rules were changed under the daemon")
	})
	reaches(t, topo.Laptop, "203.0.113.10:8090", "front-cam")

	// A broken config does not silence status: it asks the daemon at the socket the file names, and shows the
	// errors as a warning.
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(append([]byte{}, good...), "forwards: [\n"...), 0o600)
	if out, code := run("status", "-c", cfg); code != 0 || !strings.Contains(out, "warning: the config is broken") || !strings.Contains(out, "asking the daemon at "+sock) || !strings.Contains(out, "up since") {
		t.Errorf("status with a broken config: exit %d", code)
	}
	os.WriteFile(cfg, good, 0o600)

	// The WAN address moves, as an ISP's DHCP server would: the forwards and the DNS record follow.
	mustIP(t, topo, topo.Router, "addr del 203.0.113.10/24 dev wan0", "addr add 203.0.113.11/24 dev wan0", "route replace default via "+topo.InternetAddr.String())
	if err := poll.Until(context.Background(), 30*time.Second, func() bool { _, ok := rec.first("203.0.113.11"); return ok }); err != nil {
		t.Fatalf("the dyndns2 update for the new address never arrived; daemon log:\n%s", d.log.String())
	}
	reaches(t, topo.Laptop, "203.0.113.11:8091", "back-cam")
	d.waitStatus(t, "the new DNS answer", func(s *daemon.Status) bool { return strings.Contains(fmt.Sprint(s.DDNS), "good 203.0.113.11") })
	out, _ := run("status", "-c", cfg)
	for _, want := range []string{"WAN wan0: 203.0.113.11", "public address: 203.0.113.11", "good 203.0.113.11", "WAN address changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status after the WAN change lacks %q", want)
		}
	}

	// A clean stop: no ERROR in the log, and the rules stay for status without a daemon (text and JSON).
	stopped := time.Now()
	d.stop(t)
	took := time.Since(stopped)
	t.Logf("SIGTERM to exit: %v (a -race build)", took)
	if took > 2*time.Second { // the goal, 200 ms, is make bench's; this only catches a stop that waits on something
		t.Errorf("the daemon took %v to stop", took)
	}
	if strings.Contains(d.log.String(), "level=ERROR") {
		t.Errorf("a clean stop logged an ERROR:\n%s", d.log.String())
	}
	if out, code := run("status", "-c", cfg); code != 0 || !strings.Contains(out, "No hairpin daemon answers") || !strings.Contains(out, "front-cam") {
		t.Errorf("status without the daemon: exit %d", code)
	}
	out, code := run("status", "--json", "-c", cfg)
	var st daemon.Status
	if _, jsonText, _ := strings.Cut(out, "{"); code != 0 || json.Unmarshal([]byte("{"+jsonText), &st) != nil || !st.NoDaemon || !st.Installed || len(st.Forwards) != 4 {
		t.Errorf("status --json without the daemon: exit %d, %+v", code, st)
	}
}

// TestForwardingBlockers: what on the router stops every forward is said by apply and doctor, and the usual
// fixes read OK. Forwarding off: apply warns and the camera is not reached. A forward chain with policy drop:
// doctor FAILs it, apply warns, and its drop counter counts the internet's connection (the positive sign of
// refusal); with `ct status dnat accept` added the camera answers, apply is quiet and doctor says OK.
func TestForwardingBlockers(t *testing.T) {
	topo, cfg := labWithCameras(t, lab.Options{})
	cfg = writeConfig(t, "daemon: {status: /nonexistent/hairpin.sock}\n"+mustRead(t, cfg))
	ctx := context.Background()
	apply := func() string {
		t.Helper()
		out, code := hairpin(t, topo, "apply", "-c", cfg)
		if code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		return out
	}
	if out := apply(); strings.Contains(out, "warning:") {
		t.Errorf("apply on a working router warns:\n%s", out)
	}
	reaches(t, topo.Internet, "203.0.113.10:8090", "front-cam")

	if _, err := lab.Exec(ctx, topo.Router, "sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	if out := apply(); !strings.Contains(out, "warning: IPv4 forwarding is off") {
		t.Errorf("apply with forwarding off does not warn:\n%s", out)
	}
	if a := lab.HTTPGet(ctx, topo.Internet, "http://203.0.113.10:8090/", lab.ProbeTimeout); a.OK() {
		t.Errorf("with forwarding off the camera answered: the control proves nothing")
	}
	if _, err := lab.Exec(ctx, topo.Router, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatal(err)
	}

	// A typical firewall: forward policy drop, established traffic accepted, everything else counted and dropped.
	if err := lab.LoadNFT(ctx, topo.Router, "table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n  counter drop\n }\n}\n"); err != nil {
		t.Fatal(err)
	}
	out := apply()
	if !strings.Contains(out, "warning: chain inet filter forward drops forwarded traffic by default and accepts no DNATed connection") {
		t.Errorf("apply under a dropping forward chain does not warn:\n%s", out)
	}
	if out, code := hairpin(t, topo, "doctor", "-c", cfg); code != 1 || !strings.Contains(out, "FAIL  chain inet filter forward drops") || !strings.Contains(out, "ct status dnat accept") {
		t.Errorf("doctor under a dropping forward chain: exit %d\n%s", code, out)
	}
	if a := lab.HTTPGet(ctx, topo.Internet, "http://203.0.113.10:8090/", lab.ProbeTimeout); a.OK() {
		t.Errorf("the dropping chain let the internet through: %v", a)
	}
	if n := nftPackets(t, topo.Router, "list", "chain", "inet", "filter", "forward"); n == 0 {
		t.Error("the forward chain's drop counter did not count the refused connection")
	}

	// The usual fix, in a chain the forward chain jumps to.
	if _, err := lab.Exec(ctx, topo.Router, "nft", "add chain inet filter fwd_dnat"); err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{"insert rule inet filter forward jump fwd_dnat", "add rule inet filter fwd_dnat ct status dnat accept"} {
		if out, err := lab.Exec(ctx, topo.Router, "nft", strings.Fields(rule)...); err != nil {
			t.Fatalf("%s: %v %s", rule, err, out)
		}
	}
	if out := apply(); strings.Contains(out, "warning:") {
		t.Errorf("apply after the fix still warns:\n%s", out)
	}
	if out, _ := hairpin(t, topo, "doctor", "-c", cfg); strings.Contains(out, "FAIL") || !strings.Contains(out, "OK    chain inet filter forward drops by default and accepts DNATed connections") {
		t.Errorf("doctor after the fix:\n%s", out)
	}
	reaches(t, topo.Internet, "203.0.113.10:8090", "front-cam")
	reaches(t, topo.Laptop, "203.0.113.10:8091", "back-cam")

	// down removes the table; a second down says there was nothing to remove rather than claiming it again.
	if out, code := hairpin(t, topo, "down", "-c", cfg); code != 0 || !strings.Contains(out, "removed table ip hairpin") {
		t.Errorf("down: exit %d\n%s", code, out)
	}
	if out, code := hairpin(t, topo, "down", "-c", cfg); code != 0 || !strings.Contains(out, "nothing to remove") {
		t.Errorf("down with nothing installed: exit %d\n%s", code, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
