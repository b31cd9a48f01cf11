package reach

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DetectDSLite reports whether the IPv4 default route leaves through an IPv4-in-IPv6 tunnel (ip6tnl in mode
// ipip6 or any), which is how a DS-Lite B4 sends IPv4 to the ISP's AFTR. It reads the routing table only.
func DetectDSLite() (bool, string, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, "", fmt.Errorf("listing IPv4 routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		link, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		t, ok := link.(*netlink.Ip6tnl)
		if !ok || (t.Proto != unix.IPPROTO_IPIP && t.Proto != 0) {
			continue
		}
		why := fmt.Sprintf("the IPv4 default route goes through %s, an IPv4-in-IPv6 tunnel", link.Attrs().Name)
		if remote, ok := netip.AddrFromSlice(t.Remote); ok && remote.IsValid() {
			why += " to " + remote.String()
		}
		return true, why, nil
	}
	return false, "", nil
}
