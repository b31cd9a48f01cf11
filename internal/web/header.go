package web

import (
	"net/textproto"
	"strings"
	"time"
)

// Header holds header fields by canonical key (textproto.CanonicalMIMEHeaderKey), like net/http's.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key.
func (h Header) Values(key string) []string { return h[textproto.CanonicalMIMEHeaderKey(key)] }

// Set replaces the values of key with value. Not inlined: it is called at dozens of sites, each of which would
// carry its own copy (ARCHITECTURE.md, "Binary size").
//
//go:noinline
func (h Header) Set(key, value string) { h[textproto.CanonicalMIMEHeaderKey(key)] = []string{value} }

// Add appends value to the values of key.
func (h Header) Add(key, value string) {
	k := textproto.CanonicalMIMEHeaderKey(key)
	h[k] = append(h[k], value)
}

// Del removes key.
func (h Header) Del(key string) { delete(h, textproto.CanonicalMIMEHeaderKey(key)) }

// Clone returns a deep copy (nil for nil).
func (h Header) Clone() Header {
	if h == nil {
		return nil
	}
	c := make(Header, len(h))
	for k, v := range h {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// validFieldName reports whether k is a token (RFC 9110 5.1).
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// TimeFormat is the HTTP date format (RFC 9110 5.6.7), always in GMT.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// ParseTime reads an HTTP date in any of the three formats RFC 9110 says a recipient must accept.
func ParseTime(text string) (time.Time, error) {
	var err error
	for _, layout := range []string{TimeFormat, time.RFC850, time.ANSIC} {
		var t time.Time
		if t, err = time.Parse(layout, text); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}
