// Package wan observes the router's interfaces: their addresses, read once or watched through netlink. The
// public address seen by the internet behind another NAT is publicip's job.
package wan

import (
	"errors"
	"net/netip"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
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
		return nil, nil, errfmt.Errorf("interface %q: %w (check the name with `ip -br link`)", ifname, ErrNoInterface)
	}
	return st.Addrs, st.Nets, nil
}

// State reads one interface the way the watcher does, IPv6 addresses included when ipv6 is set.
func State(ifname string, ipv6 bool) (IfaceState, error) {
	snap, _, err := NetlinkSource{IPv6: ipv6}.List([]string{ifname})
	if err != nil {
		return IfaceState{}, err
	}
	st := snap[ifname]
	if !st.Exists {
		return st, errfmt.Errorf("interface %q: %w (check the name with `ip -br link`)", ifname, ErrNoInterface)
	}
	return st, nil
}

// Addrs6 lists the addresses of prefixes (2001:db8:1::1/64 gives 2001:db8:1::1).
func Addrs6(prefixes []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, p := range prefixes {
		out = append(out, p.Addr())
	}
	return out
}
