package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMIPSBuildsRun: the mips and mipsle router builds, made with make dist's flags (scripts/goenv.sh: no TLS
// server, segments aligned to 16 KiB), load and run under qemu's user-mode emulator: --version, check of
// every example, a broken config refused with exit 2 at its line, and probe-server --tls-cert refused with
// exit 2 because those builds have no TLS server.
func TestMIPSBuildsRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ arch, qemu string }{{"mipsle", "qemu-mipsel"}, {"mips", "qemu-mips"}} {
		t.Run(tc.arch, func(t *testing.T) {
			t.Parallel()
			qemu, err := exec.LookPath(tc.qemu)
			if err != nil {
				t.Skipf("%s is missing: run ./scripts/deps-test.sh (package qemu-user)", tc.qemu)
			}
			bin := filepath.Join(t.TempDir(), "hairpin")
			build := exec.Command("bash", "-c", `. scripts/goenv.sh && env CGO_ENABLED=0 GOOS=linux $(goenv "$1") `+
				`go build "${GOFLAGS_DIST[@]}" -tags "$(disttags "$1")" -ldflags "$(distldflags "$1")" -o "$2" ./cmd/hairpin`,
				"build", tc.arch, bin)
			build.Dir = ".."
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("router build for %s: %v\n%s", tc.arch, err, out)
			}
			run := func(args ...string) (int, string) {
				cmd := exec.Command(qemu, append([]string{bin}, args...)...)
				cmd.Dir = ".."
				out, err := cmd.CombinedOutput()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatalf("%s %v: %v", tc.qemu, args, err)
				}
				return code, string(out)
			}
			if code, out := run("--version"); code != 0 || !strings.HasPrefix(out, "hairpin ") {
				t.Errorf("--version: exit %d, %q", code, out)
			}
			examples, _ := filepath.Glob("../examples/*.yaml")
			if len(examples) == 0 {
				t.Fatal("no examples found")
			}
			for _, ex := range examples {
				rel := strings.TrimPrefix(ex, "../")
				if code, out := run("check", "--no-secrets", "-c", rel); code != 0 || !strings.Contains(out, ": ok") {
					t.Errorf("check %s: exit %d, %q", rel, code, out)
				}
			}
			broken := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(broken, []byte("wan:\n  interface: wan0\nlan:\n  interface: lan0\nforwards:\n  - name: cam\n    port: 99999\n    to: 192.168.88.180:80\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, out := run("check", "--no-secrets", "-c", broken); code != 2 || !strings.Contains(out, "broken.yaml:7:") {
				t.Errorf("check of a port out of range: exit %d, %q; want exit 2 naming line 7", code, out)
			}
			if code, out := run("probe-server", "--tls-cert", "c.pem", "--tls-key", "k.pem"); code != 2 || !strings.Contains(out, "no TLS server") {
				t.Errorf("probe-server --tls-cert: exit %d, %q; want exit 2, no TLS server", code, out)
			}
		})
	}
}
