package spectest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// node is one XML element.
type node struct {
	name, space string
	text        string
	kids        []*node
}

func parseXML(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, space: t.Name.Space}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

// xmlName is the element name of a property: its xml name trait, or the property's own name.
func xmlName(key string, s Schema) string {
	if x, ok := s["xml"].(map[string]any); ok {
		if n, ok := x["name"].(string); ok {
			return n
		}
	}
	return key
}

// value turns an element into the JSON shape its schema describes (restXml: members as child elements, lists
// wrapped in their member element with one child per item), so Check judges XML as it judges JSON. An element
// the schema does not know stays as a key of its own, which Check then refuses.
func (n *node) value(s Schema) any {
	switch {
	case s["x-collapsed"] != nil:
		return map[string]any{}
	case typeAllows(s, "array") && s["type"] == "array":
		items := schemaOf(s["items"])
		out := []any{}
		for _, k := range n.kids {
			out = append(out, k.value(items))
		}
		return out
	case s["type"] == "object" || s["properties"] != nil:
		props, _ := s["properties"].(map[string]any)
		out := map[string]any{}
		for _, k := range n.kids {
			key := k.name
			var ps Schema
			for pk, pv := range props {
				if xmlName(pk, schemaOf(pv)) == k.name {
					key, ps = pk, schemaOf(pv)
				}
			}
			out[key] = k.value(ps)
		}
		return out
	case typeAllows(s, "integer") && s["type"] != nil && s["type"] != "string":
		t := strings.TrimSpace(n.text)
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return json.Number(t)
		}
		return t
	case s["type"] == "boolean":
		if b, err := strconv.ParseBool(strings.TrimSpace(n.text)); err == nil {
			return b
		}
		return n.text
	case len(n.kids) > 0:
		out := map[string]any{}
		for _, k := range n.kids {
			out[k.name] = k.value(nil)
		}
		return out
	}
	return n.text
}
