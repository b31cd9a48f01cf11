package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// netKernel is the real kernel: transactions go through the nft binary (run), the ownership check and
// the WAN fast path through netlink sockets that stay open for the backend's life. The sockets belong to the
// network namespace of the thread that first used them.
type netKernel struct {
	nftPath string

	mu sync.Mutex
	// owner asks for the table and its comment (owner.go); nftConn changes the WAN set (fastpath.go). Both
	// are opened on first use and dropped after an error, so a broken socket is replaced, not reused.
	owner   *netlink.Conn
	nftConn *gnft.Conn
	// dials counts sockets opened, for the test that a WAN change does not open one.
	dials int
}

// run hands both tables to one nft run: nft sends a whole file as one kernel batch, so the IPv4 and the
// IPv6 table change together or not at all.
//
// The deletions of counting-set elements (ports no longer forwarded) are taken out of the script and made over
// netlink once it committed: nft reads every set's elements before a "delete element" as before an "add
// element" (inlineElements), and a stale counter is harmless for the moment it outlives the transaction.
func (k *netKernel) run(ctx context.Context, tx, tx6 *knftables.Transaction) error {
	if !isRoot() {
		return errNeedRoot
	}
	var script string
	var stale map[string][]uint16
	for _, t := range []*knftables.Transaction{tx, tx6} {
		if t != nil {
			var s string
			s, stale = splitCountDeletes(mergeElements(t.String()), stale)
			script += inlineElements(s)
		}
	}
	if err := runScript(ctx, k.nftPath, script); err != nil {
		return err
	}
	if len(stale) > 0 {
		k.mu.Lock()
		defer k.mu.Unlock()
		// A delete that fails leaves a counter nothing sums; the next apply lists it and tries again.
		_ = k.withConnLocked(func(c *gnft.Conn) error { return deleteCountsNetlink(c, stale) })
	}
	return nil
}

func (k *netKernel) portCounters(ctx context.Context) (map[string]map[uint16]backend.Counter, error) {
	if !isRoot() {
		return nil, errNeedRoot
	}
	return readCounters(ctx, k.nftPath)
}

func (k *netKernel) countedPorts(context.Context) (ports map[string][]uint16, err error) {
	if !isRoot() {
		return nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.withConnLocked(func(c *gnft.Conn) error {
		ports, err = countedPortsNetlink(c)
		return err
	})
	return ports, err
}

func (k *netKernel) tableState(_ context.Context, fam family) (bool, bool, error) {
	if !isRoot() {
		return false, false, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tableStateLocked(fam)
}

func (k *netKernel) tableStateLocked(fam family) (exists, owned bool, err error) {
	err = k.withOwnerLocked(func(c *netlink.Conn) error {
		exists, owned, err = tableStateNetlink(c, fam)
		return err
	})
	return exists, owned, err
}

func (k *netKernel) addWAN(_ context.Context, addrs []netip.Addr) error {
	return k.owned(ipv4, func(c *gnft.Conn) error { return addWANNetlink(c, ipv4, addrs) })
}

func (k *netKernel) retireWAN(_ context.Context, addrs []netip.Addr) error {
	return k.owned(ipv4, func(c *gnft.Conn) error { return retireWANNetlink(c, ipv4, addrs) })
}

func (k *netKernel) setContent(_ context.Context, fam family, c content) error {
	return k.owned(fam, func(conn *gnft.Conn) error { return setContentNetlink(conn, fam, c) })
}

// owned runs fn on the lasting socket once fam's table is known to be hairpin's. The full apply checked
// ownership; it is checked again, cheaply, so a table replaced since then by someone else's of the same name
// is never written to.
func (k *netKernel) owned(fam family, fn func(*gnft.Conn) error) error {
	if !isRoot() {
		return errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := fam.mustOwn(k.tableStateLocked(fam)); err != nil {
		return err
	}
	return k.withConnLocked(fn)
}

// withConnLocked runs fn on the lasting nftables socket, opened on first use, and drops the socket after an
// error so that the next call starts on a fresh one. k.mu must be held.
func (k *netKernel) withConnLocked(fn func(*gnft.Conn) error) error {
	if k.nftConn == nil {
		c, err := gnft.New(gnft.AsLasting())
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		k.nftConn = c
		k.dials++
	}
	if err := fn(k.nftConn); err != nil {
		_ = k.nftConn.CloseLasting()
		k.nftConn = nil
		return err
	}
	return nil
}

func (k *netKernel) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	if k.owner != nil {
		errs = append(errs, k.owner.Close())
		k.owner = nil
	}
	if k.nftConn != nil {
		errs = append(errs, k.nftConn.CloseLasting())
		k.nftConn = nil
	}
	return errors.Join(errs...)
}

func (k *netKernel) objects(context.Context) (objs Objects, counters map[string]uint64, err error) {
	if !isRoot() {
		return nil, nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.withConnLocked(func(c *gnft.Conn) error {
		var err error
		objs, counters, err = objectsNetlink(c)
		return err
	})
	return objs, counters, err
}

func (k *netKernel) loadPrefixSet(_ context.Context, name string, prefixes []netip.Prefix) error {
	if !isRoot() {
		return errNeedRoot
	}
	return loadPrefixSetNetlink(name, prefixes)
}

func (k *netKernel) generation(context.Context) (uint32, error) {
	if !isRoot() {
		return 0, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var gen uint32
	err := k.withOwnerLocked(func(c *netlink.Conn) (err error) {
		gen, err = generationNetlink(c)
		return err
	})
	return gen, err
}

func (k *netKernel) editSets(_ context.Context, gen uint32, edits []setEdit) error {
	if !isRoot() {
		return errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.withOwnerLocked(func(c *netlink.Conn) error { return editSetsNetlink(c, gen, edits) })
}

// withOwnerLocked runs fn on the lasting plain netlink socket (the ownership query's), opened on first use and
// dropped after an error, when an answer may be left unread in it. k.mu must be held.
func (k *netKernel) withOwnerLocked(fn func(*netlink.Conn) error) error {
	if k.owner == nil {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		k.owner = c
		k.dials++
	}
	if err := fn(k.owner); err != nil {
		k.owner.Close()
		k.owner = nil
		return err
	}
	return nil
}

func (k *netKernel) setHosts(ctx context.Context, want map[string][]netip.Addr) error {
	if !isRoot() {
		return errNeedRoot
	}
	return k.owned(ipv4, func(c *gnft.Conn) error { return setHostsNetlink(c, want) })
}
