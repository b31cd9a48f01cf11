package nft

import (
	"fmt"
	"net/netip"

	gnft "github.com/google/nftables"
)

// setWANNetlink replaces the WAN address set in one netlink batch, without starting the nft binary: an
// address change is the hot path of the daemon (target: forwards follow within milliseconds), and a fork and
// exec of nft costs more than the whole kernel transaction. The batch is atomic like any nft transaction.
func setWANNetlink(addrs []netip.Addr) error {
	conn, err := gnft.New()
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	table := &gnft.Table{Family: gnft.TableFamilyIPv4, Name: Table}
	// The ownership comment is not visible over this netlink API; our own counting set stands in for it, so
	// a same-named table of someone else's fails here and the caller's full apply refuses it by its comment.
	if _, err := conn.GetSetByName(table, countSetBase+"tcp"); err != nil {
		return fmt.Errorf("table ip %s does not look like hairpin's: %w", Table, err)
	}
	set, err := conn.GetSetByName(table, setWAN)
	if err != nil {
		return fmt.Errorf("set %s: %w", setWAN, err)
	}
	elems := make([]gnft.SetElement, 0, len(addrs))
	for _, a := range addrs {
		if a.Is4() {
			b := a.As4()
			elems = append(elems, gnft.SetElement{Key: b[:]})
		}
	}
	conn.FlushSet(set)
	if len(elems) > 0 {
		if err := conn.SetAddElements(set, elems); err != nil {
			return err
		}
	}
	return conn.Flush()
}
