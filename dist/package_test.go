// Package dist holds the release's packaging (the systemd unit, nfpm's package descriptions, the OpenWrt
// recipe); its test builds the amd64 .deb with make dist's script and installs it with the real dpkg.
package dist

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestDebPackage: the .deb passes lintian without errors, installs with dpkg without starting anything,
// ships a binary that runs, a placeholder config that hairpin init replaces, and a unit systemd accepts;
// remove keeps the config,
// purge takes it and the state directory. dpkg runs in a network namespace of its own, so its maintainer
// scripts (hairpin down on remove) cannot touch this machine's firewall, and the package is purged even when
// the test fails.
func TestDebPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: dpkg installs the package into this machine (and purges it)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("builds the amd64 .deb: run on amd64")
	}
	for _, tool := range []string{"dpkg", "lintian", "systemd-analyze", "unshare", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing: run ./scripts/deps-test.sh", tool)
		}
	}
	if exec.Command("dpkg-query", "-W", "-f=${Status}", "hairpin").Run() == nil {
		t.Skip("a hairpin package is installed on this machine: the test would replace and purge it")
	}

	out := run(t, "../scripts/dist.sh", "DIST_ARCHS=amd64")
	debs, _ := filepath.Glob("hairpin_*_amd64.deb")
	if len(debs) != 1 {
		t.Fatalf("make dist made %v, want one amd64 .deb\n%s", debs, out)
	}
	deb, _ := filepath.Abs(debs[0])
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(deb), "hairpin_"), "_amd64.deb")

	if out := run(t, "lintian", "", "--fail-on", "error", deb); strings.Contains(out, "\nE: ") || strings.HasPrefix(out, "E: ") {
		t.Errorf("lintian reports errors:\n%s", out)
	}

	t.Cleanup(func() { dpkg(t, "--purge", "hairpin") })
	out = dpkg(t, "--install", deb)
	if !strings.Contains(out, "not started") {
		t.Errorf("install does not tell the user how to start it:\n%s", out)
	}
	if out := run(t, "/usr/bin/hairpin", "", "--version"); !strings.HasPrefix(out, "hairpin "+version+" (commit ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("hairpin --version: %q, want version %s, its commit and %s", out, version, runtime.Version())
	}
	// The shipped config is a placeholder: check refuses it (so the unit's ExecStartPre would too) and points
	// at hairpin init, which writes over it as the README's Quick start says.
	placeholder, err := exec.Command("/usr/bin/hairpin", "check", "-c", "/etc/hairpin/hairpin.yaml").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(placeholder), "run `hairpin init`") {
		t.Errorf("hairpin check of the shipped placeholder: exit %d, %s; want 2 and a pointer to hairpin init", code, placeholder)
	}
	run(t, "/usr/bin/hairpin", "", "init", "--wan", "eth0", "--lan", "br-lan", "--forward", "front-cam=8090:192.168.1.180:80")
	if out := run(t, "/usr/bin/hairpin", "", "check"); !strings.Contains(out, "ok (1 forwards") {
		t.Errorf("hairpin check after hairpin init: %s, want ok with 1 forward", out)
	}
	run(t, "systemd-analyze", "", "verify", "/lib/systemd/system/hairpin.service")
	for _, dir := range []string{"/etc/hairpin", "/var/lib/hairpin"} {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("%s after install: %v", dir, err)
		}
	}

	dpkg(t, "--remove", "hairpin")
	if _, err := os.Stat("/usr/bin/hairpin"); !os.IsNotExist(err) {
		t.Errorf("/usr/bin/hairpin after remove: %v, want gone", err)
	}
	if data, err := os.ReadFile("/etc/hairpin/hairpin.yaml"); err != nil || !strings.Contains(string(data), "front-cam") {
		t.Errorf("remove must keep the config: %v", err)
	}

	dpkg(t, "--purge", "hairpin")
	for _, dir := range []string{"/etc/hairpin", "/var/lib/hairpin"} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s after purge: %v, want gone", dir, err)
		}
	}
}

// run runs a command (env: one extra VAR=value or "") and returns its combined output; a failure fails the test.
func run(t *testing.T, name, env string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if env != "" {
		cmd.Env = append(os.Environ(), env)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// dpkg runs dpkg in a new network namespace, waiting for the lock when another apt or dpkg holds it.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	var out []byte
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_ = poll.Until(ctx, 5*time.Minute, func() bool {
		out, err = exec.Command("unshare", append([]string{"--net", "dpkg"}, args...)...).CombinedOutput()
		return err == nil || !strings.Contains(string(out), "lock")
	})
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
