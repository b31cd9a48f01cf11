package source

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, addr, name, raw string
		bad                 bool
	}{
		{in: "https://api.example.test/ip", raw: "https://api.example.test/ip"},
		{in: "https://user:secret@api.example.test/", raw: "https://user:xxxxx@api.example.test/"},
		{in: "stun:stun.example.test", addr: "stun.example.test:3478"},
		{in: "stun:192.0.2.1:19302", addr: "192.0.2.1:19302"},
		{in: "dns:192.0.2.53", addr: "192.0.2.53:53", name: "myip.opendns.com."},
		{in: "dns:192.0.2.53:5353/me.example.test", addr: "192.0.2.53:5353", name: "me.example.test."},
		{in: "dns:resolver.example.test/me.example.test", addr: "resolver.example.test:53", name: "me.example.test."},
		{in: "dns:", bad: true},
		{in: "stun::3478", bad: true},
		{in: "ftp://x", bad: true},
		{in: "http://", bad: true},
		{in: "dns:192.0.2.53/bad..name", bad: true},
		{in: "dns:host:port", bad: true},
		{in: "stun:host:0", bad: true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s, err := Parse(tt.in)
			if tt.bad {
				if err == nil {
					t.Errorf("Parse(%q) accepted", tt.in)
				}
				return
			}
			if err != nil {
				t.Errorf("Parse(%q): %v", tt.in, err)
				return
			}
			if s.Addr != tt.addr || s.Name != tt.name || (tt.raw != "" && s.Raw != tt.raw) {
				t.Errorf("Parse(%q) = %+v", tt.in, s)
			}
		})
	}
}

// names is a corpus of awkward names: escapes, dots, lengths at and past the limits.
var names = []string{"", ".", "..", "a", "a.", ".a", "a..b", "myip.opendns.com", `a\.b`, `a\`, `a\\`, `a\\.`, `a\.`,
	`\065bc`, `\06`, `ab\`, `a\0`, strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 63) + ".",
	strings.Repeat("abcdefghi.", 25) + "abcd", strings.Repeat("abcdefghi.", 25) + "abcde", strings.Repeat("a.", 127),
	strings.Repeat("a.", 128), strings.Repeat(`\065.`, 60), "a b", "_sip._tcp.example.net", "-.", "xn--bcher-kva.example"}

// The parser agrees with the DNS library the discoverer sends its query with: a name accepted here must be one
// the query can carry, and one refused here the library would refuse too.
func TestDomainNameAgreesWithDNSLibrary(t *testing.T) {
	t.Parallel()
	for _, s := range names {
		_, want := dns.IsDomainName(s)
		if got := isDomainName(s); got != want {
			t.Errorf("isDomainName(%q) = %v, the DNS library says %v", s, got, want)
		}
		if s != "" && fqdn(s) != dns.Fqdn(s) {
			t.Errorf("fqdn(%q) = %q, the DNS library says %q", s, fqdn(s), dns.Fqdn(s))
		}
	}
}

func FuzzDomainName(f *testing.F) {
	for _, s := range names {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, want := dns.IsDomainName(s); isDomainName(s) != want {
			t.Fatalf("isDomainName(%q) = %v, the DNS library says %v", s, !want, want)
		}
		if s != "" && fqdn(s) != dns.Fqdn(s) {
			t.Fatalf("fqdn(%q) = %q, the DNS library says %q", s, fqdn(s), dns.Fqdn(s))
		}
	})
}
