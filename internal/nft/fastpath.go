package nft

import (
	"fmt"
	"net/netip"

	gnft "github.com/google/nftables"
)

// setWANNetlink brings the WAN address set to addrs over netlink, without starting the nft binary: an
// address change is the hot path of the daemon (target: forwards follow within milliseconds), and a fork and
// exec of nft costs more than the kernel transaction.
//
// It commits in two steps, new addresses first: a transaction that removes set elements waits for an RCU
// grace period (about 13 ms measured), one that only adds does not (under 1 ms). So forwards on a new address
// work before the old one is retired. Each step is atomic; between them both addresses forward, which is
// harmless for the few milliseconds it lasts.
func setWANNetlink(conn *gnft.Conn, addrs []netip.Addr) error {
	table := &gnft.Table{Family: gnft.TableFamilyIPv4, Name: Table}
	set, err := conn.GetSetByName(table, setWAN)
	if err != nil {
		return fmt.Errorf("set %s: %w", setWAN, err)
	}
	current, err := conn.GetSetElements(set)
	if err != nil {
		return fmt.Errorf("set %s: %w", setWAN, err)
	}
	add, del := wanDiff(current, addrs)
	if len(add) > 0 {
		if err := conn.SetAddElements(set, add); err != nil {
			return err
		}
		if err := conn.Flush(); err != nil {
			return err
		}
	}
	if len(del) > 0 {
		if err := conn.SetDeleteElements(set, del); err != nil {
			return err
		}
		return conn.Flush()
	}
	return nil
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
