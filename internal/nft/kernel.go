package nft

import (
	"context"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/nft/script"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// kernel is everything the backend asks of the kernel. The real one (netKernel) speaks netlink, transactions
// included; the fake (fakeKernel) keeps the table in a script.Fake, so the unit tests
// of this package and of the daemon run the same Backend code, fast path included, without root.
type kernel interface {
	// run commits tx (on table ip hairpin) and tx6 (on table ip6 hairpin) as one transaction: all of it or
	// nothing. Either may be nil.
	run(ctx context.Context, tx, tx6 *script.Transaction) error
	// tableState reports whether fam's table hairpin exists and carries the ownership comment.
	tableState(ctx context.Context, fam family) (exists, owned bool, err error)
	// portCounters reads the counting sets: the counter of every port that carried traffic, by protocol. A
	// missing table or set reads as empty.
	portCounters(ctx context.Context) (map[string]map[uint16]backend.Counter, error)
	// countedPorts lists the ports in each counting set, sorted, by protocol, without their counters: what an
	// apply needs to delete the stale ones. A missing table or set reads as empty.
	countedPorts(ctx context.Context) (map[string][]uint16, error)
	// addWAN adds addrs to the WAN address set and changes nothing else; retireWAN removes from it every
	// address not in addrs. Both fail with ErrNotInstalled or ErrNotOwned, without writing, unless the table
	// is there and hairpin's.
	addWAN(ctx context.Context, addrs []netip.Addr) error
	retireWAN(ctx context.Context, addrs []netip.Addr) error
	// objects lists the table's chains, sets (maps included) and named counters, and reads the counters; a
	// missing table lists as empty.
	objects(ctx context.Context) (Objects, map[string]uint64, error)
	// records is objects without the chains (Objects may hold them or not): the sets and named counters an
	// allow list's change in place checks, one netlink dump fewer.
	records(ctx context.Context) (Objects, map[string]uint64, error)
	// setHosts brings each named host set to its addresses in one transaction, after checking the table is
	// hairpin's; it changes nothing else.
	setHosts(ctx context.Context, want map[string][]netip.Addr) error
	// loadPrefixSet creates the interval set name holding prefixes (sorted, disjoint), complete or not at all.
	loadPrefixSet(ctx context.Context, name string, prefixes []netip.Prefix) error
	// setContent brings the content of fam's table (its address sets and DNAT map) to c in one transaction,
	// after checking the table is hairpin's; it creates nothing.
	setContent(ctx context.Context, fam family, c content) error
	// ruleCounts counts the rules of each of hairpin's core chains (coreChains) in table ip hairpin.
	ruleCounts(ctx context.Context) (map[string]int, error)
	// generation reads the ruleset's generation ID, which every commit in the namespace changes.
	generation(ctx context.Context) (uint32, error)
	// editSets makes edits in one transaction that the kernel commits only if the ruleset is still at
	// generation gen; it creates nothing.
	editSets(ctx context.Context, gen uint32, edits []setEdit) error
	// close releases what the kernel holds open (netlink sockets).
	close() error
}

// mustOwn turns a state of fam's table into the error of a writer that may only change hairpin's existing
// table.
func (fam family) mustOwn(exists, owned bool, err error) error {
	switch {
	case err != nil:
		return err
	case !exists:
		return ErrNotInstalled
	case !owned:
		return fam.notOwned
	}
	return nil
}
