//go:build !nolab

// The fake kernel is for the tests of this package and the daemon's; the router build (tag nolab) leaves it
// and knftables' nft interpreter out.

package nft

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// NewFake returns a backend over knftables.Fake, for tests without root. It takes the same paths as the real
// backend, the WAN fast path included; the fake keeps no traffic counters (every port reads zero).
func NewFake() (*Backend, *knftables.Fake) {
	b, f, _ := NewFakeDual()
	return b, f
}

// NewFakeDual is NewFake that also returns the fake of table ip6 hairpin.
func NewFakeDual() (*Backend, *knftables.Fake, *knftables.Fake) {
	k := &fakeKernel{fake: knftables.NewFake(knftables.IPv4Family, Table), fake6: knftables.NewFake(knftables.IPv6Family, Table)}
	return newBackend(k), k.fake, k.fake6
}

// fakeKernel implements kernel over knftables.Fake.
type fakeKernel struct {
	fake *knftables.Fake
	// fake6 is table ip6 hairpin.
	fake6 *knftables.Fake

	mu sync.Mutex
	// failRun, when set, fails every transaction without changing the table.
	failRun error
	// counts, when set, replaces the counters the fake reads (it keeps none itself).
	counts map[string]map[uint16]backend.Counter
	// gen counts the transactions run, as the kernel's ruleset generation does.
	gen uint32
}

// run runs the IPv6 transaction first and the IPv4 one after; the fake cannot join the two into one, but
// the IPv6 one is the one a test makes fail (failRun fails both before either runs).
func (k *fakeKernel) run(ctx context.Context, tx, tx6 *knftables.Transaction) error {
	k.mu.Lock()
	err := k.failRun
	k.mu.Unlock()
	if err != nil {
		return err
	}
	if tx6 != nil {
		if err := k.fake6.Run(ctx, tx6); err != nil {
			return err
		}
	}
	if tx == nil {
		k.bump()
		return nil
	}
	if err := k.fake.Run(ctx, tx); err != nil {
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
		return fmt.Errorf("the ruleset changed meanwhile (generation %d, not %d)", now, gen)
	}
	tx := k.fake.NewTransaction()
	editTx(tx, edits)
	return k.run(ctx, tx, nil)
}

// of is the fake holding fam's table.
func (k *fakeKernel) of(fam family) *knftables.Fake {
	if fam.counts {
		return k.fake
	}
	return k.fake6
}

func (k *fakeKernel) tableState(_ context.Context, fam family) (bool, bool, error) {
	f := k.of(fam)
	f.RLock()
	defer f.RUnlock()
	if f.Table == nil {
		return false, false, nil
	}
	return true, f.Table.Comment != nil && *f.Table.Comment == OwnerComment, nil
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
		elems, err := k.fake.ListElements(ctx, "set", countSetBase+proto)
		if knftables.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[proto] = map[uint16]backend.Counter{}
		for _, e := range elems {
			p, err := strconv.Atoi(e.Key[0])
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
	tx := k.fake.NewTransaction()
	for _, a := range addrs {
		if a.Is4() {
			tx.Add(&knftables.Element{Set: setWAN, Key: []string{a.String()}})
		}
	}
	return k.run(ctx, tx, nil)
}

// retireWAN checks ownership, then deletes the elements that are not wanted in one transaction.
func (k *fakeKernel) retireWAN(ctx context.Context, addrs []netip.Addr) error {
	if err := ipv4.mustOwn(k.tableState(ctx, ipv4)); err != nil {
		return err
	}
	elems, err := k.fake.ListElements(ctx, "set", setWAN)
	if err != nil {
		return err
	}
	tx := k.fake.NewTransaction()
	for _, e := range elems {
		if a, err := netip.ParseAddr(strings.Join(e.Key, "")); err != nil || !slices.Contains(addrs, a) {
			tx.Delete(&knftables.Element{Set: setWAN, Key: e.Key})
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
	tx := k.of(fam).NewTransaction()
	tx.Flush(&knftables.Set{Name: setWAN})
	tx.Flush(&knftables.Set{Name: setLAN})
	tx.Flush(&knftables.Map{Name: mapDNAT})
	for _, key := range addrKeys(c.wan) {
		tx.Add(&knftables.Element{Set: setWAN, Key: []string{key}})
	}
	for _, key := range netKeys(c.lan) {
		tx.Add(&knftables.Element{Set: setLAN, Key: []string{key}})
	}
	addDNAT(tx, c.rules)
	if fam.counts {
		return k.run(ctx, tx, nil)
	}
	return k.run(ctx, nil, tx)
}

func (k *fakeKernel) objects(ctx context.Context) (Objects, map[string]uint64, error) {
	return objectsFake(ctx, k.fake)
}

func (k *fakeKernel) loadPrefixSet(ctx context.Context, name string, prefixes []netip.Prefix) error {
	return loadPrefixSetTx(ctx, func(ctx context.Context, tx *knftables.Transaction) error { return k.run(ctx, tx, nil) }, k.fake.NewTransaction(), name, prefixes)
}

func (k *fakeKernel) setHosts(ctx context.Context, want map[string][]netip.Addr) error {
	if err := ipv4.mustOwn(k.tableState(ctx, ipv4)); err != nil {
		return err
	}
	tx := k.fake.NewTransaction()
	for name, addrs := range want {
		// Flush without "add set": a missing set fails, as over netlink.
		tx.Flush(&knftables.Set{Name: name})
		for _, a := range addrs {
			tx.Add(&knftables.Element{Set: name, Key: []string{a.String()}})
		}
	}
	return k.run(ctx, tx, nil)
}

func (k *fakeKernel) ruleCounts(context.Context) (map[string]int, error) {
	out := map[string]int{}
	k.fake.RLock()
	defer k.fake.RUnlock()
	if k.fake.Table == nil {
		return out, nil
	}
	for _, c := range coreChains {
		if ch := k.fake.Table.Chains[c]; ch != nil {
			out[c] = len(ch.Rules)
		}
	}
	return out, nil
}

func objectsFake(ctx context.Context, fake *knftables.Fake) (Objects, map[string]uint64, error) {
	objs := Objects{}
	for _, kind := range []string{"chain", "set", "map", "counter"} {
		names, err := fake.List(ctx, kind)
		if err != nil && !knftables.IsNotFound(err) {
			return nil, nil, err
		}
		key := kind
		if kind == "map" {
			key = "set"
		}
		objs[key] = append(objs[key], names...)
	}
	counters := map[string]uint64{}
	fake.RLock()
	if fake.Table != nil {
		for _, name := range objs["counter"] {
			if c := fake.Table.Counters[name]; c != nil && c.Packets != nil {
				counters[name] = *c.Packets
			} else {
				counters[name] = 0
			}
		}
		for name, c := range fake.Table.Chains {
			if c.Policy != nil && *c.Policy == knftables.DropPolicy {
				objs[policyDrop] = append(objs[policyDrop], name)
			}
		}
	}
	fake.RUnlock()
	return objs, counters, nil
}

// editTx is the edits as one knftables transaction, for the fake kernel.
func editTx(tx *knftables.Transaction, edits []setEdit) {
	for _, e := range edits {
		recordCounters(tx, e.name, e.id, e.to)
		for _, p := range e.removed {
			tx.Delete(&knftables.Element{Set: lengthSet(e.name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
		}
		for _, p := range e.added {
			tx.Add(&knftables.Element{Set: lengthSet(e.name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
		}
	}
}

// loadPrefixSetTx is the same load as one knftables transaction, for the fake kernel.
func loadPrefixSetTx(ctx context.Context, run func(context.Context, *knftables.Transaction) error, tx *knftables.Transaction, name string, prefixes []netip.Prefix) error {
	for _, bits := range prefixLengths(prefixes) {
		tx.Add(&knftables.Set{Name: lengthSet(name, bits), Type: "ipv4_addr"})
	}
	for _, p := range prefixes {
		tx.Add(&knftables.Element{Set: lengthSet(name, p.Bits()), Key: []string{p.Masked().Addr().String()}})
	}
	return run(ctx, tx)
}
