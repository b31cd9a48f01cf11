package routeros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Entry is one RouterOS item as the REST API shows it: every value is a string (RouterOS encodes numbers and
// booleans as strings too), ".id" is the item's internal id such as "*1A".
type Entry map[string]string

// ID is the item's internal id (not inlined: see table.index).
//
//go:noinline
func (e Entry) ID() string { return e[".id"] }

// Limits of one reply beyond its size in bytes (maxReply). Decoded, every item and property costs far more
// than its bytes: 32 MiB of {"a":"b"} are 3.7 million maps, gigabytes. hairpin asks only for its own items
// (rules, its address-list entries, filtered on the router) with a short .proplist, and creates every item with
// a request of its own, so a real reply holds thousands of items, not hundreds of thousands.
const (
	maxReplyItems = 200_000
	// maxReplyProperties bounds the properties of all items together (a handful each with .proplist, about
	// 30 for a whole item).
	maxReplyProperties = 2_000_000
	// maxItemProperties bounds one item's: RouterOS's largest menus have under 100.
	maxItemProperties = 512
)

// ParseReply reads the body of a successful REST answer. A print answers a list of objects, a single item or
// a command answers one object, a DELETE answers nothing: all come back as a list. Values that are not
// strings (RouterOS never sends them, but the parser must not be fooled) are kept in their JSON spelling.
// A reply with more items or properties than the limits above is refused before anything is decoded.
func ParseReply(body []byte) ([]Entry, error) {
	if err := countReply(body); err != nil {
		return nil, err
	}
	out, err := parseReply(body)
	if err != nil && hasControl(body) {
		// RouterOS writes bytes below 0x20 raw inside strings (a comment someone pasted with an escape
		// sequence), which is not valid JSON. Escaping them is what RouterOS should have done.
		if fixed, err2 := parseReply(escapeControls(body)); err2 == nil {
			return fixed, nil
		}
	}
	return out, err
}

// countReply counts the items and properties of a whole reply (see replyCounter).
func countReply(b []byte) error {
	var c replyCounter
	return c.scan(b)
}

// replyCounter counts the items and properties of a reply as its bytes arrive, allocating nothing: every '{'
// outside a string opens an item (a nested object is refused later anyway), every ':' outside a string is one
// property. The client reads through it, so a reply over the limits stops being read at the first byte past
// them instead of after 32 MiB.
type replyCounter struct {
	items, props, inItem int
	inString, escaped    bool
}

func (c *replyCounter) scan(b []byte) error {
	for _, ch := range b {
		if c.inString {
			switch {
			case c.escaped:
				c.escaped = false
			case ch == '\\':
				c.escaped = true
			case ch == '"':
				c.inString = false
			}
			continue
		}
		switch ch {
		case '"':
			c.inString = true
		case '{':
			c.items, c.inItem = c.items+1, 0
			if c.items > maxReplyItems {
				return errfmt.Errorf("reply holds more than %d items; hairpin reads only its own, so this is not the router's answer to its request (or the router holds far more hairpin items than any config makes)", maxReplyItems)
			}
		case ':':
			c.props, c.inItem = c.props+1, c.inItem+1
			if c.inItem > maxItemProperties {
				return errfmt.Errorf("reply holds an item of more than %d properties; no RouterOS menu has that many", maxItemProperties)
			}
			if c.props > maxReplyProperties {
				return errfmt.Errorf("reply holds more than %d properties", maxReplyProperties)
			}
		}
	}
	return nil
}

// countingReader passes a reply through a replyCounter and fails once it is over the limits.
type countingReader struct {
	r io.Reader
	c replyCounter
}

// errOverLimits marks a read stopped by the counter.
type errOverLimits struct{ error }

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if cerr := cr.c.scan(p[:n]); cerr != nil {
		return n, errOverLimits{cerr}
	}
	return n, err
}

func hasControl(b []byte) bool {
	return bytes.IndexFunc(b, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }) >= 0
}

// escapeControls writes every byte below 0x20 inside a JSON string as \u00XX, leaving the whitespace between
// values alone.
func escapeControls(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\' && i+1 < len(b):
			out = append(out, c, b[i+1])
			i++
			continue
		case c == '"':
			inString = !inString
		case inString && c < 0x20:
			out = append(out, fmt.Sprintf("\\u%04x", c)...)
			continue
		}
		out = append(out, c)
	}
	return out
}

func parseReply(body []byte) ([]Entry, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	switch body[0] {
	case '[':
		var raw []map[string]json.RawMessage
		if err := strictUnmarshal(body, &raw); err != nil {
			return nil, err
		}
		out := make([]Entry, 0, len(raw))
		for _, r := range raw {
			e, err := toEntry(r)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case '{':
		var raw map[string]json.RawMessage
		if err := strictUnmarshal(body, &raw); err != nil {
			return nil, err
		}
		e, err := toEntry(raw)
		if err != nil {
			return nil, err
		}
		return []Entry{e}, nil
	}
	return nil, errors.New("reply is neither a JSON object nor a list")
}

func strictUnmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errfmt.Errorf("reply is not RouterOS JSON: %w", err)
	}
	if dec.More() {
		return errors.New("reply has data after the JSON value")
	}
	return nil
}

func toEntry(raw map[string]json.RawMessage) (Entry, error) {
	if raw == nil {
		return nil, errors.New("reply holds null where an item belongs")
	}
	e := make(Entry, len(raw))
	for k, v := range raw {
		s, err := scalar(v)
		if err != nil {
			return nil, errfmt.Errorf("reply property %q: %w", k, err)
		}
		e[k] = s
	}
	return e, nil
}

func scalar(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", errors.New("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '{', '[':
		return "", errors.New("nested value where RouterOS sends a string")
	case 'n':
		return "", nil // null
	}
	return string(v), nil // number or boolean
}

// errorBody is RouterOS's failure answer: {"error":400,"message":"Bad Request","detail":"..."}. error is
// the one non-string value in the API.
type errorBody struct {
	Error   int    `json:"error"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// ParseError reads a failure answer. ok is false when the body is not RouterOS's error shape (a proxy or a
// web server that is not RouterOS answered).
func ParseError(body []byte) (status int, message, detail string, ok bool) {
	var raw map[string]json.RawMessage
	if err := strictUnmarshal(bytes.TrimSpace(body), &raw); err != nil || raw == nil {
		if !hasControl(body) || strictUnmarshal(bytes.TrimSpace(escapeControls(body)), &raw) != nil || raw == nil {
			return 0, "", "", false
		}
	}
	code, hasCode := raw["error"]
	if !hasCode {
		return 0, "", "", false
	}
	s, err := scalar(code)
	if err != nil {
		return 0, "", "", false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, "", "", false
	}
	var eb errorBody
	if m, ok := raw["message"]; ok {
		eb.Message, _ = scalar(m)
	}
	if d, ok := raw["detail"]; ok {
		eb.Detail, _ = scalar(d)
	}
	return n, eb.Message, eb.Detail, true
}
