package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzReparseAllowFile holds the read of only the changed lines to the read of the whole file: a file that
// read without a problem, edited anywhere (bytes cut and others put in), gives the same prefixes, or says that
// the whole file must be read. When it gives a result, the whole file reads without a problem too.
func FuzzReparseAllowFile(f *testing.F) {
	f.Add([]byte("198.51.100.0/24\n# c\n192.0.2.1 # x\n10.0.0.0/8\n10.1.0.0/16\n10.1.0.0/16\n0.0.0.0/0\n"), uint(17), uint(3), []byte("7.0.0.0/8\n"))
	f.Add([]byte("9.0.0.0/8\n8.0.0.0/8\n8.8.8.8\n1.0.0.0/24\n"), uint(0), uint(10), []byte(""))
	f.Add([]byte("9.0.0.0/8\n8.0.0.0/8\n8.8.8.8\n1.0.0.0/24"), uint(38), uint(0), []byte("\n9.1.0.0/16"))
	f.Add([]byte("10.0.0.0/8\n10.0.0.0/8\n10.1.0.0/16\n"), uint(0), uint(11), []byte("11"))
	f.Add([]byte(" 203.0.113.0/24 \r\n192.0.2.0/24\r\n"), uint(1), uint(1), []byte("1.1.1.1/33\n"))
	f.Add([]byte("1.2.3.0/24\n1.2.4.0/24\n"), uint(7), uint(1), []byte("1"))
	f.Fuzz(func(t *testing.T, old []byte, at, cut uint, insert []byte) {
		if len(old) > 1<<16 || len(insert) > 1<<12 {
			return
		}
		kept, issues := parseAllowFile("f", old)
		if len(issues) > 0 {
			return // only a file read without a problem is kept
		}
		at = min(at, uint(len(old)))
		cut = min(cut, uint(len(old))-at)
		data := slices.Concat(old[:at], insert, old[at+cut:])
		want, wantIssues := parseAllowFile("f", data)
		got, ok := reparseAllowFile(kept, data)
		if !ok {
			return
		}
		if len(wantIssues) > 0 {
			t.Fatalf("%q -> %q: read alone without a problem, but the whole file has %v", old, data, wantIssues)
		}
		if !slices.Equal(got.prefixes, want.prefixes) || got.disjoint != want.disjoint || string(got.data) != string(data) || got.path != "f" {
			t.Fatalf("%q -> %q: read alone %v (disjoint %v), the whole file %v (%v)", old, data, got.prefixes, got.disjoint, want.prefixes, want.disjoint)
		}
	})
}

// bigList is n /24s in random order, one a line.
func bigList(n int) []byte {
	var b strings.Builder
	x := uint32(12345)
	seen := map[uint32]bool{}
	for len(seen) < n {
		x = x*1664525 + 1013904223
		a := (x>>8)%(223<<16) + 1<<16
		if seen[a] {
			continue
		}
		seen[a] = true
		fmt.Fprintf(&b, "%d.%d.%d.0/24\n", a>>16, a>>8&0xff, a&0xff)
	}
	return []byte(b.String())
}

// A one-line change of a 100,000-line file is read alone, and gives what the whole file gives; a bad line in
// it, a prefix that covers others, or a change past maxReparseBytes, is left to the read of the whole file.
func TestReparseAllowFileReadsTheChange(t *testing.T) {
	old := bigList(100_000)
	kept, issues := parseAllowFile("f", old)
	if len(issues) > 0 {
		t.Fatal(issues)
	}
	lines := strings.SplitAfter(string(old), "\n")
	edit := func(i int, line string) []byte {
		l := slices.Clone(lines)
		l[i] = line
		return []byte(strings.Join(l, ""))
	}
	for _, tt := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"unchanged", slices.Clone(old), true},
		{"first line", edit(0, "240.0.0.0/24\n"), true},
		{"a middle line", edit(50_000, "240.0.0.0/24\n"), true},
		{"the last line gone", edit(len(lines)-2, ""), true},
		{"a line covering others", edit(7, "0.0.0.0/1\n"), false},
		{"a comment", edit(9, "# nothing\n"), true},
		{"a bad line", edit(50_000, "240.0.0.1/24\n"), false},
		{"IPv6", edit(3, "2001:db8::/32\n"), false},
		{"most of the file", append(bigList(20_000), old[len(old)/2:]...), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := reparseAllowFile(kept, tt.data)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			want, issues := parseAllowFile("f", tt.data)
			if len(issues) > 0 || !slices.Equal(got.prefixes, want.prefixes) || got.disjoint != want.disjoint {
				t.Errorf("read alone: %d prefixes; the whole file: %d, %v", len(got.prefixes), len(want.prefixes), issues)
			}
		})
	}
}

// A list whose lines repeat or cover one another is read whole on every change: which line's prefix counts
// changes with the lines around it.
func TestReparseAllowFileNotDisjoint(t *testing.T) {
	kept, issues := parseAllowFile("f", []byte("10.0.0.0/8\n10.1.0.0/16\n192.0.2.0/24\n"))
	if len(issues) > 0 || kept.disjoint {
		t.Fatalf("kept %+v, issues %v: want a list that is not disjoint", kept, issues)
	}
	if _, ok := reparseAllowFile(kept, []byte("11.0.0.0/8\n10.1.0.0/16\n192.0.2.0/24\n")); ok {
		t.Error("a change of a list that is not disjoint was read alone")
	}
}

// Reload of a config whose files read as before is a copy sharing the prefixes; a changed list gives the new
// prefixes; a bad line where it changed is refused at its line with the fix, as Load refuses it.
func TestReloadComparesAndRereads(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "office.txt")
	cfgPath := filepath.Join(dir, "hairpin.yaml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(list, "198.51.100.0/24\n192.0.2.0/25\n# office\n203.0.113.9\n")
	write(cfgPath, "wan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: cam, port: 8090, to: 192.168.88.180, allow: ["+list+"]}\n")
	prefixes := func(cfg *Config) []netip.Prefix { return cfg.AllowSetByID("fwd-cam").Prefixes }
	first, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	same, err := Reload(cfgPath, first)
	if err != nil {
		t.Fatal(err)
	}
	if same == first || same.kept != first.kept || &prefixes(same)[0] != &prefixes(first)[0] {
		t.Errorf("an unchanged reload must be a copy sharing the prefixes")
	}
	write(list, "198.51.100.0/24\n192.0.2.0/25\n# office\n203.0.113.10\n")
	changed, err := Reload(cfgPath, same)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(prefixes(changed)); got != "[192.0.2.0/25 198.51.100.0/24 203.0.113.10/32]" {
		t.Errorf("after the change: %s", got)
	}
	write(list, "198.51.100.0/24\n192.0.2.0/25\n# office\n203.0.113.10/24\n")
	_, err = Reload(cfgPath, changed)
	want := list + ":4:1: (forwards[0].allow) 203.0.113.10/24 has bits set past the /24; write 203.0.113.0/24, or 203.0.113.10/32 for the one address"
	if _, loadErr := Load(cfgPath); err == nil || loadErr == nil || err.Error() != loadErr.Error() || !strings.Contains(err.Error(), list+":4") || !strings.Contains(err.Error(), "write 203.0.113.0/24") {
		t.Errorf("a bad line where the list changed: %v; Load gives %v; want like %s", err, loadErr, want)
	}
	// The config file changed, the list not: read again, the list's prefixes shared.
	write(list, "198.51.100.0/24\n192.0.2.0/25\n# office\n203.0.113.10\n")
	write(cfgPath, "wan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: cam, port: 8091, to: 192.168.88.180, allow: ["+list+"]}\n")
	moved, err := Reload(cfgPath, changed)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Forwards[0].Port.First != 8091 || &prefixes(moved)[0] != &prefixes(changed)[0] {
		t.Errorf("a changed config with the list unchanged: port %v, prefixes shared %v", moved.Forwards[0].Port, &prefixes(moved)[0] == &prefixes(changed)[0])
	}
	// A config naming a user is read again however unchanged: the user's uid may have changed.
	owners := filepath.Join(dir, "owners.yaml")
	write(owners, "secret_owners: [root]\nwan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: cam, port: 8090, to: 192.168.88.180, allow: ["+list+"]}\n")
	named, err := Load(owners)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Reload(owners, named)
	if err != nil {
		t.Fatal(err)
	}
	if again.kept == named.kept || len(again.SecretOwners) != 1 {
		t.Errorf("a config naming a user was not read again: owners %v", again.SecretOwners)
	}
}

// BenchmarkReparseAllowFile is a one-line change of make bench's 100,000-line list, read alone.
func BenchmarkReparseAllowFile(b *testing.B) {
	old := bigList(100_000)
	kept, _ := parseAllowFile("f", old)
	data := slices.Clone(old)
	copy(data[len(data)/2:], "1")
	for b.Loop() {
		if _, ok := reparseAllowFile(kept, data); !ok {
			b.Fatal("not read alone")
		}
	}
}

// BenchmarkReloadUnchanged is a reload of a config with a 100,000-line list, neither changed: both files read
// and compared.
func BenchmarkReloadUnchanged(b *testing.B) {
	dir := b.TempDir()
	list, cfgPath := filepath.Join(dir, "list.txt"), filepath.Join(dir, "hairpin.yaml")
	if err := os.WriteFile(list, bigList(100_000), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte("wan: {interface: wan0}\nlan: {interface: lan0}\nforwards:\n  - {name: cam, port: 8090, to: 192.168.88.180, allow: ["+list+"]}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Reload(cfgPath, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
