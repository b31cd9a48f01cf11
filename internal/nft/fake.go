//go:build !nolab

// The fake kernel is for the tests of this package and the daemon's; the router build (tag nolab) leaves it
// out.

package nft

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/nft/script"
)

// FakeTables keeps hairpin's two tables in memory for tests without root (nftfake.Tables, over knftables'
// fake: only tests import it).
type FakeTables interface {
	// Run runs tx on its family's table, all of it or nothing.
	Run(ctx context.Context, tx *script.Transaction) error
	// Table reports whether fam's table exists, and its comment.
	Table(fam script.Family) (exists bool, comment *string)
	// Elements lists the keys of set name in table ip; found is false when there is no such set.
	Elements(ctx context.Context, set string) (keys [][]string, found bool, err error)
	// Objects lists table ip's objects by kind (chain, set, map, counter), its named counters' packets and its
	// chains whose policy is drop.
	Objects(ctx context.Context) (names map[string][]string, packets map[string]uint64, drop []string, err error)
	// RuleCounts counts the rules of each of chains in table ip that exists.
	RuleCounts(chains []string) map[string]int
}

// NewFakeOver returns a backend over t. It takes the same paths as the real backend, the WAN fast path
// included; the fake keeps no traffic counters (every port reads zero).
func NewFakeOver(t FakeTables) *Backend {
	return newBackend(&fakeKernel{t: t})
}

// fakeKernel implements kernel over FakeTables.
type fakeKernel struct {
	t FakeTables

	mu lock.Mutex
	// failRun, when set, fails every transaction without changing the table.
	failRun error
	// counts, when set, replaces the counters the fake reads (it keeps none itself).
	counts map[string]map[uint16]backend.Counter
	// gen counts the transactions run, as the kernel's ruleset generation does.
	gen uint32
}

// run runs the IPv6 transaction first and the IPv4 one after; the fake cannot join the two into one, but
// the IPv6 one is the one a test makes fail (failRun fails both before either runs).
func (k *fakeKernel) run(ctx context.Context, tx, tx6 *script.Transaction) error {
	k.mu.Lock()
	err := k.failRun
	k.mu.Unlock()
	if err != nil {
		return err
	}
	if tx6 != nil {
		if err := k.t.Run(ctx, tx6); err != nil {
			return err
		}
	}
	if tx == nil {
		k.bump()
		return nil
	}
	if err := k.t.Run(ctx, tx); err != nil {
		return err
	}
	k.bump()
	return nil
}

func (k *fakeKernel) bump() {
	k.mu.Lock()
	k.gen = nextGen(k.gen)
	k.mu.Unlock()
}

func (k *fakeKernel) generation(context.Context) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen, nil
}

// editSets refuses a generation that is not the current one, as the kernel does (ERESTART), then makes the
// edits in one transaction.
func (k *fakeKernel) editSets(ctx context.Context, gen uint32, edits []setEdit) error {
	if now, _ := k.generation(ctx); now != gen {
		return errfmt.Errorf("the ruleset changed meanwhile (generation %d, not %d)", now, gen)
	}
	tx := ipv4.newTx()
	editTx(tx, edits)
	return k.run(ctx, tx, nil)
}

func (k *fakeKernel) tableState(_ context.Context, fam family) (bool, bool, error) {
	exists, comment := k.t.Table(fam.knft)
	return exists, comment != nil && *comment == OwnerComment, nil
}

func (k *fakeKernel) portCounters(ctx context.Context) (map[string]map[uint16]backend.Counter, error) {
	k.mu.Lock()
	counts := k.counts
	k.mu.Unlock()
	if counts != nil {
		return counts, nil
	}
	out := map[string]map[uint16]backend.Counter{}
	for _, proto := range protocols {
		keys, found, err := k.t.Elements(ctx, countSetBase+proto)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		out[proto] = map[uint16]backend.Counter{}
		for _, key := range keys {
			p, err := strconv.Atoi(key[0])
			if err != nil {
				return nil, err
			}
			out[proto][uint16(p)] = backend.Counter{}
		}
	}
	return out, nil
}

func (k *fakeKernel) countedPorts(ctx context.Context) (map[string][]uint16, error) {
	perPort, err := k.portCounters(ctx)
	if err != nil {
		return nil, err
	}
	return portsByProto(perPort), nil
}

// addWAN checks ownership as the netlink path does, then adds the addresses in one transaction.
func (k *fakeKernel) addWAN(ctx context.Context, addrs []netip.Addr) error {
	if err := ipv4.mustOwn(k.tableState(ctx, ipv4)); err != nil {
		return err
	}
	// Elements only, no "add set": this path must never create anything.
	tx := ipv4.newTx()
	for _, a := range addrs {
		if a.Is4() {
			tx.Add(&script.Element{Set: setWAN, Key: []string{a.String()}})
		}
	}
	return k.run(ctx, tx, nil)
}

// retireWAN checks ownership, then deletes the elements that are not wanted in one transaction.
func (k *fakeKernel) retireWAN(ctx context.Context, addrs []netip.Addr) error {
	if err := ipv4.mustOwn(k.tableState(ctx, ipv4)); err != nil {
		return err
	}
	keys, _, err := k.t.Elements(ctx, setWAN)
	if err != nil {
		return err
	}
	tx := ipv4.newTx()
	for _, key := range keys {
		if a, err := netip.ParseAddr(strings.Join(key, "")); err != nil || !slices.Contains(addrs, a) {
			tx.Delete(&script.Element{Set: setWAN, Key: key})
		}
	}
	if tx.NumOperations() == 0 {
		return nil
	}
	return k.run(ctx, tx, nil)
}

func (k *fakeKernel) close() error { return nil }

// setContent checks ownership as the netlink path does, then flushes and refills the sets and the map of
// fam's table in one transaction, creating nothing.
func (k *fakeKernel) setContent(ctx context.Context, fam family, c content) error {
	if err := fam.mustOwn(k.tableState(ctx, fam)); err != nil {
		return err
	}
	tx := fam.newTx()
	tx.Flush(&script.Set{Name: setWAN})
	tx.Flush(&script.Set{Name: setLAN})
	tx.Flush(&script.Map{Name: mapDNAT})
	for _, key := range addrKeys(c.wan) {
		tx.Add(&script.Element{Set: setWAN, Key: []string{key}})
	}
	for _, key := range netKeys(c.lan) {
		tx.Add(&script.Element{Set: setLAN, Key: []string{key}})
	}
	addDNAT(tx, c.rules)
	if fam.counts {
		return k.run(ctx, tx, nil)
	}
	return k.run(ctx, nil, tx)
}

func (k *fakeKernel) records(ctx context.Context) (Objects, map[string]uint64, error) {
	return k.objects(ctx)
}

func (k *fakeKernel) objects(ctx context.Context) (Objects, map[string]uint64, error) {
	names, packets, drop, err := k.t.Objects(ctx)
	if err != nil {
		return nil, nil, err
	}
	objs := Objects{}
	for _, kind := range []string{"chain", "set", "map", "counter"} {
		key := kind
		if kind == "map" {
			key = "set"
		}
		objs[key] = append(objs[key], names[kind]...)
	}
	if len(drop) > 0 {
		objs[policyDrop] = drop
	}
	return objs, packets, nil
}

func (k *fakeKernel) loadPrefixSet(ctx context.Context, name string, prefixes []netip.Prefix) error {
	return loadPrefixSetTx(ctx, func(ctx context.Context, tx *script.Transaction) error { return k.run(ctx, tx, nil) }, ipv4.newTx(), name, prefixes)
}

func (k *fakeKernel) setHosts(ctx context.Context, want map[string][]netip.Addr) error {
	if err := ipv4.mustOwn(k.tableState(ctx, ipv4)); err != nil {
		return err
	}
	tx := ipv4.newTx()
	for name, addrs := range want {
		// Flush without "add set": a missing set fails, as over netlink.
		tx.Flush(&script.Set{Name: name})
		for _, a := range addrs {
			tx.Add(&script.Element{Set: name, Key: []string{a.String()}})
		}
	}
	return k.run(ctx, tx, nil)
}

func (k *fakeKernel) ruleCounts(context.Context) (map[string]int, error) {
	return k.t.RuleCounts(coreChains), nil
}

// editTx is the edits as one transaction, for the fake kernel.
func editTx(tx *script.Transaction, edits []setEdit) {
	for _, e := range edits {
		recordCounters(tx, e.name, e.id, e.to)
		for _, p := range e.removed {
			tx.Delete(&script.Element{Set: lengthSet(e.name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
		}
		for _, p := range e.added {
			tx.Add(&script.Element{Set: lengthSet(e.name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
		}
	}
}

// loadPrefixSetTx is the same load as one transaction, for the fake kernel.
func loadPrefixSetTx(ctx context.Context, run func(context.Context, *script.Transaction) error, tx *script.Transaction, name string, prefixes []netip.Prefix) error {
	for _, bits := range prefixLengths(prefixes) {
		tx.Add(&script.Set{Name: lengthSet(name, bits), Type: "ipv4_addr"})
	}
	for _, p := range prefixes {
		tx.Add(&script.Element{Set: lengthSet(name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
	}
	return run(ctx, tx)
}
