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
