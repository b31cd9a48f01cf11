package daemon

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

func TestVerdict(t *testing.T) {
	ok := func() *Status {
		return &Status{WANInterface: "wan0", WANExists: true, Installed: true, ForwardSet: []string{"203.0.113.10"},
			Forwards:     []ForwardStatus{{Name: "web"}},
			Reachability: []reach.Verdict{{Family: "ipv4", Class: reach.Public}},
			Probe:        &ProbeStatus{Results: []ForwardProbed{{Forward: "web", Result: "open"}}}}
	}
	for _, tc := range []struct {
		name   string
		change func(*Status)
		level  string
		reason string
	}{
		{"all good", func(*Status) {}, Green, "the probe reached every forward"},
		{"no WAN", func(s *Status) { s.WANExists = false }, Red, "the WAN interface wan0 does not exist"},
		{"not installed", func(s *Status) { s.Installed, s.LastError = false, "nft: permission denied" }, Red, "not installed: nft: permission denied"},
		{"cgnat", func(s *Status) { s.Reachability[0].Class, s.Reachability[0].Reason = reach.CGNAT, "100.64.0.0/10" }, Red, "IPv4 cannot be reached"},
		{"probe down", func(s *Status) { s.Probe.Results[0].Result = "timeout" }, Red, "no answer from the internet: web (timeout)"},
		{"DNS held", func(s *Status) { s.DDNS = []ddns.HostStatus{{Hostname: "h.example", Held: true, Reason: "badauth"}} }, Amber, "DNS updates of h.example are held: badauth"},
		{"DNS disabled", func(s *Status) { s.DDNS = []ddns.HostStatus{{Hostname: "h.example", Disabled: "no secret"}} }, Amber, "disabled: no secret"},
		{"probe failed", func(s *Status) { s.Probe = &ProbeStatus{Error: "connection refused"} }, Amber, "the reachability probe failed"},
		{"behind a second NAT, unknown", func(s *Status) {
			s.Reachability[0].Class, s.Reachability[0].Upstream = reach.DoubleNAT, reach.UnknownMapped
		}, Amber, "second NAT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.change(s)
			v := verdictOf(s)
			if v.Level != tc.level || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("verdict %+v, want %s with %q", v, tc.level, tc.reason)
			}
		})
	}
}
