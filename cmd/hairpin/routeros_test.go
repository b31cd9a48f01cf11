package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestRouterOSCommands runs apply, apply again, export and down against the simulated router.
func TestRouterOSCommands(t *testing.T) {
	r := rostest.New(t, "hairpin", "pw")
	r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	r.Add(rostest.NAT, rostest.Entry{"chain": "dstnat", "action": "dst-nat", "dst-port": "8090", "protocol": "tcp",
		"to-addresses": "192.168.88.180", "comment": "front camera hairpin"})
	dir := t.TempDir()
	secret := filepath.Join(dir, "routeros.secret")
	cfgFile := filepath.Join(dir, "hairpin.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(secret, "pw\n")
	write(cfgFile, fmt.Sprintf(`backend: routeros
routeros: {url: %q, username: hairpin, password_file: %q, tls_fingerprint: %q}
wan: {interface: ether1}
lan: {interface: bridge}
forwards:
  - {name: front-cam, port: 8090, to: "192.168.88.180:80"}
  - {name: back-cam, port: 8091, to: "192.168.88.181:80"}
`, r.URL(), secret, r.Fingerprint()))

	hairpin := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), "test", args, &out, &errOut); code != want {
			t.Fatalf("hairpin %v: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	if out := hairpin(0, "apply", "-c", cfgFile); !strings.Contains(out, "(5 reads, 8 writes)") {
		t.Errorf("apply: %s", out)
	}
	if out := hairpin(0, "apply", "-c", cfgFile); !strings.Contains(out, "(5 reads, 0 writes)") {
		t.Errorf("second apply: %s", out)
	}
	if out := hairpin(0, "export", "routeros", "-c", cfgFile); !strings.Contains(out, `comment="HAIRPIN:v1:dnat:back-cam:tcp"`) {
		t.Errorf("export: %s", out)
	}
	if out := hairpin(0, "down", "-c", cfgFile); !strings.Contains(out, "removed hairpin's 8 items") {
		t.Errorf("down: %s", out)
	}
	if items := r.Items(rostest.NAT); len(items) != 1 || items[0]["comment"] != "front camera hairpin" {
		t.Errorf("NAT after down: %v", items)
	}

	write(secret, "wrong\n")
	if out := hairpin(1, "apply", "-c", cfgFile); !strings.Contains(out, "router rejected the login") || strings.Contains(out, "wrong") {
		t.Errorf("apply with a wrong password: %s", out)
	}
}

// TestExportRouterOSChecksLikeTheBackend: `hairpin export routeros` checks a config by the routeros backend's
// rules whatever its backend line says: a limit the router would not enforce is refused (exit 2, the line and
// the reason), and Linux interface names are warned about. The negative control is the same config under
// `hairpin check`, where the Linux backend takes both.
func TestExportRouterOSChecksLikeTheBackend(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "linux.yaml")
	if err := os.WriteFile(cfgFile, []byte(`wan: {interface: eth0}
lan: {interface: br-lan, subnets: [192.168.1.0/24]}
forwards:
  - name: nas
    port: 443
    to: 192.168.1.20
    limit: {new_per_source: 10/minute, burst: 20}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	hairpin := hairpinOutput
	code, out := hairpin("export", "routeros", "-c", cfgFile)
	if code != 2 || !strings.Contains(out, "linux.yaml:7") || !strings.Contains(out, "connection limits are not supported by the routeros backend") {
		t.Errorf("export with a limit: exit %d, want 2 with the limit's line:\n%s", code, out)
	}
	if strings.Contains(out, "/ip firewall nat add") {
		t.Errorf("export printed a script despite the error:\n%s", out)
	}
	noLimit := filepath.Join(filepath.Dir(cfgFile), "nolimit.yaml")
	if err := os.WriteFile(noLimit, []byte("wan: {interface: eth0}\nlan: {interface: br-lan, subnets: [192.168.1.0/24]}\nforwards: [{name: nas, port: 443, to: 192.168.1.20}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = hairpin("export", "routeros", "-c", noLimit)
	for _, want := range []string{`"eth0" looks like a Linux interface name`, `"br-lan" looks like a Linux interface name`, "/ip firewall nat add"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("export of a Linux config: exit %d, want 0 and %s:\n%s", code, want, out)
		}
	}
	if code, out := hairpin("check", "-c", cfgFile); code != 0 || strings.Contains(out, "Linux interface name") {
		t.Errorf("negative control: check (backend linux) exit %d:\n%s", code, out)
	}
}

// TestRouterOSSetupCommand runs what docs/routeros.md tells a MikroTik user to type: the setup commands, then
// the fingerprint read from the (simulated) router, then an apply with that pin.
func TestRouterOSSetupCommand(t *testing.T) {
	r := rostest.New(t, "hairpin", "pw")
	r.Add(rostest.Address, rostest.Entry{"address": "203.0.113.7/24", "interface": "ether1"})
	r.Add(rostest.Address, rostest.Entry{"address": "192.168.88.1/24", "interface": "bridge"})
	dir := t.TempDir()
	secret := filepath.Join(dir, "routeros.secret")
	if err := os.WriteFile(secret, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "hairpin.yaml")
	cfg := fmt.Sprintf("backend: routeros\nrouteros:\n  url: %s\n  username: hairpin\n  password_file: %s\n", r.URL(), secret)
	rest := "wan: {interface: ether1}\nlan: {interface: bridge}\nforwards:\n  - {name: front-cam, port: 8090, to: \"192.168.88.180:80\"}\n"
	if err := os.WriteFile(cfgFile, []byte(cfg+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	hairpin := hairpinOutput
	code, out := hairpin("routeros", "setup", "-c", cfgFile)
	if code != 0 || !strings.Contains(out, "/user group add name=hairpin policy=read,write,api,rest-api") || !strings.Contains(out, `subject-alt-name="IP:127.0.0.1"`) {
		t.Fatalf("setup: exit %d:\n%s", code, out)
	}
	code, out = hairpin("routeros", "setup", "--fingerprint", "-c", cfgFile)
	if code != 0 || !strings.Contains(out, "  tls_fingerprint: "+r.Fingerprint()+"\n") {
		t.Fatalf("setup --fingerprint: exit %d:\n%s", code, out)
	}
	// Without the pin the system's trust store refuses the router's self-signed certificate; with it, apply works.
	if code, out := hairpin("apply", "-c", cfgFile); code == 0 {
		t.Errorf("negative control: apply without the pin worked:\n%s", out)
	}
	pinned := cfg + "  tls_fingerprint: " + r.Fingerprint() + "\n" + rest
	if err := os.WriteFile(cfgFile, []byte(pinned), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := hairpin("apply", "-c", cfgFile); code != 0 {
		t.Errorf("apply with the pin: exit %d:\n%s", code, out)
	}
}

// hairpinOutput runs hairpin with args and returns its exit code and everything it printed.
func hairpinOutput(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), "test", args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestRouterOSDocWalkConfig: the config docs/routeros.md starts its walk with is valid, and the setup it
// leads to names the router's address in the certificate.
func TestRouterOSDocWalkConfig(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "routeros.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "   ```yaml\n")
	block, _, ok2 := strings.Cut(rest, "   ```\n")
	if !ok || !ok2 {
		t.Fatal("docs/routeros.md has no indented yaml block")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   "))
	}
	cfgFile := filepath.Join(t.TempDir(), "hairpin.yaml")
	if err := os.WriteFile(cfgFile, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := hairpinOutput("routeros", "setup", "-c", cfgFile)
	if code != 0 || !strings.Contains(out, `subject-alt-name="IP:192.168.88.1"`) || !strings.Contains(out, "/user add name=hairpin group=hairpin") {
		t.Errorf("setup on the documented config: exit %d:\n%s", code, out)
	}
}
