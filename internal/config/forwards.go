package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// fwdItem is what forwards gathers about one list item besides the Forward itself.
type fwdItem struct {
	f                       Forward
	toNode, to6Node         *yaml.Node
	toPort, to6Port         string
	hasName, hasPort, hasTo bool
	allow                   *allowEntries
}

func (d *decoder) forwards(n *yaml.Node, path string) []Forward {
	if n == d.streamed {
		// parseFast handed the items to forwardItem as it read them (fastyaml.go).
		return d.fwd.out
	}
	items := d.sequence(n, path)
	d.startForwards(path, len(items))
	for i, node := range items {
		d.forwardItem(node, i)
	}
	return d.fwd.out
}

// fwdState is what forwards keeps while it reads the items.
type fwdState struct {
	path   string
	fields map[string]field
	item   fwdItem
	out    []Forward
	count  int // items read, decoded or not
}

// startForwards prepares forwardItem for a list of about n items at path.
func (d *decoder) startForwards(path string, n int) {
	f := &fwdState{path: path, out: make([]Forward, 0, n)}
	d.fwd = f
	d.fwdItems = make([]listItem, 0, n)
	d.fwdAllow = make([]*allowEntries, 0, n)
	// One table of keys for every item: the closures read and fill f.item, which is reset for each item. (A
	// table per item, with its closures, was a fifth of the time a config of 50,000 forwards took to load.)
	f.fields = map[string]field{
		"name": func(k string, v *yaml.Node) {
			f.item.hasName = true
			s, ok := d.str(v, k)
			if ok && !isName(s) {
				d.errorf(v, k, "use 1 to 32 lowercase letters, digits and '-', not starting or ending with '-'", "%q is not a valid name", s)
			}
			f.item.f.Name = s
		},
		"port": func(k string, v *yaml.Node) {
			f.item.hasPort = true
			f.item.f.Port, _ = d.portRange(v, k)
		},
		"to": func(k string, v *yaml.Node) {
			f.item.hasTo = true
			f.item.toNode = v
			s, ok := d.str(v, k)
			if !ok {
				return
			}
			addr, port, err := splitTarget(s)
			if err != nil {
				d.errorf(v, k, "write ADDRESS or ADDRESS:PORT or ADDRESS:FIRST-LAST, e.g. 192.168.88.180:80", "%v", err)
				return
			}
			if !isUnicast4(addr) {
				d.errorf(v, k, "forward to a host's unicast IPv4 address on your LAN", "%s is not a unicast IPv4 address", addr)
				return
			}
			f.item.f.To, f.item.toPort = addr, port
		},
		"to6": func(k string, v *yaml.Node) {
			var ok bool
			if f.item.f.To6, f.item.to6Port, ok = d.to6(v, k); ok {
				f.item.to6Node = v
			}
		},
		"protocol": func(k string, v *yaml.Node) {
			if s, ok := d.oneOf(v, k, "tcp", "udp", "both"); ok {
				f.item.f.Protocol = Protocol(s)
			}
		},
		"allow": func(k string, v *yaml.Node) { f.item.allow = d.allowList(v, k, false) },
		"limit": func(k string, v *yaml.Node) { f.item.f.Limit = d.limit(v, k) },
	}
}

// forwardItem reads the list item node, the i-th of forwards. It reports whether the item's nodes may be
// reused once it returns: nothing kept refers to them (newListItem).
func (d *decoder) forwardItem(node *yaml.Node, i int) (reuse bool) {
	f := d.fwd
	f.count++
	if node.Kind == yaml.MappingNode && plainItem(node) {
		// Most items are right, and their key paths ("forwards[12].port") are only read to report an issue:
		// read the item without them first, and again with them when it has one. A plain item's reading
		// changes nothing but f.item, which is read afresh.
		d.probing, d.probeFailed = true, false
		d.readForward(node, "", "")
		d.probing = false
		if !d.probeFailed {
			return d.keepForward(node, i)
		}
	}
	var key, keys string
	if node.Kind == yaml.MappingNode {
		key, keys = itemKeys(f.path, i, node.Content)
	} else {
		key = f.path + "[" + strconv.Itoa(i) + "]"
	}
	if isNull(node) {
		d.errorf(node, key, "write the forward's keys under the `-`, or remove the line", "empty list item")
		return true
	}
	if !d.readForward(node, key, keys) {
		return true
	}
	return d.keepForward(node, i)
}

// plainItem reports whether item n holds only keys whose reading changes nothing but the item read
// (plainItemKey), with no alias among their values: an alias spends the file's alias budget.
func plainItem(n *yaml.Node) bool {
	for j := 0; j+1 < len(n.Content); j += 2 {
		if !plainItemKey(n.Content[j].Value) || n.Content[j].Kind != yaml.ScalarNode || n.Content[j+1].Kind == yaml.AliasNode {
			return false
		}
	}
	return true
}

// readForward reads item node into d.fwd.item; key is the item's path and keys mappingKeys of it (both "" while
// d.probing). It reports false when the item is not a mapping.
func (d *decoder) readForward(node *yaml.Node, key, keys string) bool {
	f := d.fwd
	f.item = fwdItem{f: Forward{Protocol: TCP, Line: node.Line}}
	item := &f.item
	ok := d.mappingKeyed(node, key, keys, f.fields)
	if !ok {
		return false
	}
	d.missing(item.hasName, node, key, "name", "front-cam")
	d.missing(item.hasPort, node, key, "port", "8090")
	d.missing(item.hasTo, node, key, "to", "192.168.88.180:80")
	if item.toNode != nil && item.f.To.IsValid() && item.f.Port.First != 0 {
		item.f.ToPort = item.f.Port
		if item.toPort != "" {
			r, err := parsePortRange(item.toPort)
			if err != nil {
				d.errorf(item.toNode, key+".to", "ports are 1 to 65535; a range is FIRST-LAST", "%v", err)
			} else if r.Len() != item.f.Port.Len() && r.Len() != 1 {
				d.errorf(item.toNode, key+".to", fmt.Sprintf("give %d internal ports to match port %s, or a single port", item.f.Port.Len(), item.f.Port),
					"range %s has %d ports but the external range has %d", r, r.Len(), item.f.Port.Len())
			} else {
				item.f.ToPort = r
			}
		}
	}
	if item.to6Node != nil {
		if item.f.ToPort.First != 0 {
			d.finishTo6(&item.f, item.to6Node, key+".to6", item.to6Port)
		} else {
			item.f.To6 = Target6{} // `to` or `port` is wrong and reported; to6's port cannot be checked yet
		}
		if item.f.To6.IsValid() && (item.allow != nil || item.f.Limit != nil) {
			d.errorf(item.to6Node, key+".to6", "remove to6, or remove allow and limit: allow lists and limits hold IPv4 sources only, and an IPv6 forward would let everyone in",
				"a forward with an allow list or a limit cannot be forwarded on IPv6")
			item.f.To6 = Target6{}
		}
	}
	return true
}

// keepForward keeps d.fwd.item, read from item node, the i-th; reuse as forwardItem's.
func (d *decoder) keepForward(node *yaml.Node, i int) (reuse bool) {
	f := d.fwd
	f.out = append(f.out, f.item.f)
	li, reuse := newListItem(node, i)
	d.fwdItems = append(d.fwdItems, li)
	d.fwdAllow = append(d.fwdAllow, f.item.allow)
	return reuse
}

// missing reports a required key the item at n lacks.
func (d *decoder) missing(has bool, n *yaml.Node, path, name, example string) {
	if !has {
		d.errorf(n, path+"."+name, "add e.g. `"+name+": "+example+"`", "required key is missing")
	}
}

func (d *decoder) portRange(n *yaml.Node, path string) (PortRange, bool) {
	const hint = "ports are 1 to 65535; a range is written \"8090-8093\""
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		d.errorf(n, path, hint, "expected a port or range, found %s", kindName(n))
		return PortRange{}, false
	}
	r, err := parsePortRange(n.Value)
	if err != nil {
		d.errorf(n, path, hint, "%v", err)
		return PortRange{}, false
	}
	return r, true
}

func parsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parsePort(first)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(last)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, errfmt.Errorf("range %s ends before it starts", s)
	}
	return PortRange{a, b}, nil
}

// parsePort takes decimal digits only: Atoi's sign ("+8095") and spaces (" 8096 ") would let a typo through.
func parsePort(s string) (uint16, error) {
	if s == "" || !allDigits(s) {
		return 0, errfmt.Errorf("%q is not a port number", s)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, errfmt.Errorf("%q is not a port number", s)
	}
	if v < 1 || v > 65535 {
		return 0, errfmt.Errorf("port %d is out of range", v)
	}
	return uint16(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitTarget splits "addr", "addr:port" or "addr:first-last".
func splitTarget(s string) (netip.Addr, string, error) {
	host, port, hasPort := strings.Cut(s, ":")
	addr, err := netip.ParseAddr(host)
	if err != nil || strings.Count(s, ":") > 1 {
		return netip.Addr{}, "", errfmt.Errorf("%q is not an IPv4 address with an optional port", s)
	}
	if hasPort && port == "" {
		return netip.Addr{}, "", errfmt.Errorf("%q has a ':' but no port", s)
	}
	return addr, port, nil
}

// isUnicast4 leaves out, besides the obvious, 0.0.0.0/8 ("this network", never a destination) and 240.0.0.0/4
// (reserved, dropped by hosts and routers).
func isUnicast4(a netip.Addr) bool {
	return a.Is4() && !a.IsMulticast() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!thisNetwork.Contains(a) && !reserved.Contains(a)
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
)

// edgeOf returns the LAN subnet whose network or broadcast address a is (subnets of /31 and /32 have neither).
func edgeOf(a netip.Addr, nets []netip.Prefix) (netip.Prefix, string, bool) {
	for _, p := range nets {
		if !p.Contains(a) || p.Bits() > 30 {
			continue
		}
		if a == p.Masked().Addr() {
			return p, "network", true
		}
		b := p.Masked().Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
		if a == netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) {
			return p, "broadcast", true
		}
	}
	return netip.Prefix{}, "", false
}

// crossCheck validates what no single key can: required sections, unique names, overlapping ports.
func (d *decoder) crossCheck(cfg *Config, doc, wanNode, lanNode, fwdNode *yaml.Node) {
	if wanNode == nil {
		d.errorf(doc, "wan", "add `wan: {interface: eth0}`", "required section is missing")
	} else if lacks(wanNode, "interface") {
		d.errorf(wanNode, "wan.interface", "add `interface: eth0` (your WAN interface)", "required key is missing")
	}
	if lanNode == nil {
		d.errorf(doc, "lan", "add `lan: {interface: br-lan}`", "required section is missing")
	} else if lacks(lanNode, "interface") && len(cfg.LAN.Subnets) == 0 {
		d.errorf(lanNode, "lan.interface", "add `interface: br-lan` or `subnets: [192.168.88.0/24]`", "required key is missing")
	}
	switch {
	case cfg.Backend == BackendRouterOS && cfg.RouterOS == nil && !d.export:
		d.errorf(valueOf(doc, "backend"), "backend", "add a `routeros:` section with url, username and password_file", "backend routeros needs the router's address and login")
	case cfg.Backend != BackendRouterOS && cfg.RouterOS != nil:
		d.warnf(valueOf(doc, "routeros"), "routeros", "add `backend: routeros` to manage the MikroTik, or remove the section", "the routeros section is ignored with backend %s", cfg.Backend)
	}
	if cfg.Backend == BackendRouterOS {
		for i, f := range cfg.Forwards {
			if f.To6.IID {
				item := d.fwdItems[i]
				d.warnf(item.value("to6"), fmt.Sprintf("forwards[%d].to6", item.index), "write the target's full IPv6 address (a ULA keeps it stable), or use backend linux",
					"the routeros backend forwards a literal to6 address only (following the LAN prefix for an interface identifier would take a script on the router); this forward works on IPv4 only")
			}
		}
	}
	if lanNode != nil && cfg.LAN.Interface == "" && len(cfg.LAN.Subnets) > 0 && cfg.Backend != BackendRouterOS {
		for i, f := range cfg.Forwards {
			if d.fwdAllow[i] != nil || f.Limit != nil {
				item := d.fwdItems[i]
				d.warnf(lanNode, "lan.interface", "add `interface:` with the LAN's interface",
					"without lan.interface, a LAN source address arriving on any interface but the WAN (a guest network, a VPN) passes the allow lists and limits, as LAN traffic does; forward %q (line %d) has them", f.Name, item.line)
				break
			}
		}
	}
	if cfg.WAN.Interface != "" && cfg.WAN.Interface == cfg.LAN.Interface {
		d.errorf(valueOf(lanNode, "interface"), "lan.interface", "hairpin needs distinct WAN and LAN interfaces", "%q is also the WAN interface", cfg.LAN.Interface)
	}
	switch {
	case fwdNode == nil:
		d.warnf(doc, "forwards", "add a `forwards:` list", "no forwards configured; hairpin will install an empty table")
	case fwdNode.Kind == yaml.SequenceNode && d.fwd.count == 0 && len(cfg.DDNS) == 0:
		// An empty list with nothing else to do is a config that does nothing, and says ok: most likely the
		// forwards were commented out, or are still to be written.
		d.errorf(fwdNode, "forwards", "add a forward (`- {name: cam, port: 8090, to: 192.168.88.180:80}`), or a `ddns:` entry to use hairpin for dynamic DNS only",
			"the list is empty and there is no ddns entry: hairpin would do nothing")
	}
	d.checkForwardSet(cfg)
}

// lacks reports whether section n, a mapping or empty, has no key named key. A section of the wrong kind was
// already reported by mapping, so it does not lack anything here.
func lacks(n *yaml.Node, key string) bool {
	if isNull(n) {
		return true
	}
	return n.Kind == yaml.MappingNode && valueOf(n, key) == n
}

// valueOf returns the value of key in mapping n, or n itself when there is none, so that an error about the key
// points at the value when it exists and at the section otherwise.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return resolveAlias(n.Content[i+1])
			}
		}
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (d *decoder) checkForwardSet(cfg *Config) {
	d.checkOverlaps(cfg)
	names := make(map[string]int, len(cfg.Forwards))
	for i, f := range cfg.Forwards {
		item := d.fwdItems[i]
		key := func() string { return "forwards[" + strconv.Itoa(item.index) + "]" } // built only for a problem
		if j, dup := names[f.Name]; dup && f.Name != "" {
			d.errorf(item.value("name"), key()+".name", fmt.Sprintf("forwards[%d] on line %d has it already; names must be unique", d.fwdItems[j].index, cfg.Forwards[j].Line), "duplicate name %q", f.Name)
		} else {
			names[f.Name] = i
		}
		if p, which, ok := edgeOf(f.To, cfg.LAN.Subnets); f.To.IsValid() && ok {
			d.errorf(item.value("to"), key()+".to", "forward to a host's own address inside "+p.String(),
				"%s is the %s address of LAN subnet %s", f.To, which, p)
		} else if len(cfg.LAN.Subnets) > 0 && f.To.IsValid() && !inAny(f.To, cfg.LAN.Subnets) {
			d.warnf(item.value("to"), key()+".to", "hairpin masquerades only LAN-to-LAN flows; a target elsewhere works from the internet only", "%s is outside the LAN subnets", f.To)
		}
	}
}

func inAny(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkOverlaps reports each forward whose external ports overlap an earlier one's for the same protocol, once,
// naming one forward it collides with. It sorts and sweeps, keeping only the open range that reaches
// furthest, so the work is O(n log n) whatever the overlaps: a config of 50,000 forwards validates in
// milliseconds, and 2,000 forwards on one port give 1,999 short reports instead of two million.
func (d *decoder) checkOverlaps(cfg *Config) {
	type span struct {
		r PortRange
		i int
	}
	reported := map[int]bool{}
	for _, p := range []Protocol{TCP, UDP} {
		var spans []span
		for i, f := range cfg.Forwards {
			if f.Port.First != 0 && f.Protocol.Has(p) {
				spans = append(spans, span{f.Port, i})
			}
		}
		sort.Slice(spans, func(a, b int) bool {
			if spans[a].r.First != spans[b].r.First {
				return spans[a].r.First < spans[b].r.First
			}
			return spans[a].i < spans[b].i
		})
		var reach span // the range seen so far that ends last
		for n, s := range spans {
			if n > 0 && reach.r.Last >= s.r.First {
				// Report on the later of the two in file order; a forward is reported once.
				later, earlier := max(reach.i, s.i), min(reach.i, s.i)
				if !reported[later] {
					reported[later] = true
					f, g := cfg.Forwards[later], cfg.Forwards[earlier]
					item := d.fwdItems[later]
					d.errorf(item.value("port"), fmt.Sprintf("forwards[%d].port", item.index),
						fmt.Sprintf("%q on line %d uses %s %s; pick ports that do not overlap", g.Name, g.Line, p, g.Port),
						"%s port %s overlaps another forward", p, f.Port)
				}
			}
			if n == 0 || s.r.Last > reach.r.Last {
				reach = s
			}
		}
	}
}
