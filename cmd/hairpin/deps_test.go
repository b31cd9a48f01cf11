package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestShippedDeps: packages whose cost the binary was cut to avoid stay out of what cmd/hairpin links, for the
// plain build and the router build alike. net/http (its server, transport and bundled HTTP/2 were 1.6 MiB of a
// mipsle build) is replaced by internal/web; the others by small packages of hairpin's own (ARCHITECTURE.md).
// Tests may import them; only the shipped build is checked.
func TestShippedDeps(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to list the build's packages")
	}
	banned := []string{
		"net/http",
		"github.com/VictoriaMetrics/metrics",
		"github.com/miekg/dns",
		"github.com/spf13/cobra",
		"github.com/vishvananda/netlink",
		"github.com/huin/goupnp",
		"sigs.k8s.io/knftables",
		"github.com/google/nftables",
		"encoding/xml",
		"text/template",
	}
	for _, tags := range []string{"", "nolab,nethttpomithttp2"} {
		t.Run("tags="+tags, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "list", "-deps", "-tags", tags, ".")
			cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=mipsle")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			linked := map[string]bool{}
			for _, p := range strings.Fields(string(out)) {
				linked[p] = true
			}
			if !linked["github.com/hairpin-nat/hairpin/internal/web"] {
				t.Fatalf("internal/web is not in the list: the check reads the wrong package list\n%s", out)
			}
			for _, b := range banned {
				if linked[b] {
					t.Errorf("%s is linked into cmd/hairpin again (go list -deps -tags %q)", b, tags)
				}
			}
		})
	}
}
