// Package nft is the Linux backend: it installs a plan as one nftables table, "ip hairpin", in one atomic
// transaction, and never touches any other table. See README.md beside this file for the rule layout.
package nft

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/nft/script"
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

// ErrNotOwned6 is ErrNotOwned for table ip6 hairpin; errors.Is(ErrNotOwned6, ErrNotOwned) holds.
var ErrNotOwned6 error = notOwned6{}

type notOwned6 struct{}

func (notOwned6) Error() string {
	return "table ip6 hairpin exists but was not created by hairpin (no ownership comment); rename or remove it, hairpin will not touch it"
}
func (notOwned6) Is(target error) bool { return target == ErrNotOwned }

// ErrNotInstalled is returned by SetWANAddrs when hairpin's table is not there: only a full Apply creates it.
var ErrNotInstalled = errors.New("table ip hairpin is not installed")

// Backend implements backend.Backend with nftables.
type Backend struct {
	k kernel

	mu lock.Mutex
	// lastGen is the ruleset's generation ID after hairpin's last change through this backend (0: unknown),
	// for Repair.
	lastGen uint32
	// summaries: the last summary of each allow list's prefixes (summaryMemo).
	summaries []summaryMemo
	// declareDNAT: the DNAT map's elements go to nft in the map's declaration (build.go, declareDNAT), for the
	// real kernel; the fake kernel's knftables.Fake takes element commands.
	declareDNAT bool
}

var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.HostUpdater = (*Backend)(nil)
	_ backend.IPv6Updater = (*Backend)(nil)
)

func newBackend(k kernel) *Backend {
	return &Backend{k: k}
}

// New returns a backend that speaks netlink in the caller's network namespace; it runs no nft process, so
// the nft binary need not be installed. Close releases its netlink socket.
func New() (*Backend, error) {
	path, _ := exec.LookPath("nft")
	b := newBackend(&netKernel{nftPath: path})
	b.declareDNAT = true
	return b, nil
}

// Close releases the netlink sockets the backend keeps open between calls.
func (b *Backend) Close() error { return b.k.close() }

// newTx starts a transaction on fam's table.
func (b *Backend) newTx(fam family) *script.Transaction {
	return fam.newTx()
}

// Render returns the nftables script that applies d to an empty machine, for `hairpin show`.
func Render(d *plan.Desired) string {
	var out strings.Builder
	for _, fam := range []family{ipv4, ipv6} {
		if !fam.counts && d.V6 == nil {
			continue
		}
		tx := script.NewTransaction(fam.knft, Table)
		build(tx, fam, d, nil, nil, false)
		out.WriteString(tx.String())
	}
	return out.String()
}

func (b *Backend) checkOwned(ctx context.Context) (exists bool, err error) {
	exists, owned, err := b.k.tableState(ctx, ipv4)
	if err != nil {
		return false, err
	}
	if exists && !owned {
		return true, ErrNotOwned
	}
	return exists, nil
}

// Apply implements backend.Backend: the whole table is rebuilt in one transaction. An allow list's set in
// place whose record says it holds the list is trusted and kept.
func (b *Backend) Apply(ctx context.Context, d *plan.Desired) error {
	trusted, err := b.apply(ctx, d, false)
	if err == nil && trusted {
		// A set kept on its record may hold a hand edit its record does not show.
		b.noteGeneration(0)
	}
	return err
}

// Repair implements backend.Repairer: Apply that also loads every allow list's set afresh unless hairpin
// knew them all to hold their lists at the ruleset's current generation (lastGen): a hand edit of a set's
// elements leaves its record as it was, but not the generation.
func (b *Backend) Repair(ctx context.Context, d *plan.Desired) error {
	b.mu.Lock()
	last := b.lastGen
	b.mu.Unlock()
	gen, err := b.k.generation(ctx)
	_, err = b.apply(ctx, d, err != nil || last == 0 || gen != last)
	return err
}

// apply rebuilds the table in one transaction; reload loads every allow list's set afresh instead of
// trusting the record of one already in place. trusted says whether a set was kept on its record. After
// success lastGen is the generation after the commit: the caller clears it when the sets are not known.
func (b *Backend) apply(ctx context.Context, d *plan.Desired, reload bool) (trusted bool, err error) {
	exists, err := b.checkOwned(ctx)
	if err != nil {
		return false, err
	}
	have := map[string][]uint16{}
	var objs Objects
	var records map[string]uint64
	if exists {
		if objs, records, err = b.k.objects(ctx); err != nil {
			return false, err
		}
		if have, err = b.k.countedPorts(ctx); err != nil {
			return false, err
		}
	}
	sets, created, err := b.preloadPrefixSets(ctx, d, exists, objs, records, reload)
	if err != nil {
		return false, err
	}
	for _, ps := range sets {
		trusted = trusted || !ps.loaded
	}
	tx6, err := b.plan6(ctx, d)
	if err != nil {
		b.dropSets(ctx, created)
		return false, err
	}
	tx := b.newTx(ipv4)
	build(tx, ipv4, d, have, sets, b.declareDNAT)
	deleteUnwanted(tx, objs, d, sets)
	err = b.k.run(ctx, tx, tx6)
	if err != nil && exists {
		// A base chain of hairpin's that someone re-created with another hook, type or priority cannot be
		// changed in place: delete and re-create hairpin's base chains, still in one transaction.
		tx = b.newTx(ipv4)
		recreateBaseChains(tx, objs)
		build(tx, ipv4, d, have, sets, b.declareDNAT)
		deleteUnwanted(tx, objs, d, sets)
		err = b.k.run(ctx, tx, tx6)
	}
	if err != nil {
		b.dropSets(ctx, created)
		b.noteGeneration(0)
		return false, errfmt.Errorf("nftables rejected the transaction, nothing was changed: %w", err)
	}
	// Read after the commit: a change someone made in between is taken for ours, and waits for the next
	// repair after a later change to be undone.
	gen, err := b.k.generation(ctx)
	if err != nil {
		gen = 0
	}
	b.noteGeneration(gen)
	return trusted, nil
}

// carryGen runs fn, a fast path that leaves the allow lists' sets alone, and keeps lastGen through it when the
// generation moved by at most the one commit fn makes: otherwise every WAN or hostname change would make the
// next resync load every list again. Read after fn's commit, so a commit by someone else in that instant,
// when fn itself changed nothing, is taken for fn's (as after an apply). Nothing is read while lastGen is
// unknown.
func (b *Backend) carryGen(ctx context.Context, fn func() error) error {
	b.mu.Lock()
	last := b.lastGen
	b.mu.Unlock()
	err := fn()
	if last == 0 {
		return err
	}
	gen, gerr := b.k.generation(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && gerr == nil && b.lastGen == last && (gen == last || gen == nextGen(last)) {
		b.lastGen = gen
	} else {
		b.lastGen = 0
	}
	return err
}

// noteGeneration records the ruleset's generation ID after a change of hairpin's (0: unknown).
func (b *Backend) noteGeneration(gen uint32) {
	b.mu.Lock()
	b.lastGen = gen
	b.mu.Unlock()
}

// plan6 builds the transaction for table ip6 hairpin: the IPv6 forwards of d, or the table's removal when d
// has none and the table is ours; nil when there is nothing to do. Someone else's ip6 hairpin table fails
// only a plan that needs the table, and is never touched.
func (b *Backend) plan6(ctx context.Context, d *plan.Desired) (*script.Transaction, error) {
	exists, owned, err := b.k.tableState(ctx, ipv6)
	switch {
	case err != nil && d.V6 == nil:
		// A kernel without IPv6 may not answer for the ip6 family at all; an IPv4-only plan needs nothing there.
		return nil, nil
	case err != nil:
		return nil, err
	case d.V6 != nil && exists && !owned:
		return nil, ErrNotOwned6
	case d.V6 != nil:
		// The IPv6 table is small (no counters to keep), so it is simply made anew each time: whatever was
		// added to it, or changed in it, by hand is gone, and base chains come back with our hooks.
		tx := b.newTx(ipv6)
		if exists {
			comment := OwnerComment
			tx.Add(&script.Table{Comment: &comment})
			tx.Delete(&script.Table{})
		}
		build(tx, ipv6, d, nil, nil, b.declareDNAT)
		return tx, nil
	case exists && owned:
		tx := b.newTx(ipv6)
		tx.Delete(&script.Table{})
		return tx, nil
	}
	return nil, nil
}

// preloadPrefixSets picks, for every allow list with prefixes, the set the rules will use: the list's set
// in place when its record (records, by name) matches the list and reload is false, else one of the list's two
// names loaded now, before the transaction that points the rules at it. A table that does not exist yet is
// created first, empty but for its ownership comment.
func (b *Backend) preloadPrefixSets(ctx context.Context, d *plan.Desired, exists bool, objs Objects, records map[string]uint64, reload bool) (sets map[string]prefixSet, created []string, err error) {
	have := map[string]bool{}
	for _, name := range objs["set"] {
		have[name] = true
	}
	hasRecord := map[string]bool{}
	for _, name := range objs["counter"] {
		hasRecord[name] = true
	}
	b.mu.Lock()
	b.summaries = nil
	b.mu.Unlock()
	sets = map[string]prefixSet{}
	for _, s := range d.AllowSets {
		if len(s.Prefixes) == 0 {
			continue
		}
		// Summarized even when reloading, so that the memo knows the list a later change in place starts from.
		names, sum := prefixSetNames(s.ID), b.summary(s.ID, s.Prefixes)
		if !reload {
			for _, n := range names {
				if hasRecord[n] && records[n] == sum.digest && hasSets(have, n, sum.lengths) {
					sets[s.ID] = prefixSet{name: n}
					break
				}
			}
			if _, ok := sets[s.ID]; ok {
				continue
			}
		}
		if !exists {
			tx := b.newTx(ipv4)
			comment := OwnerComment
			tx.Add(&script.Table{Comment: &comment})
			if err := b.k.run(ctx, tx, nil); err != nil {
				return nil, nil, errfmt.Errorf("creating table ip %s: %w", Table, err)
			}
			exists = true
		}
		name, err := b.freeName(ctx, names, have)
		if err != nil {
			b.dropSets(ctx, created)
			return nil, nil, errfmt.Errorf("loading allow list %s: %w", s.ID, err)
		}
		if err := b.k.loadPrefixSet(ctx, name, s.Prefixes); err != nil {
			b.dropSets(ctx, created)
			return nil, nil, errfmt.Errorf("loading allow list %s: %w", s.ID, err)
		}
		for _, bits := range prefixLengths(s.Prefixes) {
			created = append(created, lengthSet(name, bits))
		}
		sets[s.ID] = prefixSet{name: name, loaded: true}
	}
	return sets, created, nil
}

// freeName returns the one of an allow list's two names that no set has, for a load. When both are taken
// (an apply cut short between its load and its transaction, or a set made by hand), the one the rules do not
// use is deleted first: the kernel refuses to delete the other.
func (b *Backend) freeName(ctx context.Context, names [2]string, have map[string]bool) (string, error) {
	for _, n := range names {
		if len(setsOf(have, n)) == 0 {
			return n, nil
		}
	}
	var err error
	for _, n := range []string{names[1], names[0]} {
		tx := b.newTx(ipv4)
		for _, set := range setsOf(have, n) {
			tx.Delete(&script.Set{Name: set})
		}
		tx.Add(&script.Counter{Name: n})
		tx.Delete(&script.Counter{Name: n})
		if err = b.k.run(ctx, tx, nil); err == nil {
			return n, nil
		}
	}
	return "", errfmt.Errorf("the sets of both %s and %s are in use: %w", names[0], names[1], err)
}

// setsOf are the sets of list name that have (set names) holds, whatever prefix lengths they are for.
func setsOf(have map[string]bool, name string) []string {
	var out []string
	for bits := range 33 {
		if have[lengthSet(name, bits)] {
			out = append(out, lengthSet(name, bits))
		}
	}
	return out
}

// hasSets reports whether have (set names) holds the set of list name for each of lengths.
func hasSets(have map[string]bool, name string, lengths []int) bool {
	for _, bits := range lengths {
		if !have[lengthSet(name, bits)] {
			return false
		}
	}
	return true
}

// dropSets deletes sets this apply created before its transaction failed; nothing refers to them.
func (b *Backend) dropSets(ctx context.Context, names []string) {
	if len(names) == 0 {
		return
	}
	tx := b.newTx(ipv4)
	for _, n := range names {
		tx.Delete(&script.Set{Name: n})
	}
	_ = b.k.run(ctx, tx, nil)
}

// SetWANAddrs implements backend.Backend by changing only the address set, over netlink: the daemon's hot
// path. It never creates anything: a missing table (ErrNotInstalled) or someone else's (ErrNotOwned) fails
// here, and the caller applies fully.
func (b *Backend) SetWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	if err := b.AddWANAddrs(ctx, addrs); err != nil {
		return err
	}
	return b.RetireWANAddrs(ctx, addrs)
}

// AddWANAddrs implements backend.TwoStepWAN: the first commit of SetWANAddrs, which only adds.
func (b *Backend) AddWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	if err := b.carryGen(ctx, func() error { return b.k.addWAN(ctx, addrs) }); err != nil {
		return errfmt.Errorf("updating the WAN address set (a full apply is needed): %w", err)
	}
	return nil
}

// RetireWANAddrs implements backend.TwoStepWAN: the second commit of SetWANAddrs, which only removes.
func (b *Backend) RetireWANAddrs(ctx context.Context, addrs []netip.Addr) error {
	if err := b.carryGen(ctx, func() error { return b.k.retireWAN(ctx, addrs) }); err != nil {
		return errfmt.Errorf("retiring old WAN addresses (a full apply is needed): %w", err)
	}
	return nil
}

// SetIPv6 implements backend.IPv6Updater: a change of IPv6 addresses or prefixes that leaves the IPv4 side
// alone replaces the content of table ip6 hairpin over netlink, in one batch (setContentNetlink). It never
// creates anything: without hairpin's ip6 table it fails and the caller applies fully.
func (b *Backend) SetIPv6(ctx context.Context, d *plan.Desired6) error {
	if err := b.carryGen(ctx, func() error { return b.k.setContent(ctx, ipv6, contentOf6(d)) }); err != nil {
		return errfmt.Errorf("updating the IPv6 sets (a full apply is needed): %w", err)
	}
	return nil
}

// Down implements backend.Backend.
func (b *Backend) Down(ctx context.Context) error {
	exists, err := b.checkOwned(ctx)
	if err != nil {
		return err
	}
	// Someone else's ip6 hairpin table is simply not ours to remove, and a kernel that cannot say (no IPv6)
	// has none of ours.
	exists6, owned6, err := b.k.tableState(ctx, ipv6)
	if err != nil {
		exists6 = false
	}
	var tx, tx6 *script.Transaction
	if exists {
		tx = b.newTx(ipv4)
		tx.Delete(&script.Table{})
	}
	if exists6 && owned6 {
		tx6 = b.newTx(ipv6)
		tx6.Delete(&script.Table{})
	}
	if tx == nil && tx6 == nil {
		return nil
	}
	return b.k.run(ctx, tx, tx6)
}

// Installed reports whether hairpin's table is in place; a table of that name without our marker is an error.
func (b *Backend) Installed(ctx context.Context) (bool, error) { return b.checkOwned(ctx) }

// Counters implements backend.Backend: the kernel counts per port; the sums per forward come from d, the
// plan that is installed.
func (b *Backend) Counters(ctx context.Context, d *plan.Desired) (map[string]backend.Counter, error) {
	out := map[string]backend.Counter{}
	if d == nil {
		return out, nil
	}
	perPort, err := b.k.portCounters(ctx)
	if err != nil {
		return nil, err
	}
	_, named, err := b.k.objects(ctx)
	if err != nil {
		return nil, err
	}
	drops := dropsFromCounters(named)
	for _, r := range d.Rules {
		c := out[r.Name]
		c.AllowDrops, c.LimitDrops = drops[r.Name].Allow, drops[r.Name].Limit
		for p := int(r.Port.First); p <= int(r.Port.Last); p++ {
			pc := perPort[r.Protocol][uint16(p)]
			c.Packets += pc.Packets
			c.Bytes += pc.Bytes
		}
		out[r.Name] = c
	}
	return out, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
