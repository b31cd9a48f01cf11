package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/typo"
)

// Issue is one problem found in a config file, with enough position and context for the user to fix it
// without reading the source.
type Issue struct {
	File    string
	Line    int
	Col     int
	Key     string // dotted path, e.g. forwards[2].port
	Problem string
	Hint    string
	// More, when set, makes this the last issue of a capped list: it counts the problems not listed.
	More int
}

func (i Issue) String() string {
	if i.More > 0 {
		return fmt.Sprintf("%s: and %d more (fix the ones above first)", i.File, i.More)
	}
	s := fmt.Sprintf("%s:%d:%d: %s: %s", i.File, i.Line, i.Col, i.Key, i.Problem)
	if i.Hint != "" {
		s += " (" + i.Hint + ")"
	}
	return s
}

// Errors is every problem found in one config file; a config with any Errors is never used.
type Errors []Issue

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, is := range e {
		lines[i] = is.String()
	}
	return strings.Join(lines, "\n")
}

// Count is the number of problems, including those not listed.
func (e Errors) Count() int {
	n := 0
	for _, is := range e {
		if is.More > 0 {
			n += is.More
		} else {
			n++
		}
	}
	return n
}

// decoder walks a yaml.Node tree by hand rather than unmarshalling into structs, so that every error carries
// its line and column and all of them are collected in one pass.
type decoder struct {
	file string
	// export: the config is checked for `hairpin export` (LoadForExport), not to be run.
	export  bool
	data    []byte // the file, for syntax errors' lines and hints
	errs    issueList
	warns   issueList
	aliases aliasBudget
	// probing: forwardItem reads an item without its key paths; an issue is not reported but sets probeFailed,
	// and the item is read again with them.
	probing, probeFailed bool
	// fwdItems[i] is the list item that became Config.Forwards[i]; items that failed to decode are skipped in
	// Forwards, so the cross-checks need this to name the right item and line.
	fwdItems []listItem
	// fwd is forwards' state; streamed is the forwards list whose items parseFast handed to forwardItem.
	fwd      *fwdState
	streamed *yaml.Node
	// rootFields are the document's keys; rootSeen those rootEntry has seen.
	rootFields map[string]field
	rootSeen   map[string]bool
	// fwdAllow[i] is the allow list of Config.Forwards[i], nil without one.
	fwdAllow []*allowEntries
	// ifnames are the interface names given, checked once the backend is known (checkInterfaceNames).
	ifnames []ifnameNode
	// allow counts what the config's allow lists hold in total and keeps each prefix file read once.
	allow allowBudget
	// prev is what the last load of this config read (Reload); kept collects this load's prefix files.
	prev lastLoad
	kept []*keptFile
	// lookedUp: the config names a user (secret_owners), whose uid is looked up at each load.
	lookedUp bool
}

type ifnameNode struct {
	node *yaml.Node
	path string
	name string
}

// listItem is the list item that became a forward, for the cross-checks' issues: its node, or, for an item of
// the keys every forward has, only the positions the issues name (so parseFast can reuse its nodes).
type listItem struct {
	node  *yaml.Node // nil: the positions below
	index int
	line  int
	col   int
	vals  [3]keyPos // the values of name, port and to, where given
}

// keyPos is where the value of key (a positionKey, 0 for none) is. Small: a config of 10,000 forwards holds
// 10,000 listItems.
type keyPos struct {
	key       uint8
	line, col int32
}

// positionKey numbers the keys whose values a listItem keeps the position of; 0: none of them.
func positionKey(k string) uint8 {
	switch k {
	case "name":
		return 1
	case "port":
		return 2
	case "to":
		return 3
	}
	return 0
}

// plainItemKey reports whether k is a key of an item that needs nothing of its nodes once forwardItem returns;
// any other key (allow, limit, to6) keeps them for later checks.
func plainItemKey(k string) bool {
	switch k {
	case "name", "port", "to", "protocol":
		return true
	}
	return false
}

// newListItem records item n, the i-th, and reports whether its nodes are no longer needed.
func newListItem(n *yaml.Node, i int) (listItem, bool) {
	li := listItem{index: i, line: n.Line, col: n.Column}
	v := 0
	for j := 0; j+1 < len(n.Content); j += 2 {
		k := n.Content[j].Value
		if !plainItemKey(k) || n.Content[j+1].Kind == yaml.AliasNode {
			return listItem{node: n, index: i, line: n.Line, col: n.Column}, false
		}
		if k == "protocol" || seenBefore(n.Content, j) {
			continue // value returns the first
		}
		if v == len(li.vals) {
			return listItem{node: n, index: i, line: n.Line, col: n.Column}, false
		}
		li.vals[v] = keyPos{positionKey(k), int32(n.Content[j+1].Line), int32(n.Content[j+1].Column)}
		v++
	}
	return li, true
}

// value is what valueOf gives for the item: the value of key, or the item itself without one; only its
// position is read.
func (li listItem) value(key string) *yaml.Node {
	if li.node != nil {
		return valueOf(li.node, key)
	}
	if k := positionKey(key); k != 0 {
		for _, v := range li.vals {
			if v.key == k {
				return &yaml.Node{Kind: yaml.ScalarNode, Line: int(v.line), Column: int(v.col)}
			}
		}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Line: li.line, Column: li.col}
}

func (d *decoder) errorf(n *yaml.Node, key, hint, format string, args ...any) {
	if d.probing {
		d.probeFailed = true
		return
	}
	if !d.errs.wants(n.Line, n.Column) {
		d.errs.skip()
		return
	}
	d.errs.add(Issue{File: d.file, Line: n.Line, Col: n.Column, Key: shortKey(key), Problem: message(format, args), Hint: hint})
}

func (d *decoder) warnf(n *yaml.Node, key, hint, format string, args ...any) {
	if d.probing {
		d.probeFailed = true
		return
	}
	if !d.warns.wants(n.Line, n.Column) {
		d.warns.skip()
		return
	}
	d.warns.add(Issue{File: d.file, Line: n.Line, Col: n.Column, Key: shortKey(key), Problem: message(format, args), Hint: hint})
}

// field handles the value of one known key.
type field func(key string, value *yaml.Node)

// mapping checks that n is a mapping, reports unknown and repeated keys, and hands each known value to its
// field function. Keys are visited in file order so errors come out in file order.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) bool {
	return d.mappingKeyed(n, path, "", fields)
}

// mappingKeyed is mapping with the keys' dotted paths already built (mappingKeys(path, n.Content), as itemKeys
// builds them with the item's path), or "" to build them here.
func (d *decoder) mappingKeyed(n *yaml.Node, path, keys string, fields map[string]field) bool {
	n = d.deref(n)
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return false
		}
		key := path
		if key == "" {
			key = "(file)"
		}
		d.errorf(n, key, "write it as `key: value` lines indented under "+orRoot(path), "expected a mapping, found %s", kindName(n))
		return false
	}
	var seen map[string]bool // for a long mapping; a short one is searched
	if len(n.Content) > 2*shortMapping {
		seen = make(map[string]bool, len(n.Content)/2)
	}
	if keys == "" && !d.probing {
		keys = mappingKeys(path, n.Content)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		size := len(keyName(k))
		if path != "" {
			size += len(path) + 1
		}
		key := ""
		if !d.probing {
			key = keys[:size]
			keys = keys[size:]
		}
		if seen != nil && seen[k.Value] || seen == nil && seenBefore(n.Content, i) {
			d.errorf(k, key, "remove one of them", "key appears more than once")
			continue
		}
		if seen != nil {
			seen[k.Value] = true
		}
		f, ok := fields[k.Value]
		if !ok {
			hint := "" // the suggestion costs an edit distance per known key; skip it for issues only counted
			if d.errs.wants(k.Line, k.Column) {
				hint = suggest(k.Value, fields)
			}
			d.errorf(k, key, hint, "unknown key")
			continue
		}
		f(key, d.deref(v))
	}
	return true
}

// mappingKeys is the dotted path of every key of a mapping's content, one after the other in one string: one
// allocation for a forward's keys instead of one each.
func mappingKeys(path string, content []*yaml.Node) string {
	size := 0
	for i := 0; i+1 < len(content); i += 2 {
		size += len(path) + 1 + len(keyName(content[i]))
	}
	var b strings.Builder
	b.Grow(size)
	for i := 0; i+1 < len(content); i += 2 {
		if path != "" {
			b.WriteString(path)
			b.WriteByte('.')
		}
		b.WriteString(keyName(content[i]))
	}
	return b.String()
}

// itemKeys is the path of the i-th item of the list at path ("forwards[12]") and, for the item's mapping content,
// mappingKeys of that path, built in one allocation: the key paths of a forward are only read when one of its
// values is wrong, and building them was a tenth of the time a config of 10,000 forwards took to load.
func itemKeys(path string, i int, content []*yaml.Node) (key, keys string) {
	var num [20]byte
	index := strconv.AppendInt(num[:0], int64(i), 10)
	n := len(path) + len(index) + 2
	size := n
	for j := 0; j+1 < len(content); j += 2 {
		size += n + 1 + len(keyName(content[j]))
	}
	var b strings.Builder
	b.Grow(size)
	item := func() {
		b.WriteString(path)
		b.WriteByte('[')
		b.Write(index)
		b.WriteByte(']')
	}
	item()
	for j := 0; j+1 < len(content); j += 2 {
		item()
		b.WriteByte('.')
		b.WriteString(keyName(content[j]))
	}
	s := b.String()
	return s[:n], s[n:]
}

// keyName is how a key is named in a dotted path. An empty or non-scalar key would leave "FILE:L:C: : problem"
// with nothing to search for.
func keyName(k *yaml.Node) string {
	if k.Value == "" {
		return `""`
	}
	return k.Value
}

// rootEntry is mapping's work on one key k of the document's mapping as parseFast reads it: a key it does not
// know, or has seen before, is reported here and its entry is not kept (keep false), so that a file of
// hundreds of thousands of unknown keys does not become a tree of them; mapping then finds every kept key new
// and known. The issues are mapping's own, whatever the order they come in (wants, not full, decides a hint).
func (d *decoder) rootEntry(k *yaml.Node) (keep bool) {
	if d.rootSeen == nil {
		d.rootSeen = map[string]bool{}
	}
	key := keyName(k)
	if d.rootSeen[k.Value] {
		d.errorf(k, key, "remove one of them", "key appears more than once")
		return false
	}
	d.rootSeen[k.Value] = true
	if _, ok := d.rootFields[k.Value]; !ok {
		hint := ""
		if d.errs.wants(k.Line, k.Column) {
			hint = suggest(k.Value, d.rootFields)
		}
		d.errorf(k, key, hint, "unknown key")
		return false
	}
	return true
}

// shortMapping is the most keys a mapping has for mapping to look for a repeated key by comparing with the keys
// before it rather than with a map: a forward's keys (a map each was a tenth of loading 50,000 forwards).
const shortMapping = 16

// seenBefore reports whether the key at content[i] is also one of the keys before it.
func seenBefore(content []*yaml.Node, i int) bool {
	for j := 0; j < i; j += 2 {
		if content[j].Value == content[i].Value {
			return true
		}
	}
	return false
}

func (d *decoder) sequence(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "write it as a list of `- ` items", "expected a list, found %s", kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = d.deref(c)
	}
	return out
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "give a single value", "expected a string, found %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, path string, min, max int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, fmt.Sprintf("use a whole number from %d to %d", min, max), "expected a number, found %s", kindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < min || v > max {
		d.errorf(n, path, fmt.Sprintf("use a whole number from %d to %d", min, max), "%s is out of range", n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "use true or false", "expected true or false, found %s", kindName(n))
		return false, false
	}
	return n.Value == "true", true
}

// MaxWait bounds every interval and wait a config sets: a wait of years turns off what it paces (resync is the
// daemon's repair of rules changed behind its back) without saying so.
const MaxWait = 24 * time.Hour

// duration reads a wait from min up to MaxWait.
func (d *decoder) duration(n *yaml.Node, path string, min time.Duration) (time.Duration, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < min {
		d.errorf(n, path, fmt.Sprintf("use a duration such as 30s or 5m, at least %s", min), "%q is not a valid duration", s)
		return 0, false
	}
	if v > MaxWait {
		d.errorf(n, path, fmt.Sprintf("use at most %s", fmtWait(MaxWait)), "%s is too long", echo(s))
		return 0, false
	}
	return v, true
}

// fmtWait prints whole hours as "24h" rather than time.Duration's "24h0m0s".
func fmtWait(t time.Duration) string {
	if t%time.Hour == 0 {
		return fmt.Sprintf("%dh", t/time.Hour)
	}
	return t.String()
}

func (d *decoder) oneOf(n *yaml.Node, path string, allowed ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.errorf(n, path, "use one of: "+strings.Join(allowed, ", "), "%s is not allowed", echo(s))
	return "", false
}

// deref follows an alias to its anchor, charging the expansion to the file's alias budget; past the budget it
// reports the alias once and returns an empty value, so nothing more is expanded.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.AliasNode {
		return n
	}
	if !d.aliases.spend(n) {
		if !d.aliases.reported {
			d.aliases.reported = true
			d.errorf(n, "(file)", "write the values out, or use fewer aliases", "YAML aliases expand to more than %d values", maxAliasNodes)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}
	return resolveAlias(n)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!int":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		default:
			return string(echo(n.Value))
		}
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// suggest names the closest known key, because most unknown keys are typos.
func suggest(key string, fields map[string]field) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestDist := "", 3
	for _, k := range known {
		if dist := typo.Distance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q? known keys: %s", best, strings.Join(known, ", "))
	}
	return "known keys: " + strings.Join(known, ", ")
}
