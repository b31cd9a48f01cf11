package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/publicip"
)

// hairpin check (config.Parse) and hairpin run (publicip.NewDiscoverer) judge every public_ip source alike: a
// config that check passes never fails at start for its sources, and the reverse.
func TestCheckAndRunJudgePublicIPSourcesAlike(t *testing.T) {
	sources := append([]string{
		"https://ip.example.net/", "http://192.0.2.1/ip", "https://user:secret@ip.example.net/",
		"stun:stun.example.net", "stun:stun.example.net:3478", "stun:192.0.2.1:19302",
		"dns:ns1.example.net", "dns:192.0.2.53:5353", "dns:192.0.2.53/me.example.net", "dns:192.0.2.53:5353/me.example.net",
		"https://", "http://", "ftp://x", "ip.example.net", "stun:", "stun::3478", "dns:", "dns:/me.example.net",
		// Where the two parsers used to disagree: a port that is not a number or is 0 passed run, a name
		// that is not a domain name passed check.
		"dns:host:port", "stun:host:0", "stun:host:65536", "dns:192.0.2.53/bad..name", "dns:192.0.2.53/" + strings.Repeat("a", 64) + ".example.net",
	}, publicip.DefaultSources()...)
	for _, s := range sources {
		t.Run(s, func(t *testing.T) {
			_, checkErr := Parse("hairpin.yaml", []byte(fmt.Sprintf("wan: {interface: eth0, public_ip: [%q]}\nlan: {interface: br-lan}\n", s)))
			_, runErr := publicip.NewDiscoverer([]string{s}, publicip.Options{})
			if (checkErr == nil) != (runErr == nil) {
				t.Errorf("check says %v, run says %v", checkErr, runErr)
			}
		})
	}
}
