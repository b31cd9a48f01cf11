package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// parseFast builds the yaml.v3 node tree of data for the plain YAML configs are written in, several times
// faster than yaml.v3, whose node tree was most of the time `hairpin apply` took for a large config: block
// mappings and sequences, single-line flow mappings and sequences, single-line plain and quoted scalars, and
// comments. It fills what config reads of a node (Kind, Style, Tag, Value, Line, Column, Content) exactly as
// yaml.v3 does, and no comments. Whenever the input goes beyond that subset, or parseFast is not sure yaml.v3
// would read it the same way (anchors, tags, block scalars, multi-line scalars, a second document, tabs,
// non-ASCII text, an unusual scalar), it returns ok false and the caller parses with yaml.v3, which also
// reports every syntax error. FuzzParseFast holds it to yaml.v3 on every input it accepts.
//
// With stream set, the items of the top-level `forwards` list go to stream as they are read, and an item's nodes
// are reused for the next when stream says nothing refers to them: a config of 50,000 forwards is 450,000 nodes
// of 152 bytes, and touching that much fresh memory was most of the time loading it took. That list's node then
// has no Content; streamed is it.
func parseFast(data []byte, stream itemStream) (doc, streamed *yaml.Node, ok bool) {
	for _, c := range data {
		// Columns count characters, and tabs and carriage returns have rules of their own: leave them to yaml.v3.
		if c >= 0x7f || (c < ' ' && c != '\n') {
			return nil, nil, false
		}
	}
	p := &fastParser{src: string(data), stream: stream, atRoot: true}
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(unsure); !is {
				panic(r)
			}
			doc, streamed, ok = nil, nil, false
		}
	}()
	p.skipBlank()
	if p.eof() {
		return nil, nil, false
	}
	doc = p.node(yaml.DocumentNode, "", p.line, p.col())
	mark := len(p.kids)
	p.kids = append(p.kids, p.block(p.col()))
	if !p.eof() {
		panic(unsure{})
	}
	doc.Content = p.collect(mark)
	return doc, p.streamed, true
}

// itemStream takes the items of a config's forwards list as parseFast reads them (the decoder's forwards).
type itemStream interface {
	startForwards(path string, n int)
	forwardItem(n *yaml.Node, i int) (reuse bool)
	// rootEntry takes each key of the document's mapping once its value is read; an entry it does not keep
	// leaves the tree and its nodes are reused.
	rootEntry(k *yaml.Node) (keep bool)
}

// unsure stops parseFast: yaml.v3 reads the input instead.
type unsure struct{}

type fastParser struct {
	src  string
	pos  int
	line int // 0-based, of pos
	bol  int // where pos's line begins
	// nodes and ptrs are slabs the nodes and their Content slices are cut from, so that a config of 50,000
	// forwards (450,000 nodes) takes a few hundred allocations instead of a million.
	nodes []yaml.Node
	ptrs  []*yaml.Node
	slab  int          // the size of the next nodes slab: small files take small slabs
	kids  []*yaml.Node // the children of the collections being read, innermost last
	// keyAt-1 is where keyHere last looked, and keyColon what it found: the key's colon, or -1.
	keyAt, keyColon int
	stream          itemStream
	atRoot          bool       // no collection read yet: the next block mapping is the document's
	streamed        *yaml.Node // the forwards list streamed
	sawForwards     bool
}

func (p *fastParser) eof() bool { return p.pos >= len(p.src) }
func (p *fastParser) col() int  { return p.pos - p.bol }

func (p *fastParser) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

// blankAt reports whether src[i] ends a token: a space, a line break or the end.
func (p *fastParser) blankAt(i int) bool {
	c := p.at(i)
	return c == 0 || c == ' ' || c == '\n'
}

func (p *fastParser) node(kind yaml.Kind, tag string, line, col int) *yaml.Node {
	if len(p.nodes) == 0 {
		p.slab = min(max(2*p.slab, 64), 4096)
		p.nodes = make([]yaml.Node, p.slab)
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	*n = yaml.Node{Kind: kind, Tag: tag, Line: line + 1, Column: col + 1} // it may be a streamed item's, reused
	return n
}

// collect returns the children read since mark as a Content slice.
func (p *fastParser) collect(mark int) []*yaml.Node {
	kids := p.kids[mark:]
	n := len(kids)
	if n == 0 {
		return nil
	}
	if len(p.ptrs) < n {
		p.ptrs = make([]*yaml.Node, max(n, 8192))
	}
	out := p.ptrs[:n:n]
	p.ptrs = p.ptrs[n:]
	copy(out, kids)
	p.kids = p.kids[:mark]
	return out
}

// skipBlank moves to the next content: past spaces, line breaks and comments.
func (p *fastParser) skipBlank() {
	for !p.eof() {
		switch p.src[p.pos] {
		case ' ':
			p.pos++
		case '\n':
			p.newline()
		case '#':
			if p.pos > p.bol && p.src[p.pos-1] != ' ' {
				panic(unsure{})
			}
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

// newline moves past the line break at pos. A document marker at the start of the next line is yaml.v3's.
func (p *fastParser) newline() {
	p.pos++
	p.line++
	p.bol = p.pos
	if rest := p.src[p.pos:]; (strings.HasPrefix(rest, "---") || strings.HasPrefix(rest, "...")) && p.blankAt(p.pos+3) {
		panic(unsure{})
	}
}

func (p *fastParser) skipSpaces() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

// lineEnds reports whether nothing but a comment is left on the line.
func (p *fastParser) lineEnds() bool {
	c := p.at(p.pos)
	return c == 0 || c == '\n' || c == '#' && p.src[p.pos-1] == ' '
}

// endLine checks that only spaces and a comment are left on the line, and moves to the next content.
func (p *fastParser) endLine() {
	p.skipSpaces()
	if !p.lineEnds() {
		panic(unsure{})
	}
	p.skipBlank()
}

func (p *fastParser) entryHere() bool { return p.at(p.pos) == '-' && p.blankAt(p.pos+1) }

// block reads the block node that starts at pos, in column c, and moves to the next content after it.
func (p *fastParser) block(c int) *yaml.Node {
	switch {
	case p.entryHere():
		return p.blockSeq(c, false)
	case p.keyHere():
		return p.blockMap(c)
	}
	return p.inlineLine()
}

// inlineLine reads a scalar or flow collection that ends its line.
func (p *fastParser) inlineLine() *yaml.Node {
	n := p.inline(false)
	p.endLine()
	return n
}

// goesOn reports whether the block collection in column c goes on at the next content: it is in column c.
func (p *fastParser) goesOn(c int) bool {
	if p.eof() || p.col() < c {
		return false
	}
	if p.col() > c {
		panic(unsure{}) // a continued scalar, or an indentation yaml.v3 refuses
	}
	return true
}

// blockMap reads the block mapping whose keys are in column c.
func (p *fastParser) blockMap(c int) *yaml.Node {
	root := p.atRoot
	p.atRoot = false
	m := p.node(yaml.MappingNode, "!!map", p.line, c)
	mark := len(p.kids)
	for {
		if !p.keyHere() {
			panic(unsure{})
		}
		nodes, ptrs := p.nodes, p.ptrs
		k := p.key()
		stream := false
		if root && p.stream != nil && k.Value == "forwards" {
			if p.sawForwards {
				panic(unsure{}) // the decoder reads the first and reports the second
			}
			p.sawForwards, stream = true, true
		}
		// An empty value sits just after the colon.
		line, after := p.line, p.col()
		p.skipSpaces()
		var v *yaml.Node
		if p.lineEnds() {
			p.skipBlank()
			switch {
			case !p.eof() && p.col() > c && stream && p.entryHere():
				v = p.blockSeqOf(p.col(), false, true)
			case !p.eof() && p.col() > c:
				v = p.block(p.col())
			case !p.eof() && p.col() == c && p.entryHere():
				v = p.blockSeqOf(c, true, stream) // a list may sit at its key's indentation
			default:
				v = p.node(yaml.ScalarNode, "!!null", line, after)
			}
		} else {
			v = p.inlineLine()
		}
		if root && p.stream != nil && !p.stream.rootEntry(k) {
			p.nodes, p.ptrs = nodes, ptrs
		} else {
			p.kids = append(p.kids, k, v)
		}
		if !p.goesOn(c) {
			break
		}
	}
	m.Content = p.collect(mark)
	return m
}

// blockSeq reads the block sequence whose entries are in column c; an indentless one (the value of a key in
// the same column) ends at the first line there that is not an entry.
func (p *fastParser) blockSeq(c int, indentless bool) *yaml.Node {
	return p.blockSeqOf(c, indentless, false)
}

// blockSeqOf is blockSeq; stream: its items go to p.stream, the forwards list's decoder, instead of Content.
func (p *fastParser) blockSeqOf(c int, indentless, stream bool) *yaml.Node {
	p.atRoot = false
	s := p.node(yaml.SequenceNode, "!!seq", p.line, c)
	mark := len(p.kids)
	if stream {
		p.streamed = s
		// About one item per entry in this column from here on: the decoder sizes its lists by it.
		p.stream.startForwards("forwards", 1+strings.Count(p.src[p.pos:], "\n"+strings.Repeat(" ", c)+"- "))
	}
	for i := 0; ; i++ {
		nodes, ptrs := p.nodes, p.ptrs
		p.pos++ // the '-'
		line, after := p.line, p.col()
		p.skipSpaces()
		var item *yaml.Node
		switch {
		case p.lineEnds():
			p.skipBlank()
			if !p.eof() && p.col() > c {
				item = p.block(p.col())
			} else {
				item = p.node(yaml.ScalarNode, "!!null", line, after)
			}
		case p.entryHere():
			panic(unsure{}) // "- - x"
		case p.keyHere():
			item = p.blockMap(p.col())
		default:
			item = p.inlineLine()
		}
		if !stream {
			p.kids = append(p.kids, item)
		} else if p.stream.forwardItem(item, i) {
			p.nodes, p.ptrs = nodes, ptrs // the next item's nodes take its place
		}
		if !p.goesOn(c) {
			break
		}
		if !p.entryHere() {
			if indentless {
				break
			}
			panic(unsure{})
		}
	}
	s.Content = p.collect(mark)
	return s
}

// keyHere reports whether a simple key starts at pos: a scalar on this line followed by ": " (or a colon at
// the end of the line). The answer is kept for key, which reads the key it found.
func (p *fastParser) keyHere() bool {
	if p.keyAt == p.pos+1 {
		return p.keyColon >= 0
	}
	p.keyAt, p.keyColon = p.pos+1, p.findColon()
	return p.keyColon >= 0
}

// findColon returns where the colon after a simple key at pos is, or -1.
func (p *fastParser) findColon() int {
	i := p.pos
	switch c := p.at(i); c {
	case '\'', '"':
		end, _ := p.quotedEnd(i)
		i = end
		for p.at(i) == ' ' {
			i++
		}
		if p.at(i) == ':' && p.blankAt(i+1) {
			return i
		}
		return -1
	default:
		if !plainStarts(c, p.at(i+1)) {
			return -1
		}
	}
	for ; i < len(p.src); i++ {
		switch p.src[i] {
		case '\n':
			return -1
		case ':':
			if p.blankAt(i + 1) {
				return i
			}
		case '#':
			if p.src[i-1] == ' ' {
				return -1
			}
		}
	}
	return -1
}

// key reads the key keyHere found, and its colon.
func (p *fastParser) key() *yaml.Node {
	start, colon := p.pos, p.keyColon
	if colon-start > 1000 {
		panic(unsure{}) // yaml.v3 refuses a simple key longer than 1024 characters
	}
	var k *yaml.Node
	if c := p.src[p.pos]; c == '\'' || c == '"' {
		k = p.quoted()
	} else {
		k = p.plain(strings.TrimRight(p.src[start:colon], " "), p.line, p.col())
	}
	p.pos = colon + 1
	return k
}

// inline reads a scalar or flow collection that ends on this line; inFlow: as an entry of a flow collection.
func (p *fastParser) inline(inFlow bool) *yaml.Node {
	switch c := p.src[p.pos]; c {
	case '[', '{':
		return p.flow()
	case '\'', '"':
		return p.quoted()
	default:
		if !plainStarts(c, p.at(p.pos+1)) {
			panic(unsure{})
		}
	}
	start, line, col := p.pos, p.line, p.col()
	for ; !p.eof(); p.pos++ {
		c := p.src[p.pos]
		if c == '\n' || inFlow && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}') {
			break
		}
		if c == '#' && p.src[p.pos-1] == ' ' {
			if inFlow {
				panic(unsure{})
			}
			break
		}
		switch {
		case c == ':' && p.blankAt(p.pos+1) && inFlow:
			// The end of a flow mapping's key.
		case c == ':' && p.blankAt(p.pos+1):
			panic(unsure{}) // "a: b: c", refused by yaml.v3
		case inFlow && (c == '?' || c == ':' && strings.IndexByte(",[]{}?", p.at(p.pos+1)) >= 0):
			panic(unsure{})
		default:
			continue
		}
		break
	}
	return p.plain(strings.TrimRight(p.src[start:p.pos], " "), line, col)
}

// flow reads a flow sequence or mapping that closes on this line.
func (p *fastParser) flow() *yaml.Node {
	p.atRoot = false
	seq := p.src[p.pos] == '['
	kind, tag, closer := yaml.MappingNode, "!!map", byte('}')
	if seq {
		kind, tag, closer = yaml.SequenceNode, "!!seq", ']'
	}
	n := p.node(kind, tag, p.line, p.col())
	n.Style = yaml.FlowStyle
	p.pos++
	mark := len(p.kids)
	for {
		p.flowSpaces()
		if p.at(p.pos) == closer {
			break
		}
		if seq {
			p.kids = append(p.kids, p.inline(true))
		} else {
			c := p.at(p.pos)
			if c == '[' || c == '{' {
				panic(unsure{})
			}
			p.kids = append(p.kids, p.inline(true))
			p.flowSpaces()
			if p.at(p.pos) != ':' || !p.blankAt(p.pos+1) {
				panic(unsure{}) // a key without a value, or a JSON-style "k":v
			}
			p.pos++
			p.flowSpaces()
			if c := p.at(p.pos); c == ',' || c == '}' {
				panic(unsure{})
			}
			p.kids = append(p.kids, p.inline(true))
		}
		p.flowSpaces()
		switch p.at(p.pos) {
		case ',':
			p.pos++
			continue
		case closer:
		default:
			panic(unsure{})
		}
		break
	}
	p.pos++ // the closer
	n.Content = p.collect(mark)
	return n
}

func (p *fastParser) flowSpaces() {
	p.skipSpaces()
	if c := p.at(p.pos); c == '\n' || c == 0 || c == '#' {
		panic(unsure{}) // a flow collection over several lines
	}
}

// plainStarts reports whether c (followed by next) starts a plain scalar parseFast reads; indicators, and the
// rarer starts yaml.v3 reads in ways of its own, are left to it.
func plainStarts(c, next byte) bool {
	switch c {
	case '-':
		return next >= '0' && next <= '9' || next >= 'a' && next <= 'z' || next >= 'A' && next <= 'Z'
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '\n', 0:
		return false
	}
	return true
}

// quotedEnd returns the end of the quoted scalar at i (after its closing quote) and whether it holds escapes.
// A scalar that does not close on its line is yaml.v3's.
func (p *fastParser) quotedEnd(i int) (end int, escaped bool) {
	q := p.src[i]
	for i++; i < len(p.src); i++ {
		switch c := p.src[i]; {
		case c == '\n':
			panic(unsure{})
		case c == q && q == '\'' && p.at(i+1) == '\'':
			i++
			escaped = true
		case c == q:
			return i + 1, escaped
		case c == '\\' && q == '"':
			if strings.IndexByte(`"\nt`, p.at(i+1)) < 0 {
				panic(unsure{})
			}
			i++
			escaped = true
		}
	}
	panic(unsure{})
}

func (p *fastParser) quoted() *yaml.Node {
	start := p.pos
	end, escaped := p.quotedEnd(start)
	n := p.node(yaml.ScalarNode, "!!str", p.line, p.col())
	n.Style = yaml.SingleQuotedStyle
	if p.src[start] == '"' {
		n.Style = yaml.DoubleQuotedStyle
	}
	n.Value = p.src[start+1 : end-1]
	if escaped {
		n.Value = unescape(n.Value, p.src[start])
	}
	p.pos = end
	return n
}

func unescape(s string, q byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if q == '\'' && c == '\'' || q == '"' && c == '\\' {
			i++
			c = s[i]
			switch c {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *fastParser) plain(v string, line, col int) *yaml.Node {
	tag, ok := plainTag(v)
	if !ok {
		panic(unsure{})
	}
	n := p.node(yaml.ScalarNode, tag, line, col)
	n.Value = v
	return n
}

// plainTag is the tag yaml.v3 resolves a plain scalar to, for the scalars whose tag is plain to see: words,
// decimal numbers, addresses, ports and port ranges, URLs. ok is false for the rest (floats, octal and
// hexadecimal numbers, dates, "<<"), which yaml.v3 reads.
func plainTag(v string) (tag string, ok bool) {
	switch v {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return "!!bool", true
	case "~", "null", "Null", "NULL":
		return "!!null", true
	}
	c := v[0]
	if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
		// yaml.v3 resolves words by their first letter: those not in the table above are strings.
		return "!!str", v != "<<"
	}
	if c == '+' || c == '.' {
		return "", false
	}
	// One pass over v counts what the rules below look at: a plain scalar's tag is decided for every value.
	var digits, dots, dashes, letters int
	other := false
	lead := -1 // the leading run of digits
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b >= '0' && b <= '9':
			digits++
			continue
		case b == '.':
			dots++
		case b == '-':
			dashes++
		case b == '_', b == '+', b == 'e', b == 'E':
		case b >= 'a' && b <= 'f', b >= 'A' && b <= 'F', b == 'x', b == 'X', b == 'o', b == 'O':
			letters++
		default:
			other = true
		}
		if lead < 0 {
			lead = i
		}
	}
	if lead < 0 {
		lead = len(v)
	}
	body := v
	if c == '-' {
		body = v[1:]
	}
	if body != "" && digits == len(body) && len(body) <= 18 && (body[0] != '0' || body == "0") {
		return "!!int", true
	}
	// A date starts with four digits and a dash, and has another dash.
	if lead == 4 && len(v) > 4 && v[4] == '-' && dashes > 1 {
		return "", false
	}
	// What holds a character no number has ('/', ':', '%', a space) is a string.
	if other {
		return "!!str", true
	}
	// Underscores go before yaml.v3 reads a number, and a prefix (0x, 0o, 0b) allows letters.
	body = strings.ReplaceAll(body, "_", "")
	if len(body) > 1 && body[0] == '0' && !(body[1] >= '0' && body[1] <= '9' || body[1] == '.') {
		return "", false
	}
	// Without a prefix, a letter but e (a float's exponent) makes a string: a hexadecimal ID, say.
	if letters > 0 {
		return "!!str", true
	}
	// So does a dotted address (a float has one dot) and a range (a number has no dash inside).
	if digits+dots == len(v) && dots > 1 || c != '-' && dashes > 0 && digits+dashes == len(v) {
		return "!!str", true
	}
	return "", false
}
