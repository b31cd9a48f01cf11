package upstream

import (
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/rtnl"
)

// DefaultGateway is the IPv4 default route's gateway: the box in front of the router.
func DefaultGateway() (netip.Addr, error) {
	c, err := rtnl.Dial(nil)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	routes, err := c.DefaultRoutes(unix.AF_INET)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, r := range routes {
		if r.Gateway.Is4() {
			return r.Gateway, nil
		}
	}
	return netip.Addr{}, errors.New("no IPv4 default route with a gateway; set wan.upstream_gateway")
}
