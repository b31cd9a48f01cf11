package nft

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/nft/nftfake"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// NewFake returns a backend over knftables' fake and the fake of table ip hairpin.
func NewFake() (*Backend, *knftables.Fake) {
	b, f, _ := NewFakeDual()
	return b, f
}

// NewFakeDual is NewFake that also returns the fake of table ip6 hairpin.
func NewFakeDual() (*Backend, *knftables.Fake, *knftables.Fake) {
	t := nftfake.New(Table)
	return NewFakeOver(t), t.V4, t.V6
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// camerasPlan is the background article's four cameras (external 8090-8093 to port 80 of .180-.183) on a router
// with a public WAN address.
func camerasPlan(t *testing.T) *plan.Desired {
	t.Helper()
	cfg := &config.Config{
		WAN: config.WAN{Interface: "ether1", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "bridge-local"},
	}
	for i, name := range []string{"front-cam", "back-cam", "pool-cam", "driveway-cam"} {
		cfg.Forwards = append(cfg.Forwards, config.Forward{
			Name: name, Protocol: config.TCP,
			Port: config.PortRange{First: uint16(8090 + i), Last: uint16(8090 + i)},
			To:   netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}), ToPort: config.PortRange{First: 80, Last: 80},
		})
	}
	d, warns := plan.Build(cfg, plan.Observed{
		WANAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")},
		LANNets:  []netip.Prefix{netip.MustParsePrefix("192.168.88.1/24")},
	}, plan.Options{})
	if len(warns) > 0 {
		t.Fatalf("cameras plan has warnings: %v", warns)
	}
	return d
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/nft -run %s -update` to create it)", err, t.Name())
	}
	if d := lineDiff(string(want), got); d != "" {
		t.Errorf("%s differs from the output (-want +got); if the change is intended, rerun with -update:\n%s", path, d)
	}
}

// lineDiff is a minimal longest-common-subsequence diff of two texts, line by line: "" when they are equal,
// else every line prefixed with "  ", "- " (only in a) or "+ " (only in b).
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&out, "  %s\n", x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "- %s\n", x[i])
			i++
		default:
			fmt.Fprintf(&out, "+ %s\n", y[j])
			j++
		}
	}
	return out.String()
}

// changed returns only the added and removed lines of a lineDiff.
func changed(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "+ ") || strings.HasPrefix(l, "- ") {
			out = append(out, l)
		}
	}
	return out
}

func TestLineDiff(t *testing.T) {
	if d := lineDiff("a\nb\n", "a\nb\n"); d != "" {
		t.Errorf("equal texts gave %q", d)
	}
	got := changed(lineDiff("a\nb\nc", "a\nx\nc\nd"))
	want := []string{"- b", "+ x", "+ d"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("changed = %q, want %q", got, want)
	}
}

// withBackend runs fn with a real backend inside network namespace ns, and closes the backend after.
func withBackend(ns string, fn func(b *Backend) error) error {
	return netns.Do(ns, func() error {
		b, err := New()
		if err != nil {
			return err
		}
		defer b.Close()
		return fn(b)
	})
}
