package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// IPv6 addressing of the lab (Options.IPv6), from the documentation prefix 2001:db8::/32. The ISP routes
// the LAN prefix to the router; the "delegated" prefix changes with RenumberLAN, the ULA prefix never does.
var (
	internet6  = netip.MustParseAddr("2001:db8:ffff::1")
	routerWAN6 = netip.MustParseAddr("2001:db8:ffff::10")
	// LANPrefixes6 are the global LAN prefixes the lab steps through (RenumberLAN).
	LANPrefixes6 = []netip.Prefix{netip.MustParsePrefix("2001:db8:1:1::/64"), netip.MustParsePrefix("2001:db8:1:2::/64")}
	ulaPrefix    = netip.MustParsePrefix("fd00:88::/64")
)

// Lab6 is the IPv6 side of a topology built with Options.IPv6.
type Lab6 struct {
	InternetAddr netip.Addr
	RouterWAN    netip.Addr
	// Prefix is the LAN's current global prefix; ULA its unique local prefix.
	Prefix, ULA netip.Prefix
}

// On returns the address with interface identifier iid (the low 64 bits) on prefix p.
func On(p netip.Prefix, iid uint16) netip.Addr {
	b := p.Masked().Addr().As16()
	b[14], b[15] = byte(iid>>8), byte(iid)
	return netip.AddrFrom16(b)
}

// Host6 is the interface identifier of the router (1), the laptop (0x50) and camera i (0x180+i).
func (t *Topology) host6(ns string) uint16 {
	switch ns {
	case t.Router:
		return 1
	case t.Laptop:
		return 0x50
	}
	for i, c := range t.Cameras {
		if c.NS == ns {
			return uint16(0x180 + i)
		}
	}
	return 0
}

// CameraIID is camera i's interface identifier, as a forward's to6 names it.
func CameraIID(i int) string { return fmt.Sprintf("::%x", 0x180+i) }

// buildIPv6 gives the internet, the router, the laptop and the cameras IPv6: a global /64 on the WAN link,
// and on the LAN a global and a ULA prefix, every host on both. Addresses skip duplicate address detection
// (nodad) so that they are usable at once, as after DAD on a real network.
func (t *Topology) buildIPv6(ctx context.Context) error {
	t.V6 = &Lab6{InternetAddr: internet6, RouterWAN: routerWAN6, Prefix: LANPrefixes6[0], ULA: ulaPrefix}
	s := []step{
		sysctl{t.Router, "net.ipv6.conf.all.forwarding", "1"},
		cmdStep{t.Internet, "-6 addr add " + internet6.String() + "/64 dev eth0 nodad"},
		cmdStep{t.Router, "-6 addr add " + routerWAN6.String() + "/64 dev " + t.WANIf + " nodad"},
		cmdStep{t.Router, "-6 route add default via " + internet6.String()},
		cmdStep{t.Router, fmt.Sprintf("-6 addr add %s/64 dev %s nodad", On(ulaPrefix, 1), t.LANIf)},
	}
	lanHosts := []string{t.Laptop}
	for _, c := range t.Cameras {
		lanHosts = append(lanHosts, c.NS)
	}
	for _, ns := range lanHosts {
		s = append(s,
			cmdStep{ns, fmt.Sprintf("-6 addr add %s/64 dev eth0 nodad", On(ulaPrefix, t.host6(ns)))},
			cmdStep{ns, "-6 route add default via " + On(ulaPrefix, 1).String()},
		)
	}
	if err := t.steps(ctx, s...); err != nil {
		return err
	}
	return t.addPrefix(ctx, LANPrefixes6[0])
}

func (t *Topology) lanHosts6() []string {
	hosts := []string{t.Router, t.Laptop}
	for _, c := range t.Cameras {
		hosts = append(hosts, c.NS)
	}
	return hosts
}

func (t *Topology) lanIf(ns string) string {
	if ns == t.Router {
		return t.LANIf
	}
	return "eth0"
}

// addPrefix puts every LAN host on prefix p, the router first, as a delegated prefix arrives.
func (t *Topology) addPrefix(ctx context.Context, p netip.Prefix) error {
	for _, ns := range t.lanHosts6() {
		if err := t.ip(ctx, ns, fmt.Sprintf("-6 addr add %s/64 dev %s nodad", On(p, t.host6(ns)), t.lanIf(ns))); err != nil {
			return err
		}
	}
	return nil
}

// RenumberLAN moves the LAN from its current global prefix to p the way a new delegated prefix arrives: the
// new prefix is added everywhere, then the old one is removed. With deprecate the router keeps its old
// address, deprecated (preferred lifetime 0, as when a prefix's preferred lifetime ends), while the other
// hosts drop theirs, so that a forward still aimed at the old prefix fails.
func (t *Topology) RenumberLAN(ctx context.Context, p netip.Prefix, deprecate bool) error {
	old := t.V6.Prefix
	if err := t.addPrefix(ctx, p); err != nil {
		return err
	}
	for _, ns := range t.lanHosts6() {
		a := fmt.Sprintf("%s/64", On(old, t.host6(ns)))
		var err error
		if deprecate && ns == t.Router {
			err = t.ip(ctx, ns, fmt.Sprintf("-6 addr change %s dev %s preferred_lft 0", a, t.lanIf(ns)))
		} else {
			err = t.ip(ctx, ns, fmt.Sprintf("-6 addr del %s dev %s", a, t.lanIf(ns)))
		}
		if err != nil {
			return err
		}
	}
	t.V6.Prefix = p
	return nil
}

// MoveWAN6 replaces the router's global WAN address with a, as the ISP's DHCPv6 server would along with a
// new delegated prefix.
func (t *Topology) MoveWAN6(ctx context.Context, a netip.Addr) error {
	old := t.V6.RouterWAN
	for _, c := range []string{
		fmt.Sprintf("-6 addr add %s/64 dev %s nodad", a, t.WANIf),
		fmt.Sprintf("-6 addr del %s/64 dev %s", old, t.WANIf),
		"-6 route replace default via " + t.V6.InternetAddr.String(),
	} {
		if err := t.ip(ctx, t.Router, c); err != nil {
			return err
		}
	}
	t.V6.RouterWAN = a
	return nil
}

// Target6 is "[addr]:port", the form a URL or a dial needs.
func Target6(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// ProveAll6 probes every forward at the router's global IPv6 address from the laptop (hairpin), the internet
// host and the router. want6 gives each camera's IPv6 address on the LAN now, or the invalid address for a
// camera that is not forwarded on IPv6: those checks pass when nothing answers.
func (t *Topology) ProveAll6(ctx context.Context, want6 func(c Camera) netip.Addr) []Check {
	var checks []Check
	for _, c := range t.Cameras {
		to := want6(c)
		for _, from := range []struct {
			name, ns string
			caller   netip.Addr
		}{
			// Hairpinned: masqueraded to the router's address on the camera's prefix.
			{"laptop", t.Laptop, On(netip.PrefixFrom(to, 64), 1)},
			{"internet", t.Internet, t.V6.InternetAddr},
			{"router", t.Router, t.V6.RouterWAN},
		} {
			target := Target6(t.V6.RouterWAN, c.Port)
			a := HTTPGet(ctx, from.ns, "http://"+target+"/", ProbeTimeout)
			chk := Check{Forward: c.Name, Target: target, Proto: "tcp", Port: c.Port, From: from.name, Want: from.caller, Answer: a, WantServer: c.Name}
			if !to.IsValid() {
				chk.WantServer, chk.Want = "", netip.Addr{}
			}
			checks = append(checks, chk)
			if c.Name == "front-cam" && to.IsValid() {
				u := UDPAsk(ctx, from.ns, target, ProbeTimeout)
				checks = append(checks, Check{Forward: c.Name, Target: target, Proto: "udp", Port: c.Port, From: from.name, Want: from.caller, Answer: u, WantServer: c.Name})
			}
		}
	}
	return checks
}

// Pass6 is Check.Pass, where a check of a forward that must not exist on IPv6 (no WantServer) passes when
// nothing answered.
func (c Check) Pass6() bool {
	if c.WantServer == "" {
		return !c.Answer.OK()
	}
	return c.Pass()
}

// Config6 is the lab's config with IPv6 targets: front-cam and driveway-cam by interface identifier (they
// follow the prefix), back-cam by its ULA, pool-cam IPv4 only.
func (t *Topology) Config6() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wan: {interface: %s}\nlan: {interface: %s}\nforwards:\n", t.WANIf, t.LANIf)
	for i, c := range t.Cameras {
		fmt.Fprintf(&b, "  - name: %s\n    port: %d\n    to: %s:80\n", c.Name, c.Port, c.Addr)
		if c.Name == "front-cam" {
			b.WriteString("    protocol: both\n")
		}
		switch c.Name {
		case "front-cam", "driveway-cam":
			fmt.Fprintf(&b, "    to6: '%s'\n", CameraIID(i))
		case "back-cam":
			fmt.Fprintf(&b, "    to6: '%s'\n", On(ulaPrefix, uint16(0x180+i)))
		}
	}
	return b.String()
}

// Want6 is where Config6 sends each camera on IPv6 with the LAN on its current prefix.
func (t *Topology) Want6(c Camera) netip.Addr {
	for i, cc := range t.Cameras {
		if cc.Name != c.Name {
			continue
		}
		switch c.Name {
		case "front-cam", "driveway-cam":
			return On(t.V6.Prefix, uint16(0x180+i))
		case "back-cam":
			return On(ulaPrefix, uint16(0x180+i))
		}
	}
	return netip.Addr{}
}
