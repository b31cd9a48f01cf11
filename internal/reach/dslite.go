package reach

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/rtnl"
)

// DetectDSLite reports whether the IPv4 default route leaves through an IPv4-in-IPv6 tunnel (ip6tnl in mode
// ipip6 or any), which is how a DS-Lite B4 sends IPv4 to the ISP's AFTR. It reads the routing table only.
func DetectDSLite() (bool, string, error) {
	c, err := rtnl.Dial(nil)
	if err != nil {
		return false, "", err
	}
	defer c.Close()
	routes, err := c.DefaultRoutes(unix.AF_INET)
	if err != nil {
		return false, "", err
	}
	for _, r := range routes {
		if r.OIF == 0 {
			continue // several next hops: not one tunnel
		}
		link, err := c.LinkByIndex(r.OIF)
		if err != nil {
			continue
		}
		t := link.Tunnel
		if t == nil || (t.Proto != unix.IPPROTO_IPIP && t.Proto != 0) {
			continue
		}
		why := fmt.Sprintf("the IPv4 default route goes through %s, an IPv4-in-IPv6 tunnel", link.Name)
		if t.Remote.IsValid() {
			why += " to " + t.Remote.String()
		}
		return true, why, nil
	}
	return false, "", nil
}
