package config

import (
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits that keep the work on any config file bounded: a hostile or broken file gets a clear error in
// milliseconds, never minutes and gigabytes.
const (
	// MaxFileSize bounds the config file: a config of 50,000 forwards is about 3 MB, and checking a 4 MB file of
	// anything stays near a second and 250 MB.
	MaxFileSize = 4 << 20
	// MaxIssues bounds the errors (and, separately, warnings) reported for one file; the rest are counted.
	MaxIssues = 100
	// maxAliasNodes bounds what YAML aliases expand to, counted in values: a few aliases that each repeat
	// the one before would otherwise expand to billions.
	maxAliasNodes = 100_000
	// maxEcho bounds a value quoted back in a message.
	maxEcho = 64
)

// issueList collects up to MaxIssues problems, keeping the ones earliest in the file, and counts the rest.
type issueList struct {
	list    Errors
	dropped int
	last    int // index in list of the latest kept issue, once full
}

// wants reports whether an issue at line:col would be kept; one that would only be counted need not be built.
func (s *issueList) wants(line, col int) bool {
	return len(s.list) < MaxIssues || before(Issue{Line: line, Col: col}, s.list[s.last])
}

func (s *issueList) add(is Issue) {
	if len(s.list) < MaxIssues {
		s.list = append(s.list, is)
		if len(s.list) == MaxIssues {
			s.findLast()
		}
		return
	}
	s.dropped++
	// Keep the earliest: replace the latest kept issue when this one comes before it.
	if before(is, s.list[s.last]) {
		s.list[s.last] = is
		s.findLast()
	}
}

// skip counts an issue that wants said would not be kept.
func (s *issueList) skip() { s.dropped++ }

func (s *issueList) findLast() {
	s.last = 0
	for i := range s.list {
		if before(s.list[s.last], s.list[i]) {
			s.last = i
		}
	}
}

func before(a, b Issue) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

// result sorts the kept issues and appends "and N more" when some were dropped.
func (s *issueList) result(file string) Errors {
	byPosition(file, s.list)
	if s.dropped > 0 {
		return append(s.list, Issue{File: file, More: s.dropped})
	}
	return s.list
}

// quoted is a value already quoted and cut for a message; shorten leaves it alone.
type quoted string

// echo quotes s for a message, cut to maxEcho characters: a 100 MB value must not become a 100 MB log line.
func echo(s string) quoted {
	if len(s) <= maxEcho {
		return quoted(fmt.Sprintf("%q", s))
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return quoted(fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s)))
}

// shorten cuts every string argument of a message to maxEcho characters.
func shorten(args []any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxEcho {
			cut := maxEcho
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			args[i] = fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
		}
	}
	return args
}

// message formats a problem with every value in it cut short, including values quoted inside an error.
func message(format string, args []any) string {
	m := fmt.Sprintf(format, shorten(args)...)
	if len(m) <= 4*maxEcho {
		return m
	}
	cut := 4 * maxEcho
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", m[:cut], len(m))
}

// shortKey cuts a key path that holds a huge unknown key.
func shortKey(k string) string {
	if len(k) <= 2*maxEcho {
		return k
	}
	cut := 2 * maxEcho
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "..."
}

// aliasBudget counts the values YAML aliases expand to. Sizes are memoised per anchor, so counting is linear
// in the file even when the expansion is not.
type aliasBudget struct {
	used     int
	sizes    map[*yaml.Node]int
	over     bool
	reported bool
}

// spend charges the expansion of alias node n; it returns false once the budget is exceeded.
func (b *aliasBudget) spend(n *yaml.Node) bool {
	if b.over {
		return false
	}
	b.used += b.size(n.Alias, 0)
	if b.used > maxAliasNodes {
		b.over = true
	}
	return !b.over
}

func (b *aliasBudget) size(n *yaml.Node, depth int) int {
	if n == nil || depth > 1000 {
		return maxAliasNodes + 1
	}
	if s, ok := b.sizes[n]; ok {
		return s
	}
	if b.sizes == nil {
		b.sizes = map[*yaml.Node]int{}
	}
	s := 1
	if n.Kind == yaml.AliasNode {
		s = b.size(n.Alias, depth+1)
	} else {
		for _, c := range n.Content {
			s += b.size(c, depth+1)
			if s > maxAliasNodes {
				break
			}
		}
	}
	b.sizes[n] = s
	return s
}
