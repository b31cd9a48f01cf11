package lab

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
)

// step is one piece of network plumbing; the topology is a list of them, read top to bottom like a diagram.
type step interface {
	do(ctx context.Context, t *Topology) error
}

// link is a veth pair with one end in each namespace, both brought up.
type link struct{ nsA, ifA, nsB, ifB string }

func (l link) do(ctx context.Context, t *Topology) error {
	if err := run(ctx, "ip", "link", "add", "name", l.ifA, "netns", l.nsA, "type", "veth", "peer", "name", l.ifB, "netns", l.nsB); err != nil {
		return err
	}
	if err := t.ip(ctx, l.nsA, "link set "+l.ifA+" up"); err != nil {
		return err
	}
	return t.ip(ctx, l.nsB, "link set "+l.ifB+" up")
}

// addr puts an address on an interface; an empty prefix leaves it without one.
type addr struct{ ns, ifname, prefix string }

func (a addr) do(ctx context.Context, t *Topology) error {
	if a.prefix == "" {
		return nil
	}
	return t.ip(ctx, a.ns, "addr add "+a.prefix+" dev "+a.ifname)
}

// route is a default route via a gateway.
type route struct{ ns, via string }

func (r route) do(ctx context.Context, t *Topology) error {
	// The gateway may not be reachable yet (no address on the link): then the route comes with the address.
	err := t.ip(ctx, r.ns, "route add default via "+r.via)
	if err != nil && strings.Contains(err.Error(), "Nexthop has invalid gateway") {
		return nil
	}
	return err
}

type sysctl struct{ ns, key, value string }

func (s sysctl) do(ctx context.Context, _ *Topology) error {
	_, err := Exec(ctx, s.ns, "sysctl", "-qw", s.key+"="+s.value)
	return err
}

// nftScript loads a ruleset into a namespace (for the lab's own ISP box and baselines, never hairpin's).
type nftScript struct{ ns, script string }

func (n nftScript) do(ctx context.Context, _ *Topology) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(n.script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &cmdError{"nft -f - in " + n.ns, err, string(out)}
	}
	return nil
}

// cmdStep is a raw `ip -n NS ...` command.
type cmdStep struct{ ns, args string }

func (c cmdStep) do(ctx context.Context, t *Topology) error { return t.ip(ctx, c.ns, c.args) }

func (t *Topology) steps(ctx context.Context, s ...step) error {
	for _, st := range s {
		if err := st.do(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// LoadNFT loads an nftables script into a namespace.
func LoadNFT(ctx context.Context, ns, script string) error { return nftScript{ns, script}.do(ctx, nil) }

type cmdError struct {
	what string
	err  error
	out  string
}

func (e *cmdError) Error() string {
	return e.what + ": " + e.err.Error() + ": " + strings.TrimSpace(e.out)
}

// SafeBuffer is a bytes.Buffer safe for a process writing while a test reads.
type SafeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SafeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SafeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
