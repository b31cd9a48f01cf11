package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// parsePrefixFileByNetip is what ParsePrefixFile must equal: every line through netip (ParseAllowPrefix),
// then NormalizePrefixes, with ParseAllowFile's issues.
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
	return NormalizePrefixes(out), issues
}

// FuzzParsePrefixFile holds the fast reader (hand parser, keys, radix sort) to netip and NormalizePrefixes.
func FuzzParsePrefixFile(f *testing.F) {
	f.Add([]byte("198.51.100.0/24\n# c\n192.0.2.1 # x\n10.0.0.0/8\n10.1.0.0/16\n10.1.0.0/16\n0.0.0.0/0\n"))
	f.Add([]byte("1.2.3.4/33\n\xff\n01.2.3.4\n1.2.3.4/08\n1.2.3.5/31\n::1\n1.2.3.4/\n 203.0.113.0/24 \r\n255.255.255.255"))
	f.Add([]byte("9.0.0.0/8\n8.0.0.0/8\n8.8.8.8\n1.0.0.0/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 4000 {
				return // the scanner's line limit: issues differ in form at its edge
			}
		}
		got, issues := ParsePrefixFile("f", data)
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
