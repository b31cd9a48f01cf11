package config

import (
	"bytes"
	"net/netip"
)

// A reload that changed a few lines of a 100,000-line prefix file should not read the other lines again: the
// goal from SIGHUP to the kernel holding the change is 10 ms, and reading the whole file took about as much
// (make bench, allowlist rows). So Load keeps what it read (keptLoad), and Reload compares the files read again
// with it: a config whose files all read as before is the running one; a prefix file that changed has only the
// lines between the longest common head and tail of its two versions read, the prefixes of the old lines taken
// out and those of the new ones put in, the old prefixes between them copied. Anything unusual (a problem on a
// changed line, a change that covers or uncovers other prefixes, a big change, the bound on prefixes near)
// reads the whole file, so issues come with their lines exactly as from ParseAllowFile. FuzzReparseAllowFile
// holds the two to the same result.

// keptLoad is what a load read: the config file and the prefix files, in the order they were read. A config
// that names users (lookedUp) depends on more than its files, and is read again whatever its bytes.
type keptLoad struct {
	config   []byte
	files    []*keptFile
	lookedUp bool
}

// keptFile is a prefix file as a load read it, without a problem: its bytes and prefixes, and whether every
// line's prefix is among them (none covered by another or repeated), which a change read alone needs.
type keptFile struct {
	path     string
	data     []byte
	prefixes []netip.Prefix
	disjoint bool
}

// filesUnchanged reports whether every prefix file reads as it did, each under the bound allowFile read it
// with. For a config file that is unchanged too, and so reads its prefix files in the same order under the
// same bounds, read holds what was read up to the first file that changed, for the load not to read it again.
func (k *keptLoad) filesUnchanged() (same bool, read map[string][]byte) {
	var n int64
	read = map[string][]byte{}
	for _, f := range k.files {
		data, err := readAllowFile(f.path, MaxAllowFileBytes-n)
		if err != nil {
			return false, read
		}
		read[f.path] = data
		if !bytes.Equal(data, f.data) {
			return false, read
		}
		n += int64(len(data))
	}
	return true, nil
}

// lastLoad is what Reload hands the load: the last load's files, and those it has just read again.
type lastLoad struct {
	kept *keptLoad
	read map[string][]byte
}

func (l *lastLoad) file(path string) *keptFile {
	if l.kept != nil {
		for _, f := range l.kept.files {
			if f.path == path {
				return f
			}
		}
	}
	return nil
}

// readAllowFile reads a prefix file, or takes it as Reload has just read it under the same bound.
func (l *lastLoad) readAllowFile(path string, limit int64) ([]byte, error) {
	if data, ok := l.read[path]; ok {
		return data, nil
	}
	return readAllowFile(path, limit)
}

// maxReparseBytes bounds the changed span reparseAllowFile reads: past it the whole file is read, which costs
// about as much.
const maxReparseBytes = 256 << 10

// reparseAllowFile is parseAllowFile of data for a file last read as old, reading only the changed lines. It
// gives old itself when the bytes are equal, and ok false when the whole file must be read instead.
func reparseAllowFile(old *keptFile, data []byte) (_ *keptFile, ok bool) {
	// The changed span, widened to whole lines: head and tail are the bytes both versions share before and
	// after it, the tail never overlapping the head.
	head := common(old.data, data, 1)
	if head == len(data) && head == len(old.data) {
		return old, true
	}
	if !old.disjoint {
		return nil, false
	}
	tail := common(old.data[head:], data[head:], -1)
	start := bytes.LastIndexByte(data[:head], '\n') + 1
	oldEnd, end := len(old.data), len(data)
	if i := bytes.IndexByte(data[end-tail:], '\n'); i >= 0 {
		oldEnd, end = oldEnd-tail+i+1, end-tail+i+1
	}
	if end-start > maxReparseBytes || oldEnd-start > maxReparseBytes {
		return nil, false
	}
	gone, issues := lineKeys(old.path, old.data[start:oldEnd], nil)
	if len(issues) > 0 {
		return nil, false
	}
	added, issues := lineKeys(old.path, data[start:end], nil)
	if len(issues) > 0 || len(old.prefixes)-len(gone)+len(added) > MaxAllowPrefixes {
		return nil, false
	}
	prefixes, ok := editPrefixes(old.prefixes, sortKeys(gone), sortKeys(added))
	if !ok {
		return nil, false
	}
	return &keptFile{path: old.path, data: data, prefixes: prefixes, disjoint: true}, true
}

// common is the length of the longest common prefix of a and b (dir 1), or of their longest common suffix
// (dir -1). It compares in blocks first: bytes.Equal is a vectorized memcmp, a byte loop over 1.5 MB is not.
func common(a, b []byte, dir int) int {
	n, i := min(len(a), len(b)), 0
	at := func(s []byte, j, size int) []byte {
		if dir > 0 {
			return s[j : j+size]
		}
		return s[len(s)-j-size : len(s)-j]
	}
	for size := 4096; size > 0; size >>= 6 { // blocks of 4096, then 64, then single bytes
		for i+size <= n && bytes.Equal(at(a, i, size), at(b, i, size)) {
			i += size
		}
	}
	return i
}

// editPrefixes is old (sorted, disjoint) with the prefixes of keys gone taken out and those of added put in
// (both sorted), the old prefixes between them copied a run at a time. ok is false when a key of gone is not
// among old's, or one of added is covered by another prefix or covers one: the whole file is read then.
func editPrefixes(old []netip.Prefix, gone, added []uint64) (_ []netip.Prefix, ok bool) {
	out := make([]netip.Prefix, 0, len(old)+len(added))
	for len(gone)+len(added) > 0 {
		k, isGone := uint64(1<<40), false // keys are below 1<<40
		if len(added) > 0 {
			k = added[0]
		}
		if len(gone) > 0 && gone[0] <= k {
			k, isGone = gone[0], true
		}
		lo, hi := 0, len(old) // the first old prefix not before k
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); keyOf(old[m]) < k {
				lo = m + 1
			} else {
				hi = m
			}
		}
		out, old = append(out, old[:lo]...), old[lo:]
		switch {
		case isGone && (len(old) == 0 || keyOf(old[0]) != k):
			return nil, false
		case isGone:
			old, gone = old[1:], gone[1:]
		case len(out) > 0 && covers(keyOf(out[len(out)-1]), k) || len(old) > 0 && covers(k, keyOf(old[0])):
			return nil, false
		default:
			out, added = append(out, prefixOfKey(k)), added[1:]
		}
	}
	return append(out, old...), true
}

// keyOf is the key of an IPv4 prefix: address << 8 | length.
func keyOf(p netip.Prefix) uint64 {
	a := p.Addr().As4()
	return uint64(a[0])<<32 | uint64(a[1])<<24 | uint64(a[2])<<16 | uint64(a[3])<<8 | uint64(p.Bits())
}
