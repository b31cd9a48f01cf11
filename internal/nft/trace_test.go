package nft

import (
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// packet is the first packet of a connection as the tracer follows it.
type packet struct {
	src, dst netip.Addr
	proto    string // tcp or udp
	dport    uint16
	local    bool   // opened by the router itself (output hook) instead of arriving on an interface
	iif      string // the interface it arrived on
}

// tracer walks a packet through the chains of a knftables.Fake the way the kernel would for the first packet
// of a connection (after kube-proxy's nftablesTracer): nat prerouting or output, then, unless the packet is for
// the router itself, filter forward and nat postrouting. It understands exactly the expressions hairpin
// writes and fails the test on anything else, so a change in the rule shape cannot slip past it.
type tracer struct {
	t     *testing.T
	table *knftables.FakeTable
	own   []netip.Addr // the router's own addresses: a packet for one of them is delivered locally

	pkt     packet
	origDst netip.Addr // conntrack's original destination
	origDP  uint16
	dnat    bool // ct status dnat
	ctmark  uint32
	events  []string
}

func newTracer(t *testing.T, fake *knftables.Fake, own ...string) *tracer {
	tr := &tracer{t: t, table: fake.Table}
	for _, s := range own {
		tr.own = append(tr.own, netip.MustParseAddr(s))
	}
	return tr
}

// trace returns what happened to p, e.g. ["dnat 192.168.88.180:80", "count tcp 8090", "masquerade"].
func (tr *tracer) trace(p packet) []string {
	tr.pkt, tr.origDst, tr.origDP, tr.dnat, tr.ctmark, tr.events = p, p.dst, p.dport, false, 0, nil
	if p.local {
		tr.hook(knftables.OutputHook, knftables.NATType)
		tr.hook(knftables.PostroutingHook, knftables.NATType)
		return tr.events
	}
	tr.hook(knftables.PreroutingHook, knftables.NATType)
	if slices.Contains(tr.own, tr.pkt.dst) {
		return append(tr.events, "input")
	}
	tr.hook(knftables.ForwardHook, knftables.FilterType)
	tr.hook(knftables.PostroutingHook, knftables.NATType)
	return tr.events
}

func (tr *tracer) hook(hook knftables.BaseChainHook, typ knftables.BaseChainType) {
	for _, name := range sortedKeys(tr.table.Chains) {
		c := tr.table.Chains[name]
		if c.Hook != nil && *c.Hook == hook && *c.Type == typ {
			tr.chain(name)
		}
	}
}

// chain runs the rules of a chain; it returns true when a verdict ended the walk.
func (tr *tracer) chain(name string) bool {
	c := tr.table.Chains[name]
	if c == nil {
		tr.t.Fatalf("jump to missing chain %s", name)
	}
	for _, r := range c.Rules {
		if tr.rule(strings.Fields(r.Rule)) {
			return true
		}
	}
	return false
}

// rule evaluates one rule's words left to right: matches until one fails, then the statement.
func (tr *tracer) rule(w []string) bool {
	for len(w) > 0 {
		switch {
		case len(w) >= 5 && w[0] == "ip" && w[1] == "saddr" && w[2] == "&":
			// The allow lists' lookup of a masked address in a set of network addresses.
			mask := netip.MustParseAddr(w[3]).As4()
			a := tr.pkt.src.As4()
			for i := range a {
				a[i] &= mask[i]
			}
			if !tr.inSet(w[4], netip.AddrFrom4(a).String()) {
				return false
			}
			w = w[5:]
		case len(w) >= 3 && w[0] == "ip" && (w[1] == "daddr" || w[1] == "saddr"):
			a := tr.pkt.dst
			if w[1] == "saddr" {
				a = tr.pkt.src
			}
			if !tr.inSet(w[2], a.String()) {
				return false
			}
			w = w[3:]
		case len(w) >= 2 && w[0] == "iifname":
			want, neg := w[1], false
			if w[1] == "!=" && len(w) >= 3 {
				want, neg = w[2], true
				w = w[1:]
			}
			if tr.pkt.local || (strconv.Quote(tr.pkt.iif) == want) == neg {
				return false
			}
			w = w[2:]
		case len(w) >= 7 && strings.Join(w[:6], " ") == "ct mark set ct mark or":
			v, err := strconv.ParseUint(w[6], 0, 32)
			if err != nil {
				tr.t.Fatalf("mark %q: %v", w[6], err)
			}
			tr.ctmark |= uint32(v)
			w = w[7:]
		case len(w) >= 6 && strings.Join(w[:3], " ") == "ct mark and" && strings.Join(w[4:6], " ") == "!= 0":
			v, err := strconv.ParseUint(w[3], 0, 32)
			if err != nil {
				tr.t.Fatalf("mark %q: %v", w[3], err)
			}
			if tr.ctmark&uint32(v) == 0 {
				return false
			}
			w = w[6:]
		case len(w) >= 3 && w[0] == "ct" && w[1] == "status" && w[2] == "dnat":
			if !tr.dnat {
				return false
			}
			w = w[3:]
		case len(w) >= 5 && w[0] == "ct" && w[1] == "original" && w[2] == "ip" && w[3] == "daddr":
			if !tr.inSet(w[4], tr.origDst.String()) {
				return false
			}
			w = w[5:]
		case len(w) >= 4 && w[0] == "ct" && w[1] == "original" && w[2] == "protocol":
			if tr.pkt.proto != w[3] {
				return false
			}
			w = w[4:]
		case len(w) >= 4 && w[0] == "ct" && w[1] == "original" && w[2] == "proto-dst":
			port := strconv.Itoa(int(tr.origDP))
			if !tr.inSet(w[3], port) {
				return false
			}
			tr.events = append(tr.events, "count "+tr.pkt.proto+" "+port)
			w = w[4:]
		case len(w) >= 7 && w[0] == "update" && strings.Join(w[2:], " ") == "{ ct original proto-dst }":
			// The dynamic counting set: the packet creates or updates its port's element.
			tr.events = append(tr.events, "count "+tr.pkt.proto+" "+strconv.Itoa(int(tr.origDP)))
			w = w[7:]
		case len(w) == 2 && w[0] == "jump":
			return tr.chain(w[1])
		case strings.Join(w, " ") == "dnat ip to meta l4proto . th dport map @"+mapDNAT:
			return tr.dnatMap()
		case len(w) == 1 && w[0] == "masquerade":
			tr.events = append(tr.events, "masquerade")
			return true
		default:
			tr.t.Fatalf("tracer does not understand %q", strings.Join(w, " "))
		}
	}
	return false
}

func (tr *tracer) dnatMap() bool {
	m := tr.table.Maps[mapDNAT]
	e := m.FindElement(tr.pkt.proto, strconv.Itoa(int(tr.pkt.dport)))
	if e == nil {
		return false // no element: the rule does not match and the packet goes on untouched
	}
	port, _ := strconv.Atoi(e.Value[1])
	tr.pkt.dst, tr.pkt.dport, tr.dnat = netip.MustParseAddr(e.Value[0]), uint16(port), true
	tr.events = append(tr.events, "dnat "+netip.AddrPortFrom(tr.pkt.dst, tr.pkt.dport).String())
	return true
}

// inSet looks key up in a set, by prefix for an interval set.
func (tr *tracer) inSet(ref, key string) bool {
	name, ok := strings.CutPrefix(ref, "@")
	s := tr.table.Sets[name]
	if !ok || s == nil {
		tr.t.Fatalf("rule refers to missing set %q", ref)
	}
	if !slices.Contains(s.Flags, knftables.IntervalFlag) {
		return s.FindElement(key) != nil
	}
	a := netip.MustParseAddr(key)
	for _, e := range s.Elements {
		if netip.MustParsePrefix(e.Key[0]).Contains(a) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tcp is a packet from src: from the LAN interface for a 192.168.88.x source, else from the WAN.
func tcp(src, dst string, port uint16) packet {
	iif := "ether1"
	if strings.HasPrefix(src, "192.168.88.") {
		iif = "bridge-local"
	}
	return packet{src: netip.MustParseAddr(src), dst: netip.MustParseAddr(dst), proto: "tcp", dport: port, iif: iif}
}

func TestTracePackets(t *testing.T) {
	const (
		wan      = "203.0.113.7"
		lanIP    = "192.168.88.1"
		laptop   = "192.168.88.10"
		internet = "198.51.100.20"
	)
	udp := tcp(internet, wan, 8090)
	udp.proto = "udp"
	fromRouter := tcp(lanIP, wan, 8092)
	fromRouter.local = true
	spoofed := tcp("192.168.88.50", wan, 8090)
	spoofed.iif = "ether1"
	tests := []struct {
		name string
		pkt  packet
		want []string
	}{
		// The article's point: the same bookmark works at home and away.
		{"LAN client to the WAN address is DNATed and masqueraded", tcp(laptop, wan, 8090),
			[]string{"dnat 192.168.88.180:80", "count tcp 8090", "masquerade"}},
		{"internet client is DNATed and keeps its address", tcp(internet, wan, 8091),
			[]string{"dnat 192.168.88.181:80", "count tcp 8091"}},
		{"the router itself reaches a forward", fromRouter, []string{"dnat 192.168.88.182:80", "masquerade"}},
		{"a port that is not forwarded reaches the router", tcp(internet, wan, 22), []string{"input"}},
		{"udp on a tcp forward's port is not forwarded", udp, []string{"input"}},
		{"LAN to LAN traffic is left alone", tcp(laptop, "192.168.88.180", 80), nil},
		{"LAN client to the router's LAN address", tcp(laptop, lanIP, 8090), []string{"input"}},
		{"internet traffic to other hosts", tcp(internet, "192.168.88.180", 80), nil},
		// rp_filter is often loose or off: a packet from the internet with a LAN source must not be made to
		// look like a LAN caller to the camera.
		{"spoofed LAN source from the WAN is not masqueraded", spoofed, []string{"dnat 192.168.88.180:80", "count tcp 8090"}},
	}
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	tr := newTracer(t, fake, wan, lanIP)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr.t = t
			if got := tr.trace(tt.pkt); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("trace = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTraceNegativeControl(t *testing.T) {
	d := camerasPlan(t)
	d.Masquerade = false
	b, fake := NewFake()
	apply(t, b, d)
	got := newTracer(t, fake, "203.0.113.7", "192.168.88.1").trace(tcp("192.168.88.10", "203.0.113.7", 8090))
	// DNATed but not masqueraded: the camera would answer the laptop directly and the connection would hang.
	if want := []string{"dnat 192.168.88.180:80", "count tcp 8090"}; !reflect.DeepEqual(got, want) {
		t.Errorf("trace = %q, want %q", got, want)
	}
}

// Behind a second NAT the router's WAN address is private; LAN clients use the public address, which the
// router does not own, and must be hairpinned all the same.
func TestTraceDoubleNAT(t *testing.T) {
	cfg := &config.Config{
		WAN: config.WAN{Interface: "ether1", DoubleNAT: config.DoubleNATAuto},
		LAN: config.LAN{Interface: "bridge-local"},
		Forwards: []config.Forward{{Name: "front-cam", Protocol: config.Both, Port: config.PortRange{First: 8090, Last: 8090},
			To: netip.MustParseAddr("192.168.88.180"), ToPort: config.PortRange{First: 80, Last: 80}}},
	}
	d, _ := plan.Build(cfg, plan.Observed{
		WANAddrs: []netip.Addr{netip.MustParseAddr("192.168.1.2")},
		LANNets:  []netip.Prefix{netip.MustParsePrefix("192.168.88.1/24")},
		Public:   netip.MustParseAddr("198.51.100.1"),
	}, plan.Options{})
	b, fake := NewFake()
	apply(t, b, d)
	tr := newTracer(t, fake, "192.168.1.2", "192.168.88.1")
	udpFromUpstream := tcp("192.168.1.50", "192.168.1.2", 8090)
	udpFromUpstream.proto = "udp"
	for _, tt := range []struct {
		name string
		pkt  packet
		want []string
	}{
		{"LAN client to the public address", tcp("192.168.88.10", "198.51.100.1", 8090),
			[]string{"dnat 192.168.88.180:80", "count tcp 8090", "masquerade"}},
		{"forwarded by the upstream NAT to the WAN address", tcp("192.168.1.50", "192.168.1.2", 8090),
			[]string{"dnat 192.168.88.180:80", "count tcp 8090"}},
		{"udp half of a both forward", udpFromUpstream, []string{"dnat 192.168.88.180:80", "count udp 8090"}},
	} {
		tr.t = t
		if got := tr.trace(tt.pkt); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: trace = %q, want %q", tt.name, got, tt.want)
		}
	}
}
