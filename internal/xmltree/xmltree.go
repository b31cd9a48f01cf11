// Package xmltree reads the few small XML documents hairpin meets (a UPnP gateway's description and SOAP
// answers, Route 53's and Namecheap's answers) into a tree of elements, through encoding/xml's tokenizer
// alone: encoding/xml's reflection-driven Unmarshal and Marshal weigh about 100 KB in the router build, a walk
// over a tree a few hundred bytes per document shape.
//
// Element names are local names (namespace prefixes are resolved by the tokenizer and dropped); an element's
// Text is the character data directly inside it, as encoding/xml's Unmarshal gives a string field.
package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxDepth bounds the nesting of a document: the documents read here are a few levels deep.
const MaxDepth = 64

// Element is one element of a document.
type Element struct {
	Space    string // the namespace the tokenizer resolved
	Name     string // the local name
	Text     string
	Children []*Element
}

// Parse reads the first element of the document in b (with what precedes it: the XML declaration,
// comments, whitespace) and its content; what follows its end is not read, as with xml.Unmarshal.
func Parse(b []byte) (*Element, error) {
	return Read(xml.NewDecoder(bytes.NewReader(b)))
}

// Read is Parse over a decoder the caller has set up (its CharsetReader, say).
func Read(d *xml.Decoder) (*Element, error) {
	var stack []*Element
	var text [][]byte
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if len(stack) == 0 {
				return nil, errors.New("no XML element")
			}
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == MaxDepth {
				return nil, fmt.Errorf("XML nested deeper than %d elements", MaxDepth)
			}
			e := &Element{Space: t.Name.Space, Name: t.Name.Local}
			if n := len(stack); n > 0 {
				stack[n-1].Children = append(stack[n-1].Children, e)
			}
			stack = append(stack, e)
			text = append(text, nil)
		case xml.CharData:
			if n := len(text); n > 0 {
				text[n-1] = append(text[n-1], t...)
			}
		case xml.EndElement:
			// The tokenizer has checked that it closes the innermost element.
			n := len(stack) - 1
			e := stack[n]
			e.Text = string(text[n])
			stack, text = stack[:n], text[:n]
			if n == 0 {
				return e, nil
			}
		}
	}
}

// Child is e's first child named name, or nil. A nil e has no children.
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

// EscapeText is s escaped for character data.
func EscapeText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
