package web

import (
	"slices"
	"strings"
)

// ServeMux routes requests by method and path. A pattern is "[METHOD ]PATH": PATH matches exactly, except
// that one ending in "/" matches every path below it too (the longest such wins) and "/{$}" matches "/"
// alone. A GET pattern serves HEAD as well. A path some pattern matches with another method gets 405 with an
// Allow header; any other gets 404.
type ServeMux struct {
	routes []route
}

type route struct {
	method, path string
	subtree      bool
	h            Handler
}

// NewServeMux returns an empty mux.
func NewServeMux() *ServeMux { return &ServeMux{} }

// Handle registers h for pattern; a malformed or duplicate pattern panics, as it is a programming mistake.
func (m *ServeMux) Handle(pattern string, h Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	if (method != "" && !validMethod(method)) || !strings.HasPrefix(path, "/") || h == nil {
		panic("web: bad pattern " + quote(pattern))
	}
	rt := route{method: method, path: path, h: h}
	switch {
	case path == "/{$}":
		rt.path = "/"
	case strings.HasSuffix(path, "/"):
		rt.subtree = true
	}
	for _, o := range m.routes {
		if o.method == rt.method && o.path == rt.path && o.subtree == rt.subtree {
			panic("web: pattern " + quote(pattern) + " registered twice")
		}
	}
	m.routes = append(m.routes, rt)
}

// HandleFunc registers f for pattern.
func (m *ServeMux) HandleFunc(pattern string, f func(ResponseWriter, *Request)) {
	m.Handle(pattern, HandlerFunc(f))
}

func (m *ServeMux) ServeHTTP(w ResponseWriter, r *Request) {
	path := r.URL.Path
	var best *route
	var allow []string
	for i := range m.routes {
		rt := &m.routes[i]
		if !rt.matchesPath(path) {
			continue
		}
		if !rt.matchesMethod(r.Method) {
			allow = append(allow, rt.method)
			if rt.method == MethodGet {
				allow = append(allow, MethodHead)
			}
			continue
		}
		if best == nil || rt.moreSpecific(best) {
			best = rt
		}
	}
	switch {
	case best != nil:
		best.h.ServeHTTP(w, r)
	case len(allow) > 0:
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(slices.Compact(allow), ", "))
		Error(w, "method not allowed", StatusMethodNotAllowed)
	default:
		NotFound(w, r)
	}
}

func (rt *route) matchesPath(p string) bool {
	if rt.subtree {
		return strings.HasPrefix(p, rt.path)
	}
	return p == rt.path
}

func (rt *route) matchesMethod(m string) bool {
	return rt.method == "" || rt.method == m || (rt.method == MethodGet && m == MethodHead)
}

// moreSpecific: exact beats subtree, a longer subtree beats a shorter one, a method beats none.
func (rt *route) moreSpecific(o *route) bool {
	if rt.subtree != o.subtree {
		return !rt.subtree
	}
	if len(rt.path) != len(o.path) {
		return len(rt.path) > len(o.path)
	}
	return rt.method != "" && o.method == ""
}
