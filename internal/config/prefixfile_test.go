package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
)

// parsePrefixFileByNetip is what ParseAllowFile must equal: every line through netip (ParseAllowPrefix), then
// normalizeByNetip.
func parsePrefixFileByNetip(data []byte) ([]netip.Prefix, []string) {
	var out []netip.Prefix
	var issues []string
	for i, line := range strings.Split(string(data), "\n") {
		if i == strings.Count(string(data), "\n") && line == "" {
			break
		}
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := ParseAllowPrefix(line)
		if err != nil {
			issues = append(issues, fmt.Sprintf("%d: %s", i+1, err))
			continue
		}
		out = append(out, p)
	}
	return normalizeByNetip(out), issues
}

// normalizeByNetip sorts prefixes by address, then length, and drops every one inside the one kept before it:
// NormalizePrefixes by netip, without the keys.
func normalizeByNetip(p []netip.Prefix) []netip.Prefix {
	sort.Slice(p, func(i, j int) bool {
		if c := p[i].Addr().Compare(p[j].Addr()); c != 0 {
			return c < 0
		}
		return p[i].Bits() < p[j].Bits()
	})
	var out []netip.Prefix
	for _, q := range p {
		if n := len(out); n > 0 && out[n-1].Contains(q.Addr()) {
			continue
		}
		out = append(out, q)
	}
	return out
}

// FuzzParseAllowFile holds the fast reader (hand parser, keys, radix sort) to netip and normalizeByNetip, and
// every issue to a position.
func FuzzParseAllowFile(f *testing.F) {
	f.Add([]byte("198.51.100.0/24\n# c\n192.0.2.1 # x\n10.0.0.0/8\n10.1.0.0/16\n10.1.0.0/16\n0.0.0.0/0\n"))
	f.Add([]byte("1.2.3.4/33\n\xff\n01.2.3.4\n1.2.3.4/08\n1.2.3.5/31\n::1\n1.2.3.4/\n 203.0.113.0/24 \r\n255.255.255.255"))
	f.Add([]byte("9.0.0.0/8\n8.0.0.0/8\n8.8.8.8\n1.0.0.0/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 4000 {
				return // the scanner's line limit: issues differ in form at its edge
			}
		}
		got, issues := ParseAllowFile("f", data)
		for _, is := range issues {
			if is.Line < 1 || is.Problem == "" {
				t.Fatalf("issue without position: %+v", is)
			}
		}
		want, wantIssues := parsePrefixFileByNetip(data)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q: got %v, want %v", data, got, want)
		}
		var gotIssues []string
		for _, is := range issues {
			gotIssues = append(gotIssues, fmt.Sprintf("%d: %s", is.Line, is.Problem))
		}
		if fmt.Sprint(gotIssues) != fmt.Sprint(wantIssues) {
			t.Fatalf("%q: issues %v, want %v", data, gotIssues, wantIssues)
		}
	})
}

func TestPrefixKeyAgreesWithNetip(t *testing.T) {
	for _, s := range []string{"1.2.3.4", "1.2.3.0/24", "0.0.0.0/0", "255.255.255.255/32", "01.2.3.4", "1.2.3.4/024", "1.2.3", "1.2.3.4.5",
		"256.1.1.1", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/x", "1.2.3.5/31", "1234.1.1.1", "1.2.3.4 ", "::1", "a.b.c.d", "10.0.0.0/08"} {
		want, werr := ParseAllowPrefix(s)
		key, ok := prefixKey([]byte(s))
		got := prefixesOfKeys([]uint64{key})
		if ok != (werr == nil) || ok && fmt.Sprint(got) != fmt.Sprint([]netip.Prefix{want}) {
			t.Errorf("%q: fast %x %v, netip %v %v", s, key, ok, want, werr)
		}
	}
}

// A list that is not sorted is sorted (radix) the way NormalizePrefixes sorts it.
func TestParseAllowFileSorts(t *testing.T) {
	got, issues := ParseAllowFile("f", []byte("203.0.113.0/24\n10.1.0.0/16\n10.0.0.0/8\n192.0.2.7\n192.0.2.0/24\n1.0.0.0/24\n"))
	if want := "[1.0.0.0/24 10.0.0.0/8 192.0.2.0/24 203.0.113.0/24]"; fmt.Sprint(got) != want || len(issues) != 0 {
		t.Errorf("got %v %v, want %s", got, issues, want)
	}
}

// BenchmarkParseAllowFile reads 100,000 prefixes in random order, as make bench's allowlist list.
func BenchmarkParseAllowFile(b *testing.B) {
	var buf strings.Builder
	x := uint32(12345)
	for range 100_000 {
		x = x*1664525 + 1013904223
		a := (x>>12)%(223<<12) + 1<<12
		fmt.Fprintf(&buf, "%s\n", netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 12), byte(a >> 4), byte(a << 4), 0}), 20+int(x%5)).Masked())
	}
	data := []byte(buf.String())
	if _, issues := ParseAllowFile("f", data); len(issues) > 0 {
		b.Fatal(issues[0])
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ParseAllowFile("f", data)
	}
}
