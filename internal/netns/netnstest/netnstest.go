// Package netnstest is what tests need to run as root against the real kernel: the one check for root, and a
// throwaway network namespace removed when the test ends, even on failure.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NeedRoot skips the test unless it runs as root; why says what needs it ("creates network namespaces").
// CI runs as root, so a skip there is a missing step, not a pass. `make unit` sets HAIRPIN_UNIT to leave
// these tests out even as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
	if os.Getenv("HAIRPIN_UNIT") != "" {
		t.Skipf("needs root: %s (make unit leaves it out)", why)
	}
}

// Name is a namespace name no other run on the machine uses: "hp", six random hex digits, "-" and tag.
func Name(tag string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "hp" + hex.EncodeToString(b) + "-" + tag
}

// New creates a network namespace named Name(tag), with its loopback up, and removes it when the test ends.
// It skips the test when not root.
func New(t testing.TB, tag string) string {
	t.Helper()
	NeedRoot(t, "creates a network namespace")
	name := Name(tag)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	IP(t, name, "link set lo up")
	return name
}

// IP runs `ip -n ns ARGS` (ARGS split at spaces) and fails the test if it fails.
func IP(t testing.TB, ns, args string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, strings.Fields(args)...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, args, err, out)
	}
}

// Exec runs a command inside ns and returns its output, failing the test if it fails.
func Exec(t testing.TB, ns, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

// File opens the namespace ns made by New (what setns(2) and rtnl.Dial take) and closes it when the test
// ends.
func File(t testing.TB, ns string) *os.File {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
