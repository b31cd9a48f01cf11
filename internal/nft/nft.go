// Package nft is the Linux backend: it installs a plan as one nftables table, "ip hairpin", in one atomic
// transaction, and never touches any other table. See README.md beside this file for the rule layout.
package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Names of what hairpin creates. The table comment is the ownership marker: a table named hairpin without it
// belongs to someone else and is never changed.
const (
	Table        = "hairpin"
	OwnerComment = "managed by hairpin (github.com/hairpin-nat/hairpin); edits are overwritten"

	setWAN       = "wan_addrs"
	setLAN       = "lan_nets"
	mapDNAT      = "fwd_dnat"
	chainPre     = "prerouting"
	chainOut     = "output"
	chainPost    = "postrouting"
	chainFwd     = "forward"
	chainDNAT    = "dnat_forwards"
	countSetBase = "count_" // + tcp/udp
)

// ErrNotOwned is returned when a table named hairpin exists that hairpin did not create.
var ErrNotOwned = errors.New("table ip hairpin exists but was not created by hairpin (no ownership comment); rename or remove it, hairpin will not touch it")

// Backend implements backend.Backend with nftables.
type Backend struct {
	nft knftables.Interface
	// run applies a transaction; the real one batches element lines, the fake one hands tx to knftables.Fake.
	run func(ctx context.Context, tx *knftables.Transaction) error
	// state reports whether the table exists and carries our marker.
	state func(ctx context.Context) (exists, owned bool, err error)
	// counters reads per-port counters from the counting sets.
	counters func(ctx context.Context) (map[string]map[uint16]backend.Counter, error)
	// fastWAN replaces the WAN set over netlink; nil uses a transaction (the fake).
	fastWAN func(addrs []netip.Addr) error
	// ports remembers which ports belong to which forward, to sum counters per forward.
	mu       sync.Mutex
	lastPlan *plan.Desired
}

var _ backend.Backend = (*Backend)(nil)

// New returns a backend that drives the nft binary in the caller's network namespace.
func New() (*Backend, error) {
	path, err := exec.LookPath("nft")
	if err != nil {
		return nil, fmt.Errorf("the nft command is not installed (apt-get install nftables): %w", err)
	}
	// knftables serves here only to build transactions as text; runBatched hands them to nft itself. Its
	// fake builds the same text without the two nft runs knftables.New makes to probe the binary, which
	// were most of the fixed cost of a small apply.
	builder := knftables.NewFake(knftables.IPv4Family, Table)
	return &Backend{
		nft:   builder,
		run:   func(ctx context.Context, tx *knftables.Transaction) error { return runBatched(ctx, path, tx) },
		state: func(context.Context) (bool, bool, error) { return tableStateNetlink() },
		counters: func(ctx context.Context) (map[string]map[uint16]backend.Counter, error) {
			return readCounters(ctx, path)
		},
		fastWAN: setWANNetlink,
	}, nil
}

// NewFake returns a backend over knftables.Fake, for tests without root.
func NewFake() (*Backend, *knftables.Fake) {
	fake := knftables.NewFake(knftables.IPv4Family, Table)
	return &Backend{
		nft: fake,
		run: fake.Run,
		state: func(context.Context) (bool, bool, error) {
			if fake.Table == nil {
				return false, false, nil
			}
			return true, fake.Table.Comment != nil && *fake.Table.Comment == OwnerComment, nil
		},
		counters: func(ctx context.Context) (map[string]map[uint16]backend.Counter, error) {
			return fakeCounters(ctx, fake)
		},
	}, fake
}

func (b *Backend) checkOwned(ctx context.Context) (exists bool, err error) {
	exists, owned, err := b.state(ctx)
	if err != nil {
		return false, err
	}
	if exists && !owned {
		return true, ErrNotOwned
	}
	return exists, nil
}

// Apply implements backend.Backend: the whole table is rebuilt in one transaction.
func (b *Backend) Apply(ctx context.Context, d *plan.Desired) error {
	exists, err := b.checkOwned(ctx)
	if err != nil {
		return err
	}
	have := map[string][]uint16{}
	if exists {
		perPort, err := b.counters(ctx)
		if err != nil {
			return err
		}
		for proto, ports := range perPort {
			for p := range ports {
				have[proto] = append(have[proto], p)
			}
			slices.Sort(have[proto])
		}
	}
	tx := b.nft.NewTransaction()
	Build(tx, d, have)
	if err := b.run(ctx, tx); err != nil {
		return fmt.Errorf("nftables rejected the transaction, nothing was changed: %w", err)
	}
	b.Remember(d)
	return nil
}

// SetWANAddrs implements backend.Backend with a transaction that touches only the address set. Ownership was
// checked by the full apply that created the set; a missing table fails here and the caller applies fully.
func (b *Backend) SetWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	if b.fastWAN != nil {
		if err := b.fastWAN(addrs); err != nil {
			return fmt.Errorf("updating the WAN address set: %w", err)
		}
		return nil
	}
	tx := b.nft.NewTransaction()
	// Flush without "add set": without the ownership check this path must never create anything, so a
	// missing table, or someone else's table of the same name, fails here and the caller applies fully.
	tx.Flush(&knftables.Set{Name: setWAN})
	for _, a := range addrs {
		tx.Add(&knftables.Element{Set: setWAN, Key: []string{a.String()}})
	}
	if err := b.run(ctx, tx); err != nil {
		return fmt.Errorf("updating the WAN address set (a full apply is needed): %w", err)
	}
	return nil
}

// Down implements backend.Backend.
func (b *Backend) Down(ctx context.Context) error {
	exists, err := b.checkOwned(ctx)
	if err != nil || !exists {
		return err
	}
	tx := b.nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	return b.run(ctx, tx)
}

// Installed reports whether hairpin's table is in place; a table of that name without our marker is an error.
func (b *Backend) Installed(ctx context.Context) (bool, error) { return b.checkOwned(ctx) }

// Counters implements backend.Backend: per-port counters summed per forward of the last applied plan.
func (b *Backend) Counters(ctx context.Context) (map[string]backend.Counter, error) {
	perPort, err := b.counters(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]backend.Counter{}
	b.mu.Lock()
	last := b.lastPlan
	b.mu.Unlock()
	if last == nil {
		return out, nil
	}
	for _, r := range last.Rules {
		c := out[r.Name]
		for p := int(r.Port.First); p <= int(r.Port.Last); p++ {
			pc := perPort[r.Protocol][uint16(p)]
			c.Packets += pc.Packets
			c.Bytes += pc.Bytes
		}
		out[r.Name] = c
	}
	return out, nil
}

// Remember tells the backend which plan is installed, for Counters after a restart without Apply.
func (b *Backend) Remember(d *plan.Desired) {
	b.mu.Lock()
	b.lastPlan = d
	b.mu.Unlock()
}

// runBatched runs tx through `nft -f -`, first merging consecutive element lines of one set into a single
// statement: nft parses one big element block about twice as fast as the same elements one line each, which is
// what decides apply time for tens of thousands of forwards.
func runBatched(ctx context.Context, nftPath string, tx *knftables.Transaction) error {
	script := mergeElements(tx.String())
	cmd := exec.CommandContext(ctx, nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(firstLines(msg, 3))
	}
	return nil
}

// mergeElements turns runs of "add element FAMILY TABLE SET { X }" lines into "add element ... SET { X, Y }".
func mergeElements(script string) string {
	var out strings.Builder
	out.Grow(len(script))
	prefix := ""
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		p, elem, ok := splitElementLine(line)
		if ok && p == prefix {
			out.WriteString(", ")
			out.WriteString(elem)
			continue
		}
		if prefix != "" {
			out.WriteString(" }\n")
			prefix = ""
		}
		if ok {
			prefix = p
			out.WriteString(p)
			out.WriteString(" { ")
			out.WriteString(elem)
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if prefix != "" {
		out.WriteString(" }\n")
	}
	return out.String()
}

func splitElementLine(line string) (prefix, elem string, ok bool) {
	if !strings.HasPrefix(line, "add element ") || !strings.HasSuffix(line, " }") {
		return "", "", false
	}
	i := strings.Index(line, " { ")
	// Elements with comments carry their own braces-free text; anything else odd is left alone.
	if i < 0 || strings.Contains(line[i+3:len(line)-2], "{") {
		return "", "", false
	}
	return line[:i], line[i+3 : len(line)-2], true
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
