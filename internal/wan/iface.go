// Package wan observes the router's interfaces: their addresses, read once or watched through netlink. The
// public address seen by the internet behind another NAT is publicip's job.
package wan

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNoInterface is wrapped by errors about an interface that does not exist.
var ErrNoInterface = errors.New("interface does not exist")

// Addrs returns the IPv4 addresses of an interface and their subnets, sorted, read the way the watcher reads
// them (NetlinkSource.List), so that a one-shot command and the daemon see the same addresses.
func Addrs(ifname string) ([]netip.Addr, []netip.Prefix, error) {
	snap, _, err := NetlinkSource{}.List([]string{ifname})
	if err != nil {
		return nil, nil, err
	}
	st := snap[ifname]
	if !st.Exists {
		return nil, nil, fmt.Errorf("interface %q: %w (check the name with `ip -br link`)", ifname, ErrNoInterface)
	}
	return st.Addrs, st.Nets, nil
}
