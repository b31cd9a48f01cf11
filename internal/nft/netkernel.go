package nft

import (
	"context"
	"errors"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/backend"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/nft/script"
)

// netKernel is the real kernel: everything, transactions included (run), goes over one netlink socket that
// stays open for the backend's life and belongs to the network namespace of the thread that first used it.
// No nft process runs: nftPath, where nft is installed, serves the tests' oracle only.
type netKernel struct {
	nftPath string

	mu lock.Mutex
	// conn is opened on first use and dropped after an error, so a broken socket (or one with an answer left
	// unread) is replaced, not reused.
	conn *netlink.Conn
	// dials counts sockets opened, for the test that a WAN change does not open one.
	dials int
}

// run compiles both tables' scripts into one netlink batch (compile.go) and sends it on the lasting socket:
// the kernel commits the IPv4 and the IPv6 table together or neither, and no nft process runs. A table
// that does not exist yet is built without flushes (compile's fresh).
func (k *netKernel) run(_ context.Context, tx, tx6 *script.Transaction) error {
	if !isRoot() {
		return errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var msgs []netlink.Message
	var stmts []string
	var setID uint32
	for _, t := range []struct {
		fam family
		tx  *script.Transaction
	}{{ipv4, tx}, {ipv6, tx6}} {
		if t.tx == nil {
			continue
		}
		exists, _, err := k.tableStateLocked(t.fam)
		b := &batch{fam: t.fam, setID: setID}
		if err := compile(b, t.tx.String(), err == nil && !exists); err != nil {
			return err
		}
		msgs, stmts, setID = append(msgs, b.msgs...), append(stmts, b.stmts...), b.setID
	}
	if len(msgs) == 0 {
		return nil
	}
	err := k.withConnLocked(func(c *netlink.Conn) error { return sendBatch(c, 0, msgs) })
	if r := (*refusal)(nil); errors.As(err, &r) && r.index < len(stmts) {
		err = errfmt.Errorf("the kernel refused %.200q: %w", stmts[r.index], r.err)
	}
	return err
}

func (k *netKernel) portCounters(context.Context) (perPort map[string]map[uint16]backend.Counter, err error) {
	if !isRoot() {
		return nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.withConnLocked(func(c *netlink.Conn) error {
		perPort, err = readCountersNetlink(c)
		return err
	})
	return perPort, err
}

func (k *netKernel) countedPorts(context.Context) (ports map[string][]uint16, err error) {
	if !isRoot() {
		return nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.withConnLocked(func(c *netlink.Conn) error {
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
	err = k.withConnLocked(func(c *netlink.Conn) error {
		exists, owned, err = tableStateNetlink(c, fam)
		return err
	})
	return exists, owned, err
}

func (k *netKernel) addWAN(_ context.Context, addrs []netip.Addr) error {
	return k.owned(ipv4, func(c *netlink.Conn) error { return addWANNetlink(c, ipv4, addrs) })
}

func (k *netKernel) retireWAN(_ context.Context, addrs []netip.Addr) error {
	return k.owned(ipv4, func(c *netlink.Conn) error { return retireWANNetlink(c, ipv4, addrs) })
}

func (k *netKernel) setContent(_ context.Context, fam family, c content) error {
	return k.owned(fam, func(conn *netlink.Conn) error { return setContentNetlink(conn, fam, c) })
}

// owned runs fn on the lasting socket once fam's table is known to be hairpin's. The full apply checked
// ownership; it is checked again, cheaply, so a table replaced since then by someone else's of the same name
// is never written to.
func (k *netKernel) owned(fam family, fn func(*netlink.Conn) error) error {
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

func (k *netKernel) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return nil
	}
	err := k.conn.Close()
	k.conn = nil
	return err
}

func (k *netKernel) objects(context.Context) (objs Objects, counters map[string]uint64, err error) {
	return k.readObjects(true)
}

func (k *netKernel) records(context.Context) (objs Objects, counters map[string]uint64, err error) {
	return k.readObjects(false)
}

func (k *netKernel) readObjects(chains bool) (objs Objects, counters map[string]uint64, err error) {
	if !isRoot() {
		return nil, nil, errNeedRoot
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err = k.withConnLocked(func(c *netlink.Conn) error {
		var err error
		objs, counters, err = objectsNetlink(c, chains)
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
	err := k.withConnLocked(func(c *netlink.Conn) (err error) {
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
	return k.withConnLocked(func(c *netlink.Conn) error { return editSetsNetlink(c, gen, edits) })
}

// withConnLocked runs fn on the lasting netlink socket, opened on first use and dropped after an error, when
// an answer may be left unread in it. k.mu must be held.
func (k *netKernel) withConnLocked(fn func(*netlink.Conn) error) error {
	if k.conn == nil {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return errfmt.Errorf("netlink: %w", err)
		}
		k.conn = c
		k.dials++
	}
	if err := fn(k.conn); err != nil {
		k.conn.Close()
		k.conn = nil
		return err
	}
	return nil
}

func (k *netKernel) setHosts(ctx context.Context, want map[string][]netip.Addr) error {
	if !isRoot() {
		return errNeedRoot
	}
	return k.owned(ipv4, func(c *netlink.Conn) error { return setHostsNetlink(c, want) })
}
