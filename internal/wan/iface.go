// Package wan observes the router's interfaces: their addresses, read once or watched through netlink. The
// public address seen by the internet behind another NAT is publicip's job.
package wan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// ErrNoInterface is wrapped by errors about an interface that does not exist.
var ErrNoInterface = errors.New("interface does not exist")

// Addrs returns the IPv4 addresses of an interface and their subnets.
func Addrs(ifname string) ([]netip.Addr, []netip.Prefix, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil, fmt.Errorf("interface %q: %w (check the name with `ip -br link`)", ifname, ErrNoInterface)
		}
		return nil, nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	list, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, nil, fmt.Errorf("listing addresses of %q: %w", ifname, err)
	}
	var addrs []netip.Addr
	var nets []netip.Prefix
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		addrs = append(addrs, ip)
		nets = append(nets, netip.PrefixFrom(ip, ones).Masked())
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return addrs, nets, nil
}
