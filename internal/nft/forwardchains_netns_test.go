package nft

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/netns"
)

// The forward-chain warning reads the kernel's chains over netlink: every spelling nft has for "accept DNATed
// connections", directly or through a jump or goto, counts; a chain that accepts something else, or tests the
// bit the other way, does not (the negative controls); chains that accept by default, other hooks and
// hairpin's own table are not listed.
func TestForwardDropsNetlink(t *testing.T) {
	ns := testNS(t)
	script := `
table inet filter {
	chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; counter drop; }
}
table ip plain {
	chain forward { type filter hook forward priority 0; policy drop; ct status dnat accept; }
}
table ip6 jumped {
	chain fwd_dnat { ct status & dnat == dnat accept; }
	chain forward { type filter hook forward priority 0; policy drop; jump fwd_dnat; }
}
table inet looped {
	chain a { ct status != dnat accept; goto b; }
	chain b { ct status snat accept; }
	chain forward { type filter hook forward priority 0; policy drop; jump a; jump b; }
}
table ip went {
	chain allow { ct status & dnat != 0 accept; }
	chain forward { type filter hook forward priority 10; policy drop; goto allow; }
}
table ip open {
	chain forward { type filter hook forward priority 0; policy accept; }
	chain input { type filter hook input priority 0; policy drop; }
}
table ip hairpin {
	chain forward { type filter hook forward priority 0; policy drop; }
}
`
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	var drops, fixed []string
	if err := netns.Do(ns, func() (err error) {
		drops, fixed, err = forwardDrops(context.Background())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(drops)
	slices.Sort(fixed)
	if want := []string{"inet filter forward", "inet looped forward"}; !slices.Equal(drops, want) {
		t.Errorf("drops = %q, want %q", drops, want)
	}
	if want := []string{"ip plain forward", "ip went forward", "ip6 jumped forward"}; !slices.Equal(fixed, want) {
		t.Errorf("fixed = %q, want %q", fixed, want)
	}
}
