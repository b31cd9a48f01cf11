package lab

import (
	"net/netip"
	"regexp"
	"strings"
)

// Update is one A record BIND added on a DNS UPDATE, as its log tells.
type Update struct {
	From netip.Addr // the sender
	Name string
	Addr netip.Addr
}

// BIND logs "client @0x... 203.0.113.2#41234/key hairpin-key: updating zone 'example.net/IN': adding an RR
// at 'home.example.net' A 203.0.113.2".
var updateLine = regexp.MustCompile(`client @\S+ ([0-9.]+)#\d+[^:]*: updating zone '[^']*': adding an RR at '([^']+)' A ([0-9.]+)`)

// Updates lists the A records BIND added by DNS UPDATE, in order: who sent which address. The lab counts
// updates from its log because only the server sees both routers' updates.
func (s *DNSServer) Updates() []Update {
	var out []Update
	for _, l := range strings.Split(s.log.String(), "\n") {
		m := updateLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		from, err1 := netip.ParseAddr(m[1])
		a, err2 := netip.ParseAddr(m[3])
		if err1 == nil && err2 == nil {
			out = append(out, Update{From: from, Name: m[2], Addr: a})
		}
	}
	return out
}

// Log is what named printed, for a failing test.
func (s *DNSServer) Log() string { return s.log.String() }
