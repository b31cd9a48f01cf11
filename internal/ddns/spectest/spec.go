// Package spectest serves a DNS provider's API from the vendor's own machine-readable word: a dnsapi-ref/1
// file (extracted from the vendor's OpenAPI, discovery or Smithy spec, see /work/shared/dnsapi/README.md),
// copied into the provider's testdata. The Server refuses, with the status and body the vendor documents, every
// request the spec does not allow: an unknown method or path, a query parameter the operation does not
// declare, a missing required one, a value of the wrong type or outside its enum, a body field the schema does
// not have, a read-only field sent, a missing required field, a missing or malformed auth header. What the
// provider's own fake answers is checked against the response schema for its status, so a fake cannot drift
// from the vendor's shapes either.
package spectest

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Spec is one dnsapi-ref/1 file: the parts the server needs.
type Spec struct {
	Provider   string                 `json:"provider"`
	BaseURLs   []struct{ URL string } `json:"base_urls"`
	Auth       []Auth                 `json:"auth"`
	Operations []*Op                  `json:"operations"`
}

// Auth is one security scheme.
type Auth struct {
	Name      string `json:"name"`
	Type      string `json:"type"`   // http, apiKey, oauth2, aws-sigv4
	Scheme    string `json:"scheme"` // bearer, basic
	Header    string `json:"header"`
	In        string `json:"in"`
	Parameter string `json:"parameter"`
}

// Op is one operation.
type Op struct {
	Role        string              `json:"role"`
	OperationID string              `json:"operationId"`
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Parameters  []Param             `json:"parameters"`
	RequestBody *Body               `json:"request_body"`
	Responses   map[string]Response `json:"responses"`
}

// Param is one parameter of an operation.
type Param struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Schema   Schema `json:"schema"`
}

// Body is a request body.
type Body struct {
	Required    bool   `json:"required"`
	ContentType string `json:"content_type"`
	Schema      Schema `json:"schema"`
	// XMLRoot and XMLNamespace name the root element of an XML body (restXml).
	XMLRoot      string `json:"xml_root"`
	XMLNamespace string `json:"xml_namespace"`
}

// Response is one documented response.
type Response struct {
	ContentType string `json:"content_type"`
	Schema      Schema `json:"schema"`
}

// Schema is a JSON schema in the spec's own dialect, as decoded JSON.
type Schema map[string]any

// Load reads a spec file.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.Operations) == 0 {
		return nil, fmt.Errorf("%s: no operations", path)
	}
	return &s, nil
}

// Op finds the operation of a role.
func (s *Spec) Op(role string) *Op {
	for _, o := range s.Operations {
		if o.Role == role {
			return o
		}
	}
	return nil
}

// match finds the operation for method and path (relative to the base URL), with its path parameters.
func (s *Spec) match(method, path string) (*Op, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, o := range s.Operations {
		if !strings.EqualFold(o.Method, method) {
			continue
		}
		tmpl := strings.Split(strings.Trim(o.Path, "/"), "/")
		if len(tmpl) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, t := range tmpl {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				vars[t[1:len(t)-1]] = segs[i]
			} else if t != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return o, vars
		}
	}
	return nil, nil
}

// response is the documented response for status: the code itself, its class (4xx, 4XX), or default.
func (o *Op) response(status int) (Response, bool) {
	code := strconv.Itoa(status)
	for _, k := range []string{code, code[:1] + "xx", code[:1] + "XX", "default"} {
		if r, ok := o.Responses[k]; ok {
			return r, true
		}
	}
	return Response{}, false
}

// Check validates v (decoded with UseNumber) against s; read tells whether v is a response (read-only fields
// allowed) or a request (read-only fields refused). It returns the first problem, or "".
func (s Schema) Check(v any, path string, request bool) string { return s.check(v, path, request, nil) }

// check is Check; open, when set, is the property names the parts of an allOf share, which a part allows
// beside its own.
func (s Schema) check(v any, path string, request bool, open map[string]bool) string {
	if s == nil || s["x-collapsed"] != nil {
		return ""
	}
	if v == nil {
		if s["nullable"] == true || typeAllows(s, "null") || s["type"] == nil {
			return ""
		}
		return path + ": null where " + typeName(s) + " is required"
	}
	if all, ok := s["allOf"].([]any); ok {
		union := map[string]bool{}
		for k := range open {
			union[k] = true
		}
		for _, part := range append([]any{map[string]any(s)}, all...) {
			props, _ := schemaOf(part)["properties"].(map[string]any)
			for k := range props {
				union[k] = true
			}
		}
		for _, part := range all {
			if p := schemaOf(part).check(v, path, request, union); p != "" {
				return p
			}
		}
		open = union
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := s[key].([]any); ok {
			var first string
			matched := false
			for _, alt := range alts {
				p := schemaOf(alt).check(v, path, request, open)
				if p == "" {
					matched = true
					break
				}
				if first == "" {
					first = p
				}
			}
			if !matched {
				return first
			}
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("%s: %v is not one of %v", path, v, enum)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if !typeAllows(s, "object") {
			return path + ": an object where " + typeName(s) + " is required"
		}
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					if request && (isReadOnly(props[r.(string)]) || readOnlyInAlternatives(s, r.(string))) {
						continue
					}
					return fmt.Sprintf("%s: required field %q is missing", path, r)
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, known := props[k]
			if !known && open[k] {
				continue
			}
			if !known {
				switch ap := s["additionalProperties"].(type) {
				case map[string]any:
					if q := Schema(ap).Check(x[k], path+"."+k, request); q != "" {
						return q
					}
					continue
				case bool:
					if ap {
						continue
					}
				}
				if props == nil && s["additionalProperties"] == nil && len(open) == 0 {
					continue // a free-form object
				}
				if hasAlternatives(s) && props == nil {
					continue
				}
				return fmt.Sprintf("%s: field %q is not in the schema", path, k)
			}
			if request && isReadOnly(p) {
				return fmt.Sprintf("%s: field %q is read-only", path, k)
			}
			if q := schemaOf(p).Check(x[k], path+"."+k, request); q != "" {
				return q
			}
		}
	case []any:
		if !typeAllows(s, "array") {
			return path + ": a list where " + typeName(s) + " is required"
		}
		if n, ok := num(s["minItems"]); ok && float64(len(x)) < n {
			return fmt.Sprintf("%s: fewer than %v items", path, n)
		}
		if n, ok := num(s["maxItems"]); ok && float64(len(x)) > n {
			return fmt.Sprintf("%s: more than %v items", path, n)
		}
		for i, it := range x {
			if q := schemaOf(s["items"]).Check(it, fmt.Sprintf("%s[%d]", path, i), request); q != "" {
				return q
			}
		}
	case string:
		if !typeAllows(s, "string") {
			return fmt.Sprintf("%s: the string %q where %s is required", path, x, typeName(s))
		}
		if n, ok := num(s["maxLength"]); ok && float64(len([]rune(x))) > n {
			return fmt.Sprintf("%s: longer than %v", path, n)
		}
		if n, ok := num(s["minLength"]); ok && float64(len([]rune(x))) < n {
			return fmt.Sprintf("%s: shorter than %v", path, n)
		}
		if pat, ok := s["pattern"].(string); ok {
			if re, err := regexp.Compile(pat); err == nil && !re.MatchString(x) {
				return fmt.Sprintf("%s: %q does not match %s", path, x, pat)
			}
		}
	case json.Number:
		f, _ := x.Float64()
		_, intErr := x.Int64()
		switch {
		case typeAllows(s, "integer") && intErr == nil:
		case typeAllows(s, "number"):
		default:
			return fmt.Sprintf("%s: the number %s where %s is required", path, x, typeName(s))
		}
		if n, ok := num(s["minimum"]); ok && f < n {
			return fmt.Sprintf("%s: %s is below the minimum %v", path, x, n)
		}
		if n, ok := num(s["maximum"]); ok && f > n {
			return fmt.Sprintf("%s: %s is above the maximum %v", path, x, n)
		}
	case bool:
		if !typeAllows(s, "boolean") {
			return fmt.Sprintf("%s: %v where %s is required", path, x, typeName(s))
		}
	}
	return ""
}

func schemaOf(v any) Schema {
	m, _ := v.(map[string]any)
	return Schema(m)
}

func isReadOnly(p any) bool {
	m, _ := p.(map[string]any)
	return m["readOnly"] == true
}

// readOnlyInAlternatives reports whether key is a read-only property of one of s's alternatives: a spec
// (Cloudflare's) may list read-only fields as required on the object that holds the alternatives.
func readOnlyInAlternatives(s Schema, key string) bool {
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		alts, _ := s[k].([]any)
		for _, a := range alts {
			props, _ := schemaOf(a)["properties"].(map[string]any)
			if isReadOnly(props[key]) {
				return true
			}
		}
	}
	return false
}

func hasAlternatives(s Schema) bool {
	return s["oneOf"] != nil || s["anyOf"] != nil || s["allOf"] != nil
}

// typeAllows reports whether the schema's type admits t; a schema without a type admits anything its other
// keywords allow.
func typeAllows(s Schema, t string) bool {
	switch ty := s["type"].(type) {
	case nil:
		if t == "null" {
			return false
		}
		return true
	case string:
		return ty == t || (ty == "number" && t == "integer")
	case []any:
		for _, x := range ty {
			if x == t || (x == "number" && t == "integer") {
				return true
			}
		}
	}
	return false
}

func typeName(s Schema) string {
	if s["type"] == nil {
		return "a value"
	}
	return fmt.Sprint(s["type"])
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// checkParam validates one parameter's raw value against its schema.
func checkParam(p Param, raw string) string {
	s := p.Schema
	if s["type"] == "array" {
		// A repeated parameter: each value is one item.
		s = schemaOf(s["items"])
	}
	var v any = raw
	switch {
	case typeAllows(s, "string"):
	case typeAllows(s, "integer") || typeAllows(s, "number"):
		if _, err := strconv.ParseFloat(raw, 64); err != nil {
			return fmt.Sprintf("parameter %s: %q is not a number", p.Name, raw)
		}
		v = json.Number(raw)
	case typeAllows(s, "boolean"):
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Sprintf("parameter %s: %q is not true or false", p.Name, raw)
		}
		v = b
	}
	return s.Check(v, "parameter "+p.Name, true)
}
