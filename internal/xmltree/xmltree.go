// Package xmltree reads the few small XML documents hairpin meets (a UPnP gateway's description and SOAP
// answers, Route 53's and Namecheap's answers) into a tree of elements, and escapes the text of the few it
// writes. It is not encoding/xml: that package weighs about 140 KB in the mipsle router build (its reflection
// ~100 KB, its tokenizer ~40 KB), this one a few KB.
//
// It reads a subset of XML 1.0 and reads it as encoding/xml does: the tests hold every document it accepts
// to encoding/xml's reading of it (the same elements, namespaces and text), and it refuses what encoding/xml
// refuses. What it leaves out, and refuses: a DOCTYPE (and so any entity but the five predefined and
// character references), names outside ASCII, and an XML declaration of an encoding other than UTF-8 unless
// the caller accepts the label.
//
// Element names are local names with the namespace they resolve to; an element's Text is the character
// data directly inside it, as encoding/xml's Unmarshal gives a string field.
package xmltree

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// MaxDepth bounds the nesting of a document: the documents read here are a few levels deep.
const MaxDepth = 64

// Header is the XML declaration of a document hairpin writes.
const Header = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Element is one element of a document.
type Element struct {
	Space    string // the namespace the name resolves to
	Name     string // the local name
	Text     string
	Children []*Element
}

// Parse reads the first element of the document in b (with what precedes it: the XML declaration,
// comments, processing instructions, whitespace) and its content; what follows its end is not read, as with
// xml.Unmarshal. A declared encoding other than UTF-8 is refused.
func Parse(b []byte) (*Element, error) {
	return ParseCharset(b, nil)
}

// ParseCharset is Parse for a document whose XML declaration may name another encoding: charset, given the
// label, says whether the bytes are to be read as UTF-8 all the same (nil: they are not).
func ParseCharset(b []byte, charset func(label string) error) (*Element, error) {
	p := &parser{s: string(b), charset: charset, ns: map[string]string{}}
	e, err := p.document()
	if err != nil {
		return nil, errfmt.Errorf("XML at byte %d: %w", p.i, err)
	}
	return e, nil
}

type parser struct {
	s       string
	i       int
	charset func(string) error
	// ns maps the prefixes in scope to their namespace ("" is the default namespace).
	ns map[string]string
}

// open is an element being read, with the namespace bindings it shadows.
type open struct {
	e      *Element
	raw    string // the name as written, prefix included: the end tag must repeat it
	text   []byte
	shadow []binding
}

type binding struct {
	prefix, uri string
	had         bool
}

func (p *parser) document() (*Element, error) {
	var stack []*open
	for {
		if p.i >= len(p.s) {
			if len(stack) == 0 {
				return nil, errors.New("no XML element")
			}
			return nil, errors.New("unexpected end of the document")
		}
		if p.s[p.i] != '<' {
			t, err := p.text()
			if err != nil {
				return nil, err
			}
			if n := len(stack); n > 0 {
				stack[n-1].text = append(stack[n-1].text, t...)
			}
			continue
		}
		rest := p.s[p.i:]
		switch {
		case strings.HasPrefix(rest, "<?"):
			if err := p.procInst(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(rest, "<!--"):
			// The first "--" must end the comment.
			end := strings.Index(rest[4:], "--")
			if end < 0 || !strings.HasPrefix(rest[4+end:], "-->") {
				return nil, errors.New(`an unterminated comment, or "--" inside one`)
			}
			if err := checkChars(rest[4 : 4+end]); err != nil {
				return nil, err
			}
			p.i += 4 + end + 3
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return nil, errors.New("unterminated CDATA section")
			}
			t := rest[9 : 9+end]
			if err := checkChars(t); err != nil {
				return nil, err
			}
			if n := len(stack); n > 0 {
				stack[n-1].text = append(stack[n-1].text, newlines(t)...)
			}
			p.i += 9 + end + 3
		case strings.HasPrefix(rest, "<!"):
			return nil, errors.New("a DOCTYPE or other declaration (not read here)")
		case strings.HasPrefix(rest, "</"):
			p.i += 2
			raw, ok := p.name()
			if !ok {
				return nil, errors.New("a bad end tag")
			}
			p.space()
			if !p.take('>') {
				return nil, errors.New("a bad end tag")
			}
			n := len(stack) - 1
			if n < 0 {
				return nil, errfmt.Errorf("</%s> closes nothing", raw)
			}
			o := stack[n]
			if raw != o.raw {
				return nil, errfmt.Errorf("<%s> closed by </%s>", o.raw, raw)
			}
			p.close(o)
			stack = stack[:n]
			if n == 0 {
				return o.e, nil
			}
		default:
			if len(stack) == MaxDepth {
				return nil, errfmt.Errorf("XML nested deeper than %d elements", MaxDepth)
			}
			o, empty, err := p.startTag()
			if err != nil {
				return nil, err
			}
			if n := len(stack); n > 0 {
				stack[n-1].e.Children = append(stack[n-1].e.Children, o.e)
			}
			if !empty {
				stack = append(stack, o)
				continue
			}
			// <a/> is <a></a>.
			p.close(o)
			if len(stack) == 0 {
				return o.e, nil
			}
		}
	}
}

// close ends o: its text is complete and the namespaces it declared go out of scope.
func (p *parser) close(o *open) {
	o.e.Text = string(o.text)
	for k := len(o.shadow) - 1; k >= 0; k-- {
		if b := o.shadow[k]; b.had {
			p.ns[b.prefix] = b.uri
		} else {
			delete(p.ns, b.prefix)
		}
	}
}

// startTag reads <name attr="value" ...> or <name .../> (empty), brings the namespaces it declares into scope
// and resolves its name.
func (p *parser) startTag() (o *open, empty bool, err error) {
	p.i++
	raw, ok := p.name()
	if !ok {
		return nil, false, errors.New("a bad start tag")
	}
	o = &open{e: &Element{}, raw: raw}
	var attrs [][2]string
	for {
		sp := p.space()
		if p.take('>') {
			break
		}
		if strings.HasPrefix(p.s[p.i:], "/>") {
			p.i += 2
			empty = true
			break
		}
		if !sp {
			return nil, false, errfmt.Errorf("a bad start tag <%s>", raw)
		}
		name, ok := p.name()
		if !ok {
			return nil, false, errfmt.Errorf("a bad attribute in <%s>", raw)
		}
		p.space()
		if !p.take('=') {
			return nil, false, errfmt.Errorf("attribute %s of <%s> has no value", name, raw)
		}
		p.space()
		v, err := p.attrValue()
		if err != nil {
			return nil, false, err
		}
		attrs = append(attrs, [2]string{name, v})
	}
	return o, empty, p.bind(o, attrs)
}

// bind declares the namespaces of attrs (xmlns="uri", xmlns:p="uri") for o and resolves o's name: a prefix
// in scope to its namespace, xml to XML's own, an unknown prefix to itself, no prefix to the default
// namespace, as encoding/xml does.
func (p *parser) bind(o *open, attrs [][2]string) error {
	for _, a := range attrs {
		prefix, ok := "", a[0] == "xmlns"
		if after, found := strings.CutPrefix(a[0], "xmlns:"); found {
			prefix, ok = after, true
		}
		if !ok {
			continue
		}
		uri, had := p.ns[prefix]
		o.shadow = append(o.shadow, binding{prefix, uri, had})
		p.ns[prefix] = a[1]
	}
	space, local, found := strings.Cut(o.raw, ":")
	if !found {
		space, local = "", o.raw
	}
	switch {
	case space == "xmlns" || o.raw == "xmlns":
		return errfmt.Errorf("an element named %s", o.raw)
	case space == "xml":
		space = "http://www.w3.org/XML/1998/namespace"
	default:
		if uri, ok := p.ns[space]; ok {
			space = uri
		}
	}
	o.e.Space, o.e.Name = space, local
	return nil
}

// name reads an XML name: ASCII letters, digits and _ - . with at most one colon inside (prefix:local).
func (p *parser) name() (string, bool) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':' ||
			p.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	n := p.s[start:p.i]
	if n == "" || strings.Count(n, ":") > 1 || n[0] == ':' || n[len(n)-1] == ':' {
		return "", false
	}
	if p.i < len(p.s) && p.s[p.i] >= utf8.RuneSelf {
		return "", false // a name going on outside ASCII
	}
	return n, true
}

// space skips XML white space and says whether there was any.
func (p *parser) space() bool {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
	return p.i > start
}

func (p *parser) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// attrValue reads a quoted attribute value, its references replaced.
func (p *parser) attrValue() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\'' {
		return "", errors.New("an unquoted attribute value")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("an unterminated attribute value")
	}
	raw := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(raw, '<') >= 0 {
		return "", errors.New("< in an attribute value")
	}
	p.i += end + 2
	v, err := unescape(raw)
	return string(v), err
}

// text reads character data up to the next markup, its references replaced and its line ends made \n.
func (p *parser) text() ([]byte, error) {
	end := strings.IndexByte(p.s[p.i:], '<')
	if end < 0 {
		end = len(p.s) - p.i
	}
	raw := p.s[p.i : p.i+end]
	p.i += end
	if strings.Contains(raw, "]]>") {
		return nil, errors.New("]]> outside a CDATA section")
	}
	return unescape(raw)
}

// procInst reads <?target content?>; the XML declaration's version must be 1.0 and its encoding UTF-8 or
// one the caller reads as UTF-8.
func (p *parser) procInst() error {
	p.i += 2
	target, ok := p.name()
	if !ok {
		return errors.New("a processing instruction without a target")
	}
	p.space()
	end := strings.Index(p.s[p.i:], "?>")
	if end < 0 {
		return errors.New("an unterminated processing instruction")
	}
	content := p.s[p.i : p.i+end]
	p.i += end + 2
	if target != "xml" {
		return nil
	}
	if v := pseudoAttr(content, "version"); v != "" && v != "1.0" {
		return errfmt.Errorf("XML version %q", v)
	}
	if enc := pseudoAttr(content, "encoding"); enc != "" && !strings.EqualFold(enc, "utf-8") {
		if p.charset == nil {
			return errfmt.Errorf("encoding %q", enc)
		}
		if err := p.charset(enc); err != nil {
			return errfmt.Errorf("encoding %q: %w", enc, err)
		}
	}
	return nil
}

// pseudoAttr is the value of name='value' (or "value") in a declaration's content, found as encoding/xml
// finds it: the first name= directly followed by a quote.
func pseudoAttr(content, name string) string {
	param := name + "="
	for i := 0; i < len(content); {
		k := strings.Index(content[i:], param)
		if k < 0 || i+k+len(param) >= len(content) {
			return ""
		}
		at := i + k + len(param)
		if q := content[at]; q == '\'' || q == '"' {
			end := strings.IndexByte(content[at+1:], q)
			if end < 0 {
				return ""
			}
			return content[at+1 : at+1+end]
		}
		i = at + 1
	}
	return ""
}

// unescape replaces the five predefined entities and character references of raw, makes its line ends \n
// and checks that every character is one XML allows.
func unescape(raw string) ([]byte, error) {
	if err := checkChars(raw); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '&' {
			if c == '\r' {
				out = append(out, '\n')
				if i+1 < len(raw) && raw[i+1] == '\n' {
					i++
				}
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		end := strings.IndexByte(raw[i:], ';')
		if end < 0 {
			return nil, errors.New("an unterminated reference")
		}
		ref := raw[i+1 : i+end]
		i += end + 1
		switch ref {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "apos":
			out = append(out, '\'')
		case "quot":
			out = append(out, '"')
		default:
			r, ok := charRef(ref)
			if !ok {
				return nil, errfmt.Errorf("an unknown reference &%s;", ref)
			}
			out = utf8.AppendRune(out, r)
		}
	}
	return out, nil
}

// charRef reads #N or #xN, a character XML allows.
func charRef(ref string) (rune, bool) {
	var n uint64
	var err error
	switch {
	case strings.HasPrefix(ref, "#x") && len(ref) > 2 && ref[2] != '+' && ref[2] != '-':
		n, err = strconv.ParseUint(ref[2:], 16, 32)
	case strings.HasPrefix(ref, "#") && len(ref) > 1 && ref[1] != '+' && ref[1] != '-':
		n, err = strconv.ParseUint(ref[1:], 10, 32)
	default:
		return 0, false
	}
	if err != nil || n > utf8.MaxRune || !allowed(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// newlines makes the line ends of CDATA \n.
func newlines(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// checkChars refuses invalid UTF-8 and characters XML does not allow.
func checkChars(s string) error {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			return errors.New("invalid UTF-8")
		}
		if !allowed(r) {
			return errfmt.Errorf("illegal character code %U", r)
		}
		s = s[size:]
	}
	return nil
}

// allowed is XML 1.0's Char production.
func allowed(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// Child is e's first child named name, or nil. A nil e has no children. Not inlined, nor are Path and TextOf:
// the XML readers call them from about 70 places, and a copy of the loop at each grew the router build by ~11 KB.
//
//go:noinline
func (e *Element) Child(name string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Path follows Child through names: Path("a", "b") is Child("a").Child("b").
//
//go:noinline
func (e *Element) Path(names ...string) *Element {
	for _, n := range names {
		e = e.Child(n)
	}
	return e
}

// All lists e's children named name.
func (e *Element) All(name string) []*Element {
	if e == nil {
		return nil
	}
	var out []*Element
	for _, c := range e.Children {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// TextOf is the text of the element at Path(names...), or "" when there is none.
//
//go:noinline
func (e *Element) TextOf(names ...string) string {
	if c := e.Path(names...); c != nil {
		return c.Text
	}
	return ""
}

// Int reads text as encoding/xml's Unmarshal reads an int field: empty is 0, anything else must be a decimal
// integer once the surrounding space is trimmed.
func Int(text string) (int, error) {
	if text == "" {
		return 0, nil
	}
	return strconv.Atoi(strings.TrimSpace(text))
}

// EscapeText is s escaped for character data or an attribute value, as xml.EscapeText escapes it: the five
// markup characters and the three white-space controls as references, what XML cannot hold as U+FFFD.
func EscapeText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\t':
			b.WriteString("&#x9;")
		case r == '\n':
			b.WriteString("&#xA;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == utf8.RuneError && size == 1, !allowed(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
