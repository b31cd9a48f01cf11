// Package integration tests hairpin end to end on the real kernel: the lab's namespaces, the hairpin binary
// running in the router namespace, and real traffic from the laptop, the internet host and the router.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/lab"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// bin is the hairpin binary built once for all tests.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("integration: skipping namespace tests: they need root (run `make test` as root, as CI does)")
		return m.Run() // every test skips itself
	}
	dir, err := os.MkdirTemp("", "hairpin-it-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "hairpin")
	build := exec.Command("go", "build", "-race", "-tags", "lab", "-o", bin, "../cmd/hairpin")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("building hairpin: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func needRoot(t *testing.T) {
	t.Helper()
	netnstest.NeedRoot(t, "network namespaces and nftables")
	if bin == "" {
		t.Skip("the test binary of hairpin was not built")
	}
}

// newLab builds a lab with unique namespace names and removes it when the test ends, even on failure.
func newLab(t *testing.T, opt lab.Options) *lab.Topology {
	t.Helper()
	needRoot(t)
	opt.Bin = bin
	opt.Prefix = lab.RandomPrefix()
	ctx := context.Background()
	topo, err := lab.Build(ctx, opt)
	if err != nil {
		t.Fatalf("building lab: %v", err)
	}
	t.Cleanup(topo.Close)
	return topo
}

// labWithCameras builds a lab, starts the cameras and writes the lab's config.
func labWithCameras(t *testing.T, opt lab.Options) (*lab.Topology, string) {
	t.Helper()
	topo := newLab(t, opt)
	if err := topo.StartCameras(context.Background()); err != nil {
		t.Fatal(err)
	}
	return topo, writeConfig(t, topo.Config())
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hairpin.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hairpin runs the binary in the router namespace and returns its output and exit code.
func hairpin(t *testing.T, topo *lab.Topology, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", topo.Router, bin}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running hairpin %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func mustApply(t *testing.T, topo *lab.Topology, cfg string, extra ...string) {
	t.Helper()
	if out, code := hairpin(t, topo, append([]string{"apply", "-c", cfg}, extra...)...); code != 0 {
		t.Fatalf("hairpin apply exited %d: %s", code, out)
	}
}

// ruleset lists everything nftables holds in the router namespace.
func ruleset(t *testing.T, topo *lab.Topology) string {
	t.Helper()
	out, err := lab.Exec(context.Background(), topo.Router, "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tableText lists hairpin's table, or "" when it does not exist.
func tableText(t *testing.T, topo *lab.Topology) string {
	t.Helper()
	out, err := lab.Exec(context.Background(), topo.Router, "nft", "list", "table", "ip", "hairpin")
	if err != nil {
		if strings.Contains(out, "No such file") {
			return ""
		}
		t.Fatal(err)
	}
	return out
}

// mustRefuse fails the test unless the probe got no answer and was turned away with a positive sign: a reset
// or an ICMP error. A timeout is not one: on a busy machine a negative control would pass without proving
// anything.
func mustRefuse(t *testing.T, what string, a lab.Answer) {
	t.Helper()
	switch {
	case a.OK():
		t.Errorf("%s answered: %v", what, a)
	case !a.Refused():
		t.Errorf("%s: got %v, want a refusal (a reset or an ICMP error): a timeout proves nothing", what, a)
	}
}

// nftPackets runs an nft listing in namespace ns and returns the packets of its (first) counter.
func nftPackets(t *testing.T, ns string, args ...string) int {
	t.Helper()
	out, err := lab.Exec(context.Background(), ns, "nft", args...)
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	_, rest, ok := strings.Cut(out, "packets ")
	if !ok {
		t.Fatalf("no counter in %q", out)
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		t.Fatalf("counter in %q: %v", out, err)
	}
	return n
}
