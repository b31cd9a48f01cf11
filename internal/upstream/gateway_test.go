package upstream

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/netns"
	"github.com/hairpin-nat/hairpin/internal/netns/netnstest"
)

// TestDefaultGateway reads a real kernel's main table: the gateway of the IPv4 default route, not of one in
// another table nor an IPv6 one, and an error naming the setting when there is none (the negative control).
func TestDefaultGateway(t *testing.T) {
	ns := netnstest.New(t, "gw")
	for _, args := range []string{
		"link add wan0 type veth peer name wan0p",
		"link set wan0p up",
		"link set wan0 up",
		"addr add 198.51.100.2/24 dev wan0",
		"addr add 2001:db8:1::2/64 dev wan0 nodad",
		"route add default via 198.51.100.9 dev wan0 table 100",
		"-6 route add default via 2001:db8:1::1 dev wan0",
	} {
		netnstest.IP(t, ns, args)
	}
	gateway := func() (netip.Addr, error) {
		var gw netip.Addr
		err := netns.Do(ns, func() error {
			var err error
			gw, err = DefaultGateway()
			return err
		})
		return gw, err
	}
	if gw, err := gateway(); err == nil || !strings.Contains(err.Error(), "wan.upstream_gateway") {
		t.Fatalf("without an IPv4 default route in the main table: %v, %v", gw, err)
	}
	netnstest.IP(t, ns, "route add default via 198.51.100.1 dev wan0")
	if gw, err := gateway(); err != nil || gw != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("DefaultGateway = %v, %v; want 198.51.100.1", gw, err)
	}
}
