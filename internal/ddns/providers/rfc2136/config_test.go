package rfc2136_test

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	_ "github.com/hairpin-nat/hairpin/internal/ddns/providers" // the providers' table config reads entries with
)

// TestConfigRefusesUnwritableNames: a zone or tsig_key no DNS message can carry is a config error at its line,
// with the fix; the control, the same entry with writable names, parses.
func TestConfigRefusesUnwritableNames(t *testing.T) {
	parse := func(zone, key string) error {
		_, err := config.Parse("hairpin.yaml", []byte("wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n"+
			"  - provider: rfc2136\n    hostname: home.example.net\n    server: 192.0.2.53\n"+
			"    zone: "+zone+"\n    tsig_key: "+key+"\n    tsig_secret_env: TSIG\n"))
		return err
	}
	if err := parse("example.net", "hairpin-key"); err != nil {
		t.Fatalf("writable names: %v", err)
	}
	err := parse("example..net", strings.Repeat("k", 64))
	for _, want := range []string{
		`hairpin.yaml:7:11: ddns[0].zone: "example..net" cannot be sent in a DNS message`,
		`hairpin.yaml:8:15: ddns[0].tsig_key: "` + strings.Repeat("k", 64) + `" cannot be sent in a DNS message: malformed name`,
		"(write a DNS name: labels of 1 to 63 characters joined by dots)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to say %s", err, want)
		}
	}
}
