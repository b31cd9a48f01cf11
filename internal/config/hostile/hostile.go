// Package hostile generates the config files that once took hairpin minutes and gigabytes to check, at the
// sizes they were reported with, next to a large normal one. Tests hold the limits against them and `make
// bench` measures `hairpin check` on them.
package hostile

import (
	"fmt"
	"strconv"
	"strings"
)

const header = "wan:\n  interface: eth0\nlan:\n  interface: br-lan\n  subnets: [192.168.0.0/16]\n"

// File is one generated config.
type File struct {
	Name string
	Data []byte
}

// Forwards is a normal config: n forwards on distinct ports (n up to 64,000).
func Forwards(n int) []byte {
	var b strings.Builder
	b.Grow(70 * n)
	b.WriteString(header + "forwards:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: f%d\n    port: %d\n    to: 192.168.%d.%d:80\n", i, 1024+i, 1+i/250, 2+i%250)
	}
	return []byte(b.String())
}

// SamePort is n forwards on one port (2,000 make a 109 KB file): every pair overlaps.
func SamePort(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "forwards:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: f%d, port: 8090, to: 192.168.%d.%d:80}\n", i, 1+i/250, 2+i%250)
	}
	return []byte(b.String())
}

// Aliases is one forward repeated by n YAML aliases (3,000 make a 9 KB file).
func Aliases(n int) []byte {
	var b strings.Builder
	b.WriteString(header + "forwards: [&f {name: cam, port: 8090, to: 192.168.88.10:80}")
	for range n {
		b.WriteString(",*f")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// Laughs is the "billion laughs": levels of lists that each repeat the one before ten times, which expand to
// 10^levels values from a file of a few hundred bytes.
func Laughs(levels int) []byte {
	var b strings.Builder
	b.WriteString(header + "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= levels; i++ {
		p := fmt.Sprintf("*x%d", i-1)
		fmt.Fprintf(&b, "x%d: &x%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	fmt.Fprintf(&b, "forwards: *x%d\n", levels)
	return []byte(b.String())
}

// UnknownKeys is a file of size bytes of unknown keys (34 MB took 57 s and 5.4 GB).
func UnknownKeys(size int) []byte {
	var b strings.Builder
	b.Grow(size + 32)
	b.WriteString(header)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	return []byte(b.String())
}

// LongString is a config whose backend is a string of size bytes (100 MB was echoed whole in one error).
func LongString(size int) []byte {
	return []byte(header + "backend: \"" + strings.Repeat("A", size) + "\"\n")
}

// PrefixFile is a prefix file of n distinct /32 lines (2,000,000 make a 30 MB file).
func PrefixFile(n int) []byte {
	b := make([]byte, 0, 16*n)
	for i := range n {
		for j, octet := range [4]int{1 + i>>16&0x3f, i >> 16 >> 6, i >> 8 & 0xff, i & 0xff} {
			if j > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendInt(b, int64(octet), 10)
		}
		b = append(b, '\n')
	}
	return b
}

// FileForwards is a config of n forwards that each name the prefix file at path in their allow list; with
// shared, the file is one allow_sets entry each forward names instead.
func FileForwards(n int, path string, shared bool) []byte {
	var b strings.Builder
	b.WriteString(header + "forwards:\n")
	allow := path
	if shared {
		allow = "big"
	}
	for i := range n {
		fmt.Fprintf(&b, "  - {name: f%d, port: %d, to: 192.168.%d.%d:80, allow: [%s]}\n", i, 1024+i, 1+i/250, 2+i%250, allow)
	}
	if shared {
		fmt.Fprintf(&b, "allow_sets:\n  big: [%s]\n", path)
	}
	return []byte(b.String())
}

// AllowHosts is one forward whose allow_sets entry lists n distinct hostnames (130,000 make a 3.5 MB file).
func AllowHosts(n int) []byte {
	var b strings.Builder
	b.Grow(27 * n)
	b.WriteString(header + "forwards:\n  - {name: cam, port: 8090, to: 192.168.88.10:80, allow: [friends]}\nallow_sets:\n  friends:\n")
	for i := range n {
		fmt.Fprintf(&b, "    - h%d.example.net\n", i)
	}
	return []byte(b.String())
}
