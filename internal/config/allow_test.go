package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/secret"
)

func TestParseAllow(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "office.txt")
	if err := os.WriteFile(list, []byte("# office\n198.51.100.0/25\n\n198.51.100.64/26  # inside the /25\n192.0.2.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(file, withHeader(
		"  - name: cam",
		"    port: 8090",
		"    to: 192.168.88.180:80",
		"    allow: [family, 203.0.113.0/24, Phone.Example.NET., "+list+"]",
		"    limit: {new_per_source: 10/minute, burst: 20}",
		"  - name: nvr",
		"    port: 8443",
		"    to: 192.168.88.181",
		"    allow: family",
		"    limit: {new_per_source: 3/hours}",
		"  - name: open",
		"    port: 80",
		"    to: 192.168.88.182",
		"allow_sets:",
		"  family: [parents.example.org, 198.51.100.200]",
		"  unused: [192.0.2.0/24]",
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []AllowSet{
		{ID: "fwd-cam", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("203.0.113.0/24")},
			Hosts: []string{"phone.example.net"}, Files: []string{list}, Line: 9},
		{ID: "set-family", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.200/32")}, Hosts: []string{"parents.example.org"}, Line: 20},
	}
	if !reflect.DeepEqual(cfg.AllowSets, want) {
		t.Errorf("allow sets:\n got %+v\nwant %+v", cfg.AllowSets, want)
	}
	cam, nvr, open := cfg.Forwards[0], cfg.Forwards[1], cfg.Forwards[2]
	if !cam.AllowOn || !reflect.DeepEqual(cam.Allow, []string{"fwd-cam", "set-family"}) || *cam.Limit != (Limit{10, "minute", 20}) {
		t.Errorf("cam: allow %v %v limit %+v", cam.AllowOn, cam.Allow, cam.Limit)
	}
	if !nvr.AllowOn || !reflect.DeepEqual(nvr.Allow, []string{"set-family"}) || *nvr.Limit != (Limit{3, "hour", 3}) {
		t.Errorf("nvr: allow %v %v limit %+v (burst defaults to the count)", nvr.AllowOn, nvr.Allow, nvr.Limit)
	}
	if open.AllowOn || open.Allow != nil || open.Limit != nil {
		t.Errorf("a forward without allow must stay open: %+v", open)
	}
	if got := render(cfg.Warnings); len(got) != 1 || !strings.Contains(got[0], "hairpin.yaml:21:11: allow_sets.unused: no forward uses this set") {
		t.Errorf("warnings: %q", got)
	}
}

func TestParseAllowErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("198.51.100.0/24\n\n10.0.0.300\n# fine\n2001:db8::/32\n198.51.100.7/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fwd := func(allow string) []byte {
		return withHeader("  - name: cam", "    port: 8090", "    to: 192.168.88.180", "    allow: "+allow)
	}
	const at = "hairpin.yaml:9:"
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"host bits", fwd("[198.51.100.7/24]"), []string{at + "13: forwards[0].allow[0]: 198.51.100.7/24 has bits set past the /24; write 198.51.100.0/24, or 198.51.100.7/32 for the one address (" + allowHint + ")"}},
		{"ipv6", fwd("[2001:db8::/32]"), []string{at + "13: forwards[0].allow[0]: 2001:db8::/32 is IPv6; hairpin forwards IPv4 only (" + allowHint + ")"}},
		{"bad address", fwd("[10.0.0.256]"), []string{at + "13: forwards[0].allow[0]: \"10.0.0.256\" is not an IPv4 address (" + allowHint + ")"}},
		{"bad prefix length", fwd("[10.0.0.0/33]"), []string{at + "13: forwards[0].allow[0]: \"10.0.0.0/33\" is not an IPv4 prefix (" + allowHint + ")"}},
		{"relative file", fwd("[lists/office.txt]"), []string{at + "13: forwards[0].allow[0]: \"lists/office.txt\" is not an IPv4 prefix (file paths must be absolute, e.g. /etc/hairpin/office.txt)"}},
		{"bad hostname", fwd("[-bad-.example.com]"), []string{at + "13: forwards[0].allow[0]: \"-bad-.example.com\" is not a prefix, hostname, file or set name (" + allowHint + ")"}},
		{"unknown set", fwd("[family]"), []string{at + "13: forwards[0].allow: no allow_sets entry named \"family\" (define it under allow_sets, or write a hostname in full (with its domain))"}},
		{"duplicate host", fwd("[a.example.com, A.example.com]"), []string{at + "28: forwards[0].allow[1]: hostname a.example.com is listed twice (remove one of them)"}},
		{"missing file", fwd("[" + dir + "/nope.txt]"), []string{at + "13: forwards[0].allow[0]: open " + dir + "/nope.txt: no such file or directory (give a readable regular file of prefixes, one per line)"}},
		{"fifo", fwd("[" + fifo + "]"), []string{at + "13: forwards[0].allow[0]: " + fifo + " is a FIFO, not a regular file (give a readable regular file of prefixes, one per line)"}},
		{"bad lines in a file", fwd("[" + bad + "]"), []string{
			bad + ":3:1: forwards[0].allow[0]: \"10.0.0.300\" is not an IPv4 address (one IPv4 prefix or address per line; # starts a comment)",
			bad + ":5:1: forwards[0].allow[0]: 2001:db8::/32 is IPv6; hairpin forwards IPv4 only (one IPv4 prefix or address per line; # starts a comment)",
			bad + ":6:1: forwards[0].allow[0]: 198.51.100.7/24 has bits set past the /24; write 198.51.100.0/24, or 198.51.100.7/32 for the one address (one IPv4 prefix or address per line; # starts a comment)",
		}},
		{"set names another set", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "allow_sets:", "  a: [b]"),
			[]string{"hairpin.yaml:4:7: allow_sets.a[0]: \"b\" is not a hostname (it has no dot) (an allow_sets entry cannot name another set; list its entries here, or write the hostname in full)"}},
		{"bad set name", yamlLines("wan: {interface: eth0}", "lan: {interface: br-lan}", "allow_sets:", "  Family: [192.0.2.1]"),
			[]string{"hairpin.yaml:4:3: allow_sets.Family: \"Family\" is not a valid set name (use 1 to 32 lowercase letters, digits and '-', not starting or ending with '-')"}},
		{"bad rate", withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, limit: {new_per_source: 10/fortnight}}"),
			[]string{"hairpin.yaml:6:73: forwards[0].limit.new_per_source: \"10/fortnight\" is not a rate (write COUNT/UNIT with COUNT from 1 to 1000000 and UNIT second, minute, hour or day, e.g. 10/minute)"}},
		{"limit without a rate", withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, limit: {burst: 5}}"),
			[]string{"hairpin.yaml:6:56: forwards[0].limit.new_per_source: required key is missing (add e.g. `new_per_source: 10/minute`)"}},
		{"zero burst", withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, limit: {new_per_source: 1/second, burst: 0}}"),
			[]string{"hairpin.yaml:6:90: forwards[0].limit.burst: 0 is out of range (use a whole number from 1 to 1000000)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(file, tt.data)
			got := issues(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestParseAllowWarnings(t *testing.T) {
	cfg, err := Parse(file, withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, allow: []}", "  - {name: nvr, port: 8091, to: 192.168.88.181, allow: [0.0.0.0/0]}"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hairpin.yaml:6:56: forwards[0].allow: the allow list is empty: only the LAN and the router reach this forward (list who may connect, or remove `allow:` to open the forward to everyone)",
		"hairpin.yaml:7:57: forwards[1].allow[0]: 0.0.0.0/0 allows the whole internet (remove the allow list to say \"everyone\" plainly, or list the networks that need access)",
	}
	if got := render(cfg.Warnings); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if f := cfg.Forwards[0]; !f.AllowOn || len(f.Allow) != 0 {
		t.Errorf("an empty allow list must close the forward to the internet: %+v", f)
	}
}

func TestParseAllowFileTooManyBadLines(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 25; i++ {
		b.WriteString("nope\n")
	}
	path := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(file, withHeader("  - {name: cam, port: 8090, to: 192.168.88.180, allow: ["+path+"]}"))
	got := issues(t, err)
	if len(got) != maxFileIssues+1 || !strings.Contains(got[0], "has 15 more bad lines") {
		t.Errorf("want the first %d bad lines and a count of the rest, got %q", maxFileIssues, got)
	}
}

func TestNormalizePrefixes(t *testing.T) {
	in := []netip.Prefix{}
	for _, s := range []string{"10.1.0.0/16", "10.0.0.0/8", "192.0.2.1/32", "192.0.2.0/24", "192.0.2.0/24", "198.51.100.0/25", "198.51.100.128/25"} {
		in = append(in, netip.MustParsePrefix(s))
	}
	got := fmt.Sprint(NormalizePrefixes(in))
	if want := "[10.0.0.0/8 192.0.2.0/24 198.51.100.0/25 198.51.100.128/25]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestAllowFileReadOnce: each prefix file is read once per config however many lists name it, and the files
// of one config share one byte budget.
func TestAllowFileReadOnce(t *testing.T) {
	files := map[string]string{"/lists/a.txt": "198.51.100.0/24\n", "/lists/b.txt": "203.0.113.0/24\n"}
	reads := map[string]int{}
	var limits []int64
	readAllowFile = func(path string, limit int64) ([]byte, error) {
		reads[path]++
		limits = append(limits, limit)
		return []byte(files[path]), nil
	}
	t.Cleanup(func() { readAllowFile = secret.ReadFile })
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("  - {name: f%d, port: %d, to: 192.168.88.10, allow: [/lists/a.txt, office]}", i, 1000+i))
	}
	lines = append(lines, "allow_sets:", "  office: [/lists/a.txt, /lists/b.txt]")
	cfg, err := Parse(file, withHeader(lines...))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"/lists/a.txt": 1, "/lists/b.txt": 1}; !reflect.DeepEqual(reads, want) {
		t.Errorf("reads %v, want %v", reads, want)
	}
	if want := []int64{MaxAllowFileBytes, MaxAllowFileBytes - int64(len(files["/lists/a.txt"]))}; !reflect.DeepEqual(limits, want) {
		t.Errorf("read limits %v, want %v: the second file gets what the first left", limits, want)
	}
	if len(cfg.AllowSets) != 31 {
		t.Errorf("%d sets, want 30 forwards' own and the office set", len(cfg.AllowSets))
	}
	if s := cfg.AllowSetByID("set-office"); s == nil || len(s.Prefixes) != 2 {
		t.Errorf("office set %+v, want both files' prefixes", s)
	}
}

// TestAllowWithoutLANInterface: with the LAN given by subnets alone, the guard cannot tell the LAN's interface,
// so a LAN source on a third interface passes: config says so when a forward has an allow list or a limit.
func TestAllowWithoutLANInterface(t *testing.T) {
	for _, tc := range []struct {
		name, lan, fwd string
		warn           bool
	}{
		{"subnets only, allow list", "lan: {subnets: [192.168.88.0/24]}", "allow: [198.51.100.0/24]", true},
		{"subnets only, limit", "lan: {subnets: [192.168.88.0/24]}", "limit: {new_per_source: 10/minute}", true},
		{"subnets only, open forward", "lan: {subnets: [192.168.88.0/24]}", "protocol: tcp", false},
		{"interface, allow list", "lan: {interface: br-lan}", "allow: [198.51.100.0/24]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(file, yamlLines("wan: {interface: eth0}", tc.lan, "forwards:", "  - {name: cam, port: 8090, to: 192.168.88.180, "+tc.fwd+"}"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(render(cfg.Warnings), "\n")
			if has := strings.Contains(got, "hairpin.yaml:2:6: lan.interface: without lan.interface, a LAN source address arriving on any interface but the WAN"); has != tc.warn {
				t.Errorf("warnings:\n%s\nwant the LAN interface warning: %v", got, tc.warn)
			}
		})
	}
}

// digitLines sizes the parse's one allocation: the lines that can hold a prefix, not blank or comment lines.
func TestDigitLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"1.2.3.0/24", 1},
		{"1.2.3.0/24\n10.0.0.0/8\n", 2},
		{"# list\n\n  \n1.2.3.4\n#2.3.4.5\n", 1},
		{"\n\n\n\n", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := digitLines([]byte(tc.in)); got != tc.want {
				t.Errorf("digitLines(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
