package config

import (
	"net/netip"

	"gopkg.in/yaml.v3"
)

// HA makes this router one of a pair that shares virtual addresses (keepalived's VRRP) and connection state
// (conntrackd). Both routers run the same config and install the same rules; only the one holding
// LANAddress, the master, publishes dynamic DNS, maps ports upstream and answers probes (docs/ha.md).
type HA struct {
	// LANAddress is the LAN's virtual address, the clients' gateway: hairpinned flows are SNATed to it, so
	// they outlive the router that carried them, and holding it on the LAN interface makes this router
	// the master.
	LANAddress netip.Addr
	// WANAddress, when set, is the WAN's virtual address: the forwards answer on it on both routers, whoever
	// holds it. Unset: each router has a WAN of its own and the forwards answer on its addresses.
	WANAddress netip.Addr
	Line       int
}

func (d *decoder) ha(n *yaml.Node, path string) *HA {
	h := &HA{Line: n.Line}
	var lanNode *yaml.Node
	if !d.mapping(n, path, map[string]field{
		"lan_address": func(k string, v *yaml.Node) { lanNode = v; h.LANAddress = d.vip(v, k, "192.168.88.1") },
		"wan_address": func(k string, v *yaml.Node) { h.WANAddress = d.vip(v, k, "203.0.113.10") },
	}) {
		return nil
	}
	if lanNode == nil {
		d.errorf(n, join(path, "lan_address"), "add `lan_address: 192.168.88.1`, the LAN's virtual address keepalived moves", "required key is missing")
		return nil
	}
	return h
}

// vip reads a virtual IPv4 address: one host's address, not a network's.
func (d *decoder) vip(n *yaml.Node, path, example string) netip.Addr {
	s, ok := d.str(n, path)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		d.errorf(n, path, "write the virtual IPv4 address of keepalived's virtual_ipaddress, e.g. "+example, "%s is not a unicast IPv4 address", echo(s))
		return netip.Addr{}
	}
	return a
}

// checkHA ties ha: to the rest: the role is read from the LAN interface's addresses, which only the Linux
// backend watches, and the virtual address must be the LAN's, not a forward's target.
func (d *decoder) checkHA(cfg *Config, haNode *yaml.Node) {
	h := cfg.HA
	if h == nil || !h.LANAddress.IsValid() {
		return
	}
	at := valueOf(haNode, "lan_address")
	if cfg.Backend == BackendRouterOS {
		d.errorf(haNode, "ha", "remove `ha:`; a MikroTik pair fails over with its own VRRP interfaces", "ha is for the linux backend: hairpin reads the role from the LAN interface's addresses on this machine")
		return
	}
	if cfg.LAN.Interface == "" {
		d.errorf(haNode, "ha", "add `lan.interface:`, the interface keepalived puts the virtual address on", "ha needs the LAN interface: holding lan_address on it is what makes this router the master")
	}
	if len(cfg.LAN.Subnets) > 0 && !containsAddr(cfg.LAN.Subnets, h.LANAddress) {
		d.errorf(at, "ha.lan_address", "give the virtual address keepalived puts on the LAN, inside lan.subnets", "%s is outside the LAN subnets %v", h.LANAddress, cfg.LAN.Subnets)
	}
	for _, f := range cfg.Forwards {
		if f.To == h.LANAddress {
			d.errorf(at, "ha.lan_address", "forward to a host's own address, not to the routers' virtual one", "forward %q targets %s, the virtual address", f.Name, h.LANAddress)
		}
	}
	if h.WANAddress == h.LANAddress {
		d.errorf(valueOf(haNode, "wan_address"), "ha.wan_address", "give the WAN's virtual address, or remove the key when each router has its own WAN", "it is the same as lan_address")
	}
}

func containsAddr(nets []netip.Prefix, a netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
