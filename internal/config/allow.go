package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

// AllowSet is one list of internet sources that may reach a forward: a named entry of allow_sets, or the
// entries written inline under a forward's allow.
type AllowSet struct {
	// ID is unique among a config's sets: "set-NAME" for allow_sets, "fwd-NAME" for a forward's own entries.
	ID string
	// Prefixes are the literal prefixes and those read from files, sorted and disjoint (a prefix inside
	// another is dropped), as an nftables interval set needs them.
	Prefixes []netip.Prefix
	// Hosts are hostnames, resolved by the daemon (or, on RouterOS, by the router).
	Hosts []string
	// Files are the prefix files this set read, for status and SIGHUP.
	Files []string
	Line  int
}

// Limit caps new connections per source address.
type Limit struct {
	// Count new connections per Unit ("second", "minute", "hour" or "day").
	Count uint32
	Unit  string
	// Burst is how many new connections one source may open at once before the rate applies.
	Burst uint32
}

// Period is the length of the limit's unit.
func (l Limit) Period() time.Duration { return limitUnits[l.Unit] }

func (l Limit) String() string { return fmt.Sprintf("%d/%s burst %d", l.Count, l.Unit, l.Burst) }

var limitUnits = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

// Bounds on what one config's allow lists may hold in total, however many lists name the same file or
// hostname, so that a mistaken file cannot exhaust the router's memory or its resolver.
const (
	// MaxAllowFileBytes bounds the prefix files read, together.
	MaxAllowFileBytes = 64 << 20
	// MaxAllowPrefixes bounds the prefixes of all sets together: each set is installed on its own, so a file
	// named inline by 30 forwards is 30 copies in the kernel, while an allow_sets entry is one.
	MaxAllowPrefixes = 2_000_000
	// MaxAllowHosts bounds the hostnames of all sets together and MaxAllowHostsPerForward those one forward
	// uses: the daemon looks each up again at its TTL.
	MaxAllowHosts           = 1000
	MaxAllowHostsPerForward = 256
	maxFileIssues           = 10
)

// allowBudget is what the allow lists read so far hold, against the bounds above.
type allowBudget struct {
	files    map[string]*allowFileRead
	bytes    int64
	prefixes int
	hosts    int
	// reported: the bound on prefixes or hosts was reported once; later lists are not built.
	prefixesOver, hostsOver bool
}

// allowFileRead is one prefix file, read and normalized once however many lists name it.
type allowFileRead struct {
	prefixes []netip.Prefix
}

// isHostname accepts a DNS name of at least two labels; a single word is taken for an allow_sets name. Each label
// is 1 to 63 letters, digits and '-', neither first nor last a '-', and may start with '_'; a final dot is
// allowed (`^(?i:[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)(\.(?i:[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?))+\.?$`,
// checked by hand: a list of 130,000 hostnames spent a third of its check in the regexp).
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	labels := 0
	for s != "" || labels == 0 {
		label, rest, more := strings.Cut(s, ".")
		if !isLabel(label) || more && rest == "" {
			return false
		}
		labels++
		s = rest
	}
	return labels >= 2
}

func isLabel(l string) bool {
	if l == "" || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i] | 0x20 // lower case for letters; digits, '-' and '_' stay apart from them
		letterOrDigit := c >= 'a' && c <= 'z' || l[i] >= '0' && l[i] <= '9'
		switch {
		case letterOrDigit:
		case l[i] == '_' && i == 0:
		case l[i] == '-' && i > 0 && i < len(l)-1:
		default:
			return false
		}
	}
	return true
}

// allowEntries collects a list's entries; references to allow_sets are resolved once every set is known.
type allowEntries struct {
	set  AllowSet
	refs []*yaml.Node // entries naming an allow_set, resolved in resolveAllow
	key  string
	node *yaml.Node
}

const allowHint = "write an IPv4 prefix (198.51.100.0/24), an address, a hostname (home.example.net), an absolute file path (/etc/hairpin/office.txt) or the name of an allow_sets entry"

// allowList reads an allow list: a sequence of strings (a single string is a list of one).
func (d *decoder) allowList(n *yaml.Node, path string, named bool) *allowEntries {
	e := &allowEntries{key: path, node: n, set: AllowSet{Line: n.Line}}
	items := []*yaml.Node{n}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		items = d.sequence(n, path)
	}
	var literal []netip.Prefix
	var files [][]netip.Prefix
	seen := map[string]bool{}
	for i, c := range items {
		key := path
		if n.Kind == yaml.SequenceNode {
			key = fmt.Sprintf("%s[%d]", path, i)
		}
		s, ok := d.str(c, key)
		if !ok {
			continue
		}
		s = strings.TrimSpace(s)
		switch {
		case strings.HasPrefix(s, "/"):
			if seen[s] {
				d.errorf(c, key, "remove one of them", "file %s is listed twice", s)
				continue
			}
			seen[s] = true
			e.set.Files = append(e.set.Files, s)
			if f := d.allowFile(c, key, s); f != nil {
				files = append(files, f.prefixes)
			}
		case strings.ContainsAny(s, "/:") || looksNumeric(s):
			p, err := ParseAllowPrefix(s)
			if err != nil {
				hint := allowHint
				if before, _, _ := strings.Cut(s, "/"); strings.Contains(s, "/") && !strings.Contains(s, ":") && !looksNumeric(before) {
					hint = "file paths must be absolute, e.g. /etc/hairpin/office.txt"
				}
				d.errorf(c, key, hint, "%v", err)
				continue
			}
			if p.Bits() == 0 {
				d.warnf(c, key, "remove the allow list to say \"everyone\" plainly, or list the networks that need access", "%s allows the whole internet", p)
			}
			literal = append(literal, p)
		case isHostname(s):
			h := strings.ToLower(strings.TrimSuffix(s, "."))
			if seen[h] {
				d.errorf(c, key, "remove one of them", "hostname %s is listed twice", h)
				continue
			}
			seen[h] = true
			if d.allow.hosts++; d.allow.hosts > MaxAllowHosts {
				if !d.allow.hostsOver {
					d.allow.hostsOver = true
					d.errorf(c, key, "the daemon looks up every hostname again at its TTL; list networks as prefixes or in a file instead",
						"the allow lists name more than %d hostnames", MaxAllowHosts)
				}
				continue
			}
			e.set.Hosts = append(e.set.Hosts, h)
		case isName(s) && !named:
			e.refs = append(e.refs, c)
		case isName(s):
			d.errorf(c, key, "an allow_sets entry cannot name another set; list its entries here, or write the hostname in full", "%q is not a hostname (it has no dot)", s)
		default:
			d.errorf(c, key, allowHint, "%q is not a prefix, hostname, file or set name", s)
		}
	}
	e.set.Prefixes = d.allowPrefixes(n, path, literal, files)
	return e
}

// allowPrefixes joins a list's literal prefixes and files into one sorted, disjoint list, charging them to the
// config's total. A list of one file and nothing else shares that file's list instead of copying it.
func (d *decoder) allowPrefixes(n *yaml.Node, path string, literal []netip.Prefix, files [][]netip.Prefix) []netip.Prefix {
	count := len(literal)
	for _, f := range files {
		count += len(f)
	}
	if d.allow.prefixesOver {
		return nil
	}
	if d.allow.prefixes += count; d.allow.prefixes > MaxAllowPrefixes {
		d.allow.prefixesOver = true
		d.errorf(n, path, "a set of allow_sets is installed once however many forwards name it: put the file there and name the set in each forward, or aggregate the list",
			"the allow lists hold more than %d prefixes together", MaxAllowPrefixes)
		return nil
	}
	if len(literal) == 0 && len(files) == 1 {
		return files[0]
	}
	all := make([]netip.Prefix, 0, count)
	all = append(all, literal...)
	for _, f := range files {
		all = append(all, f...)
	}
	return NormalizePrefixes(all)
}

func looksNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789.") == ""
}

// ParseAllowPrefix reads an IPv4 prefix or address (a /32). Host bits beyond the prefix length are an error:
// 198.51.100.7/24 is more likely a typo for a single address than a wish for the whole /24.
func ParseAllowPrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, errfmt.Errorf("%q is not an IPv4 prefix", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, errfmt.Errorf("%q is not an IPv4 address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() {
		return p, errfmt.Errorf("%s is IPv6; hairpin forwards IPv4 only", s)
	}
	if p.Masked() != p {
		return p, errfmt.Errorf("%s has bits set past the /%d; write %s, or %s/32 for the one address", s, p.Bits(), p.Masked(), p.Addr())
	}
	return p, nil
}

// NormalizePrefixes sorts prefixes and drops every one that lies inside another, which leaves them disjoint:
// two CIDR prefixes either nest or do not meet. The prefixes are IPv4 (ParseAllowPrefix); they are sorted and
// normalized as keys, as a prefix file's are (prefixfile.go).
func NormalizePrefixes(p []netip.Prefix) []netip.Prefix {
	keys := make([]uint64, len(p))
	for i, q := range p {
		keys[i] = keyOf(q)
	}
	return prefixesOfKeys(sortKeys(keys))
}

// readAllowFile is replaced by the fuzz test, whose configs name arbitrary paths.
var readAllowFile = secret.ReadFile

// allowFile reads a file of prefixes once per config: one per line, blank lines and # comments ignored.
// Problems are reported at the file's own line numbers, the first few of them. It returns nil when the file
// could not be read.
func (d *decoder) allowFile(n *yaml.Node, key, path string) *allowFileRead {
	if f, ok := d.allow.files[path]; ok {
		return f
	}
	if d.allow.files == nil {
		d.allow.files = map[string]*allowFileRead{}
	}
	d.allow.files[path] = nil
	left := MaxAllowFileBytes - d.allow.bytes
	data, err := d.prev.readAllowFile(path, left)
	if err != nil {
		hint := "give a readable regular file of prefixes, one per line"
		if left < MaxAllowFileBytes {
			hint = fmt.Sprintf("the prefix files of one config are read together up to %d MiB; %d MiB of it went to the files before this one", MaxAllowFileBytes>>20, d.allow.bytes>>20)
		}
		d.errorf(n, key, hint, "%v", err)
		return nil
	}
	d.allow.bytes += int64(len(data))
	var kf *keptFile
	var issues []Issue
	if old := d.prev.file(path); old != nil {
		kf, _ = reparseAllowFile(old, data)
	}
	if kf == nil {
		kf, issues = parseAllowFile(path, data)
	}
	if len(issues) == 0 {
		d.kept = append(d.kept, kf)
	}
	for i, is := range issues {
		if i == maxFileIssues {
			d.errorf(n, key, "fix the lines above first", "%s has %d more bad lines", path, len(issues)-maxFileIssues)
			break
		}
		is.Key = key
		d.errs.add(is)
	}
	f := &allowFileRead{prefixes: kf.prefixes}
	d.allow.files[path] = f
	return f
}

// digitLines counts the lines of data that start with a digit.
func digitLines(data []byte) int {
	n := 0
	for len(data) > 0 {
		if data[0] >= '0' && data[0] <= '9' {
			n++
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		data = data[i+1:]
	}
	return n
}

// allowSets reads the top-level allow_sets: name -> list.
func (d *decoder) allowSets(n *yaml.Node, path string) map[string]*allowEntries {
	out := map[string]*allowEntries{}
	if isNull(n) {
		return out
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "write `NAME: [entries]` lines under allow_sets", "expected a mapping, found %s", kindName(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		key := join(path, k.Value)
		if !isName(k.Value) {
			d.errorf(k, key, "use 1 to 32 lowercase letters, digits and '-', not starting or ending with '-'", "%q is not a valid set name", k.Value)
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.errorf(k, key, "remove one of them", "key appears more than once")
			continue
		}
		e := d.allowList(v, key, true)
		e.set.ID = "set-" + k.Value
		e.set.Line = k.Line
		out[k.Value] = e
	}
	return out
}

// limit reads `{new_per_source: 10/minute, burst: 20}`.
func (d *decoder) limit(n *yaml.Node, path string) *Limit {
	l := &Limit{}
	var rateNode *yaml.Node
	burst := -1
	if !d.mapping(n, path, map[string]field{
		"new_per_source": func(k string, v *yaml.Node) {
			rateNode = v
			s, ok := d.str(v, k)
			if !ok {
				return
			}
			count, unit, found := strings.Cut(strings.TrimSpace(s), "/")
			c, err := strconv.ParseUint(strings.TrimSpace(count), 10, 32)
			unit = strings.TrimSuffix(strings.TrimSpace(unit), "s")
			if _, known := limitUnits[unit]; !found || err != nil || !known || c < 1 || c > 1_000_000 {
				d.errorf(v, k, "write COUNT/UNIT with COUNT from 1 to 1000000 and UNIT second, minute, hour or day, e.g. 10/minute", "%q is not a rate", s)
				return
			}
			l.Count, l.Unit = uint32(c), unit
		},
		"burst": func(k string, v *yaml.Node) { burst, _ = d.integer(v, k, 1, 1_000_000) },
	}) {
		return nil
	}
	if rateNode == nil {
		d.errorf(n, path+".new_per_source", "add e.g. `new_per_source: 10/minute`", "required key is missing")
		return nil
	}
	if l.Count == 0 {
		return nil
	}
	l.Burst = l.Count
	if burst > 0 {
		l.Burst = uint32(burst)
	}
	return l
}

// resolveAllow turns each forward's allow entries into the set IDs it uses, now that every allow_sets name is
// known, and keeps only the sets some forward uses.
func (d *decoder) resolveAllow(cfg *Config, named map[string]*allowEntries, setsNode *yaml.Node) {
	used := map[string]bool{}
	for i := range cfg.Forwards {
		f := &cfg.Forwards[i]
		e := d.fwdAllow[i]
		if e == nil {
			continue
		}
		f.AllowOn = true
		if len(e.set.Prefixes)+len(e.set.Hosts) > 0 || len(e.set.Files) > 0 {
			e.set.ID = "fwd-" + f.Name
			cfg.AllowSets = append(cfg.AllowSets, e.set)
			f.Allow = append(f.Allow, e.set.ID)
		}
		listed := map[string]bool{}
		hosts := len(e.set.Hosts)
		for _, r := range e.refs {
			ne, ok := named[r.Value]
			if !ok {
				hint := "define it under allow_sets, or write a hostname in full (with its domain)"
				if len(named) > 0 {
					hint = "known sets: " + strings.Join(sortedKeys(named), ", ")
				}
				d.errorf(r, e.key, hint, "no allow_sets entry named %q", r.Value)
				continue
			}
			if listed[r.Value] {
				d.errorf(r, e.key, "remove one of them", "set %q is listed twice", r.Value)
				continue
			}
			listed[r.Value] = true
			used[r.Value] = true
			f.Allow = append(f.Allow, ne.set.ID)
			hosts += len(ne.set.Hosts)
		}
		if hosts > MaxAllowHostsPerForward && !d.allow.hostsOver {
			d.errorf(e.node, e.key, "the daemon looks up every hostname again at its TTL; list networks as prefixes or in a file instead",
				"forward %q allows %d hostnames, more than %d", f.Name, hosts, MaxAllowHostsPerForward)
		}
		if len(f.Allow) == 0 && len(e.refs) == 0 {
			d.warnf(e.node, e.key, "list who may connect, or remove `allow:` to open the forward to everyone", "the allow list is empty: only the LAN and the router reach this forward")
		}
	}
	if cfg.Backend == BackendRouterOS {
		// Never accept a restriction the backend would not install: a limit silently ignored is worse than
		// none. (Allow lists become src-address-list on the router's dst-nat rules.)
		for i, f := range cfg.Forwards {
			item := d.fwdItems[i]
			key := fmt.Sprintf("forwards[%d]", item.index)
			if f.Limit != nil {
				d.errorf(item.value("limit"), key+".limit", "limit connections on the router itself", "connection limits are not supported by the routeros backend")
			}
		}
	}
	for _, name := range sortedKeys(named) {
		if used[name] {
			cfg.AllowSets = append(cfg.AllowSets, named[name].set)
		} else {
			d.warnf(valueOf(setsNode, name), "allow_sets."+name, "name it in a forward's allow list, or remove it", "no forward uses this set")
		}
	}
	sort.Slice(cfg.AllowSets, func(i, j int) bool { return cfg.AllowSets[i].ID < cfg.AllowSets[j].ID })
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// AllowSetByID returns the set with the given ID.
func (c *Config) AllowSetByID(id string) *AllowSet {
	for i := range c.AllowSets {
		if c.AllowSets[i].ID == id {
			return &c.AllowSets[i]
		}
	}
	return nil
}
