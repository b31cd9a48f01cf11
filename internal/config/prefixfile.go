package config

import (
	"bytes"
	"fmt"
	"net/netip"
)

// A prefix file is read on every reload, and on a reload that changed one line of a 100,000-line country
// list the file is nearly all the work between the signal and the kernel holding the change (make bench,
// allowlist rows): the goal for the whole change is 10 ms. So ParseAllowFile reads it without a scanner and
// into 40-bit keys (address << 8 | length) that sort as the prefixes do, sorts them with a radix sort when
// they are not sorted already, drops covered ones on the keys, and only then makes the prefixes.
// FuzzParseAllowFile holds it to netip (ParseAllowPrefix, line by line) and a sort by netip.

// maxPrefixLine is the longest line a prefix file may have (bufio.Scanner's 4 KiB buffer, which read it before).
const maxPrefixLine = 4095

// ParseAllowFile reads a prefix file's contents: one IPv4 prefix or address per line, blank lines and #
// comments ignored. The prefixes come sorted and disjoint (NormalizePrefixes); the issues carry the file's
// line numbers.
func ParseAllowFile(file string, data []byte) ([]netip.Prefix, []Issue) {
	f, issues := parseAllowFile(file, data)
	return f.prefixes, issues
}

// parseAllowFile is ParseAllowFile keeping what a later reparseAllowFile of the next version starts from.
func parseAllowFile(file string, data []byte) (*keptFile, []Issue) {
	keys, issues := lineKeys(file, data, make([]uint64, 0, min(digitLines(data), MaxAllowPrefixes)))
	prefixes := prefixesOfKeys(sortKeys(keys))
	return &keptFile{path: file, data: data, prefixes: prefixes, disjoint: len(prefixes) == len(keys)}, issues
}

// lineKeys appends to keys the key of each line of data that holds a prefix; the issues name data's lines.
func lineKeys(file string, data []byte, keys []uint64) ([]uint64, []Issue) {
	var issues []Issue
	for line := 1; len(data) > 0; line++ {
		// Nearly every line of a published list is a bare prefix: read it straight from data, in one pass.
		if key, n := plainLine(data); n > 0 {
			if len(keys) == MaxAllowPrefixes {
				issues = append(issues, Issue{File: file, Line: line, Col: 1, Problem: fmt.Sprintf("more than %d prefixes", MaxAllowPrefixes), Hint: "aggregate the list"})
				break
			}
			keys = append(keys, key)
			data = data[n:]
			continue
		}
		text := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(text) > maxPrefixLine {
			issues = append(issues, Issue{File: file, Line: line, Col: 1, Problem: "line too long or unreadable: bufio.Scanner: token too long", Hint: "one IPv4 prefix or address per line"})
			break
		}
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		key, ok := prefixKey(text)
		if !ok {
			p, err := ParseAllowPrefix(string(text))
			if err != nil {
				issues = append(issues, Issue{File: file, Line: line, Col: 1, Problem: err.Error(), Hint: "one IPv4 prefix or address per line; # starts a comment"})
				continue
			}
			a := p.Addr().As4()
			key = uint64(a[0])<<32 | uint64(a[1])<<24 | uint64(a[2])<<16 | uint64(a[3])<<8 | uint64(p.Bits())
		}
		if len(keys) == MaxAllowPrefixes {
			issues = append(issues, Issue{File: file, Line: line, Col: 1, Problem: fmt.Sprintf("more than %d prefixes", MaxAllowPrefixes), Hint: "aggregate the list"})
			break
		}
		keys = append(keys, key)
	}
	return keys, issues
}

// plainLine reads, in one pass, a line that is nothing but a prefix in its plain form at the start of data: a
// dotted quad without leading zeros and an optional /length without one, with no bits set past the length,
// then the end of the line ("\n", "\r\n" or the end of data). It returns the prefix's key and the bytes the
// line takes; n is 0 for any other line (spaces, comments, IPv6, junk), which ParseAllowPrefix then reads or
// explains.
func plainLine(data []byte) (key uint64, n int) {
	i := 0
	for part := 0; part < 4; part++ {
		if i >= len(data) || data[i]-'0' > 9 {
			return 0, 0
		}
		v := uint64(data[i] - '0')
		i++
		for j := 0; j < 2 && v != 0 && i < len(data) && data[i]-'0' <= 9; j++ {
			v = v*10 + uint64(data[i]-'0')
			i++
		}
		if v > 255 {
			return 0, 0
		}
		key = key<<8 | v
		if part < 3 {
			if i >= len(data) || data[i] != '.' {
				return 0, 0
			}
			i++
		}
	}
	bits := uint64(32)
	if i < len(data) && data[i] == '/' {
		i++
		if i >= len(data) || data[i]-'0' > 9 {
			return 0, 0
		}
		bits = uint64(data[i] - '0')
		i++
		if bits != 0 && i < len(data) && data[i]-'0' <= 9 {
			bits = bits*10 + uint64(data[i]-'0')
			i++
		}
		if bits > 32 {
			return 0, 0
		}
	}
	if key&netMask(int(bits)) != key { // bits set past the length
		return 0, 0
	}
	switch {
	case i == len(data):
	case data[i] == '\n':
		i++
	case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
		i += 2
	default: // a digit after three, a space, a comment, ...
		return 0, 0
	}
	return key<<8 | bits, i
}

// prefixKey is plainLine for a line already cut from its end of line.
func prefixKey(b []byte) (uint64, bool) {
	key, n := plainLine(b)
	return key, n > 0 && n == len(b)
}

// netMask is the network mask of a /bits, as the low 32 bits.
func netMask(bits int) uint64 {
	return (0xffffffff << (32 - bits)) & 0xffffffff
}

// sortKeys sorts keys, in place when they are sorted already (published lists usually are), else with an LSD
// radix sort over the 40 bits, a byte at a time: at most five passes whatever the order (a byte all keys share
// takes none), where a comparison sort of 100,000 prefixes took tens of milliseconds.
func sortKeys(keys []uint64) []uint64 {
	sorted := true
	for i := 1; i < len(keys); i++ {
		if keys[i] < keys[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return keys
	}
	src, dst := keys, make([]uint64, len(keys))
	for shift := uint(0); shift < 40; shift += 8 {
		var count [257]int
		for _, k := range src {
			count[(k>>shift)&0xff+1]++
		}
		if count[(src[0]>>shift)&0xff+1] == len(src) {
			continue // every key has this byte (the last byte of /24s, the length of a list of one length)
		}
		for i := 1; i < 257; i++ {
			count[i] += count[i-1]
		}
		for _, k := range src {
			b := (k >> shift) & 0xff
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	return src
}

// prefixesOfKeys makes the prefixes of sorted keys, dropping every one that lies inside the one kept before it
// (duplicates included), as NormalizePrefixes does.
func prefixesOfKeys(keys []uint64) []netip.Prefix {
	kept := keys[:0]
	for _, k := range keys {
		if n := len(kept); n == 0 || !covers(kept[n-1], k) {
			kept = append(kept, k)
		}
	}
	out := make([]netip.Prefix, len(kept))
	for i, k := range kept {
		out[i] = prefixOfKey(k)
	}
	return out
}

// covers reports whether the prefix of key a holds that of key b (or is it); a sorts before b.
func covers(a, b uint64) bool {
	bits := a & 0xff
	return bits <= b&0xff && (b>>8)&netMask(int(bits)) == a>>8
}

// prefixOfKey is the prefix of a key.
func prefixOfKey(k uint64) netip.Prefix {
	a := k >> 8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), int(k&0xff))
}
