package daemon

import (
	"fmt"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/reach"
)

// Levels of the overall verdict.
const (
	Green = "green" // every forward works from everywhere, as far as hairpin can tell
	Amber = "amber" // the forwards work, but something needs a look (DNS, the public address, an unknown)
	Red   = "red"   // some forward does not work from the internet, or the rules are not in place
)

// Verdict is the status in one word with its reason.
type Verdict struct {
	Level  string `json:"level"`
	Reason string `json:"reason"`
}

// verdictOf sums s up: the first red reason, else the first amber one, else green.
func verdictOf(s *Status) Verdict {
	if r := redReason(s); r != "" {
		return Verdict{Red, r}
	}
	if r := amberReason(s); r != "" {
		return Verdict{Amber, r}
	}
	r := fmt.Sprintf("%d forwards installed on %s", len(s.Forwards), strings.Join(s.ForwardSet, ", "))
	if s.Probe != nil && len(s.Probe.Results) > 0 {
		r += "; the probe reached every forward from the internet"
	}
	return Verdict{Green, r}
}

func redReason(s *Status) string {
	if !s.WANExists {
		return fmt.Sprintf("the WAN interface %s does not exist", s.WANInterface)
	}
	if !s.Installed {
		if s.LastError != "" {
			return "the rules are not installed: " + s.LastError
		}
		return "the rules are not installed yet"
	}
	for _, v := range s.Reachability {
		if v.Class.Unreachable() && v.Family == "ipv4" {
			return fmt.Sprintf("IPv4 cannot be reached from the internet (%s): %s", v.Class, v.Reason)
		}
	}
	if s.Probe != nil && s.Probe.Error == "" {
		var down []string
		for _, r := range s.Probe.Results {
			if r.Result != probe.ResultOpen {
				down = append(down, fmt.Sprintf("%s (%s)", r.Forward, r.Result))
			}
		}
		if len(down) > 0 {
			return "no answer from the internet: " + strings.Join(down, ", ")
		}
	}
	return ""
}

func amberReason(s *Status) string {
	if s.LastError != "" {
		return s.LastError
	}
	for _, v := range s.Reachability {
		switch {
		case v.Class == reach.Unknown:
			return fmt.Sprintf("%s reachability unknown: %s", v.Family, v.Reason)
		case v.Upstream == reach.UnknownMapped:
			return fmt.Sprintf("behind a second NAT and it is unknown whether the box in front forwards the ports: %s", v.Advice)
		}
	}
	for _, h := range s.DDNS {
		switch {
		case h.Disabled != "":
			return fmt.Sprintf("DNS of %s is disabled: %s", h.Hostname, h.Disabled)
		case h.Held:
			return fmt.Sprintf("DNS updates of %s are held: %s", h.Hostname, h.Reason)
		case h.LastError != "":
			return fmt.Sprintf("the last DNS update of %s failed: %s", h.Hostname, h.LastError)
		case h.Withheld != "":
			return fmt.Sprintf("DNS of %s is withheld: %s", h.Hostname, h.Withheld)
		}
	}
	if s.PublicError != "" {
		return "the public address is unknown: " + s.PublicError
	}
	if s.Probe != nil && s.Probe.Error != "" {
		return "the reachability probe failed: " + s.Probe.Error
	}
	return ""
}
