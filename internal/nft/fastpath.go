package nft

import (
	"errors"
	"fmt"
	"net/netip"

	gnft "github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// The WAN address set changes over netlink, without starting the nft binary: an address change is the hot
// path of the daemon (target: forwards follow within milliseconds), and a fork and exec of nft costs more than
// the kernel transaction.
//
// A change is two commits, new addresses first (addWANNetlink), the old ones retired after
// (retireWANNetlink). Each is atomic; between them both addresses forward, which is harmless for the moment it
// lasts, and a removal never delays an addition. The daemon records between the two what it is installing
// (internal/daemon/intent.go), so that the record costs the new address nothing.

// addWANNetlink sends its batch before asking the kernel anything about the set: adding an element that is
// already there changes nothing (no NLM_F_EXCL), so every wanted address is simply added, and the set is
// named rather than looked up.
func addWANNetlink(conn *gnft.Conn, addrs []netip.Addr) error {
	want := wanElements(addrs)
	if len(want) == 0 {
		return nil
	}
	if err := conn.SetAddElements(wanSetRef(), want); err != nil {
		return err
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("set %s: %w", setWAN, err)
	}
	return nil
}

// retireWANNetlink is idempotent: it deletes what the set holds now and is not wanted. An element that went
// away meanwhile (another writer, or a retry of an update a crash cut short) fails the batch with ENOENT; the
// set is then read again and the removal retried.
func retireWANNetlink(conn *gnft.Conn, addrs []netip.Addr) error {
	set := wanSetRef()
	for try := 0; ; try++ {
		current, err := conn.GetSetElements(set)
		if err != nil {
			return fmt.Errorf("set %s: %w", setWAN, err)
		}
		_, del := wanDiff(current, addrs)
		if len(del) == 0 {
			return nil
		}
		if err := conn.SetDeleteElements(set, del); err != nil {
			return err
		}
		err = conn.Flush()
		if err == nil || try == 2 || !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
}

// wanSetRef names the WAN set for element operations, which need only the table and set names.
func wanSetRef() *gnft.Set {
	return &gnft.Set{Table: &gnft.Table{Family: gnft.TableFamilyIPv4, Name: Table}, Name: setWAN}
}

// wanElements turns the IPv4 addresses of addrs into set elements.
func wanElements(addrs []netip.Addr) []gnft.SetElement {
	var out []gnft.SetElement
	for _, a := range addrs {
		if a.Is4() {
			b := a.As4()
			out = append(out, gnft.SetElement{Key: b[:]})
		}
	}
	return out
}

// wanDiff returns the elements to add and to delete to turn current into want.
func wanDiff(current []gnft.SetElement, want []netip.Addr) (add, del []gnft.SetElement) {
	have := map[netip.Addr]bool{}
	for _, e := range current {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			have[a.Unmap()] = true
		}
	}
	keep := map[netip.Addr]bool{}
	for _, a := range want {
		if !a.Is4() {
			continue
		}
		keep[a] = true
		if !have[a] {
			b := a.As4()
			add = append(add, gnft.SetElement{Key: b[:]})
		}
	}
	for a := range have {
		if !keep[a] {
			b := a.As4()
			del = append(del, gnft.SetElement{Key: b[:]})
		}
	}
	return add, del
}
