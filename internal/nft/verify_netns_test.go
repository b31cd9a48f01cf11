package nft

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/doctor"
)

// TestOwnTableRepaired, against the kernel: a foreign base chain inside ip hairpin (a DNAT of port 2223 to the
// camera's SSH), policy drop on hairpin's prerouting chain, and hairpin's postrouting chain re-created at
// another priority each survived every resync and doctor said OK. Doctor now fails on them, and the next apply
// removes the foreign chain, resets the policy and re-creates the chain, in one transaction.
func TestOwnTableRepaired(t *testing.T) {
	ns := testNS(t)
	ctx := context.Background()
	d := camerasPlan(t)
	run := func(what string, f func(b *Backend) error) {
		t.Helper()
		if err := withBackend(ns, func(b *Backend) error {
			return f(b)
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("apply", func(b *Backend) error { return b.Apply(ctx, d) })
	nftIn(t, ns, "add", "chain", "ip", "hairpin", "camssh", "{ type nat hook prerouting priority -101; }")
	nftIn(t, ns, "add", "rule", "ip", "hairpin", "camssh", "tcp", "dport", "2223", "dnat", "to", "192.168.88.180:22")
	nftIn(t, ns, "add", "set", "ip", "hairpin", "stray", "{ type ipv4_addr; }")
	nftIn(t, ns, "chain", "ip", "hairpin", "prerouting", "{ policy drop; }")
	nftIn(t, ns, "add", "rule", "ip", "hairpin", "postrouting", "ip", "saddr", "10.9.9.9", "masquerade")
	var before doctor.Finding
	run("doctor", func(b *Backend) error { before = b.ownTableFinding(ctx); return nil })
	if before.Level != doctor.Fail || !strings.Contains(before.What, "chain camssh") || !strings.Contains(before.What, "set stray") ||
		!strings.Contains(before.What, "prerouting has policy drop") || !strings.Contains(before.What, "postrouting (2 rules, hairpin writes 1)") {
		t.Errorf("doctor before the repair: %+v", before)
	}

	run("resync", func(b *Backend) error { return b.Apply(ctx, d) })
	table := nftIn(t, ns, "list", "table", "ip", "hairpin")
	for _, gone := range []string{"camssh", "2223", "stray", "policy drop", "10.9.9.9"} {
		if strings.Contains(table, gone) {
			t.Errorf("after the resync the table still holds %q:\n%s", gone, table)
		}
	}
	var after doctor.Finding
	run("doctor", func(b *Backend) error { after = b.ownTableFinding(ctx); return nil })
	if after.Level != doctor.OK {
		t.Errorf("doctor after the repair: %+v", after)
	}

	// A base chain re-created with another priority cannot be changed in place; the apply re-creates it.
	script := "flush chain ip hairpin postrouting\ndelete chain ip hairpin postrouting\nadd chain ip hairpin postrouting { type nat hook postrouting priority 50; }\n"
	nftScript(t, ns, script)
	run("resync", func(b *Backend) error { return b.Apply(ctx, d) })
	if post := nftIn(t, ns, "list", "chain", "ip", "hairpin", "postrouting"); !strings.Contains(post, "priority srcnat;") || !strings.Contains(post, "masquerade") {
		t.Errorf("postrouting after the resync:\n%s", post)
	}
}

// nftScript loads an nft script inside ns.
func nftScript(t *testing.T, ns, script string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}
