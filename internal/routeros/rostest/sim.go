// Package rostest is a RouterOS v7 REST API simulator for tests: an httptest TLS server that keeps menus of
// items in order and answers the way a router does, so backends and the daemon are tested without hardware.
//
// It follows MikroTik's documentation:
//   - REST API, https://help.mikrotik.com/docs/spaces/ROS/pages/47579162/REST+API : basic auth; every value a
//     JSON string; GET lists a menu (with ?key=value filters and .proplist) or one item by .id or name; PUT
//     creates and answers the new item; PATCH updates and answers the item; DELETE removes and answers
//     nothing (404 the second time); POST runs a console command (print with .proplist and .query, add,
//     set, remove, move); failures answer {"error":N,"message":"...","detail":"..."}.
//   - API, https://help.mikrotik.com/docs/spaces/ROS/pages/47579160/API : the print query stack (?name,
//     ?-name, ?name=x, ?<name=x, ?>name=x, ?#!&|. and stack indexes), .id values such as "*1A".
//   - Firewall NAT and address lists, https://help.mikrotik.com/docs/spaces/ROS/pages/3211299/NAT and
//     .../pages/48660587/Address-lists : the properties simulated, place-before on add, "already have such
//     entry" for a duplicate address-list entry, bytes and packets counters on rules.
//
// Where the documentation is silent the simulator picks a plausible behaviour and says so: PATCH with an
// empty string removes a property (how the console unsets a matcher); place-before and move destination
// take an .id; an unknown property is refused with "unknown parameter NAME" as RouterOS does.
//
// The simulator counts reads (GET, POST print) and writes (everything else) separately, can fail the Nth
// write, and records every request.
package rostest

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Entry is one item, as the REST API shows it.
type Entry = map[string]string

// Menus the simulator knows.
const (
	NAT       = "/ip/firewall/nat"
	AddrList  = "/ip/firewall/address-list"
	Address   = "/ip/address"
	Cloud     = "/ip/cloud"
	Resource  = "/system/resource"
	Script    = "/system/script"
	Scheduler = "/system/scheduler"
)

type menu struct {
	items     []Entry
	next      int
	singleton Entry
	// props are the settable properties; defaults are added to every new item.
	props    map[string]bool
	defaults Entry
	required []string
	check    func(m *menu, e Entry, self string) string
}

// Router is a simulated RouterOS router. Its exported methods read and change state directly (as a human
// with Winbox would) without counting as requests.
type Router struct {
	srv      *httptest.Server
	user     string
	password string

	mu       sync.Mutex
	menus    map[string]*menu
	reads    int
	writes   int
	failAt   int // fail the write with this number (1 = the next); 0: none
	failCode int
	failMsg  string
	requests []string
}

// New starts a simulated router with an empty NAT table and address lists, accepting user and password.
// It stops when the test ends.
func New(t testing.TB, user, password string) *Router {
	r := &Router{user: user, password: password, menus: defaultMenus()}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// Tests of certificate pinning make handshakes fail on purpose; keep their noise out of the test log.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func set(keys ...string) map[string]bool {
	m := map[string]bool{"comment": true, "disabled": true}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func defaultMenus() map[string]*menu {
	return map[string]*menu{
		NAT: {
			props: set("chain", "action", "protocol", "src-address", "dst-address", "src-port", "dst-port", "any-port",
				"src-address-list", "dst-address-list", "in-interface", "out-interface", "in-interface-list",
				"out-interface-list", "dst-address-type", "src-address-type", "connection-nat-state", "connection-state",
				"connection-mark", "packet-mark", "to-addresses", "to-ports", "log", "log-prefix", "jump-target"),
			defaults: Entry{"action": "accept", "disabled": "false", "dynamic": "false", "invalid": "false",
				"log": "false", "log-prefix": "", "bytes": "0", "packets": "0"},
			required: []string{"chain"},
		},
		AddrList: {
			props:    set("list", "address", "timeout"),
			defaults: Entry{"disabled": "false", "dynamic": "false"},
			required: []string{"list", "address"},
			check:    uniqueListEntry,
		},
		Address: {
			props:    set("address", "interface", "network"),
			defaults: Entry{"disabled": "false", "dynamic": "false", "invalid": "false"},
			required: []string{"address", "interface"},
		},
		Script: {
			props:    set("name", "source", "policy", "dont-require-permissions", "owner"),
			defaults: Entry{"dont-require-permissions": "false", "run-count": "0"},
			required: []string{"name"},
		},
		Scheduler: {
			props:    set("name", "on-event", "start-time", "start-date", "interval", "policy"),
			defaults: Entry{"disabled": "false", "run-count": "0"},
			required: []string{"name"},
		},
		Cloud:    {singleton: Entry{"ddns-enabled": "false", "status": "", "public-address": ""}},
		Resource: {singleton: Entry{"version": "7.16.2 (stable)", "board-name": "rostest", "platform": "MikroTik"}},
	}
}

// uniqueListEntry refuses a second entry with the same list and address, like RouterOS.
func uniqueListEntry(m *menu, e Entry, self string) string {
	for _, o := range m.items {
		if o[".id"] != self && o["list"] == e["list"] && o["address"] == e["address"] {
			return "failure: already have such entry"
		}
	}
	return ""
}

// URL is the router's base URL (https://127.0.0.1:PORT), what routeros.url holds.
func (r *Router) URL() string { return r.srv.URL }

// Fingerprint is the SHA-256 of the router's certificate in the config's "sha256:AB:CD:..." form.
func (r *Router) Fingerprint() string {
	sum := sha256.Sum256(r.srv.Certificate().Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "sha256:" + strings.Join(parts, ":")
}

// Certificate is the router's self-signed certificate (it is its own CA and names 127.0.0.1).
func (r *Router) Certificate() *x509.Certificate { return r.srv.Certificate() }

// Close stops the server (to simulate an unreachable router).
func (r *Router) Close() { r.srv.Close() }

// Counts returns the reads and writes served since the start or the last ResetCounts.
func (r *Router) Counts() (reads, writes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.writes
}

// ResetCounts zeroes the request counters and the request log.
func (r *Router) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads, r.writes, r.requests = 0, 0, nil
}

// Requests returns every request served since the last ResetCounts, as "METHOD /path".
func (r *Router) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// FailWrite makes the nth write from now (1 = the next one) fail without effect. With status 0 the
// connection is closed without an answer; otherwise the answer is RouterOS's error body with detail.
func (r *Router) FailWrite(n, status int, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failAt, r.failCode, r.failMsg = r.writes+n, status, detail
}

// Add puts an item at the end of a menu (as a user would) and returns its .id.
func (r *Router) Add(path string, props Entry) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.menus[path]
	e := m.newItem(props)
	if path == Address {
		fillNetwork(e)
	}
	m.items = append(m.items, e)
	return e[".id"]
}

// Items returns a copy of a menu's items in order.
func (r *Router) Items(path string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Entry
	for _, e := range r.menus[path].items {
		out = append(out, clone(e))
	}
	return out
}

// Item returns a copy of one item, or nil.
func (r *Router) Item(path, id string) Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.menus[path].find(id); i >= 0 {
		return clone(r.menus[path].items[i])
	}
	return nil
}

// Edit changes properties of an item; an empty value removes the property.
func (r *Router) Edit(path, id string, props Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.menus[path]
	if i := m.find(id); i >= 0 {
		applyProps(m.items[i], props)
	}
}

// Remove deletes an item.
func (r *Router) Remove(path, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.menus[path]
	if i := m.find(id); i >= 0 {
		m.items = slices.Delete(m.items, i, i+1)
	}
}

// Move puts the item id before the item dest (at the end when dest is ""), as dragging it in Winbox does.
func (r *Router) Move(path, id, dest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.menus[path].move([]string{id}, dest)
}

// SetSingleton changes properties of a singleton menu such as /ip/cloud.
func (r *Router) SetSingleton(path string, props Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	applyProps(r.menus[path].singleton, props)
}

func clone(e Entry) Entry {
	out := make(Entry, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

func applyProps(e Entry, props Entry) {
	for k, v := range props {
		if v == "" && k != "comment" {
			delete(e, k)
			continue
		}
		e[k] = v
	}
}

func (m *menu) newItem(props Entry) Entry {
	m.next++
	e := clone(m.defaults)
	for k, v := range props {
		if v != "" {
			e[k] = v
		}
	}
	e[".id"] = fmt.Sprintf("*%X", m.next)
	return e
}

// find looks an item up by .id, or by name in menus that have names.
func (m *menu) find(id string) int {
	return slices.IndexFunc(m.items, func(e Entry) bool { return e[".id"] == id || e["name"] != "" && e["name"] == id })
}

func fillNetwork(e Entry) {
	if p, err := netip.ParsePrefix(e["address"]); err == nil {
		e["network"] = p.Masked().Addr().String()
		e["actual-interface"] = e["interface"]
	}
}

// apiError is RouterOS's failure answer.
type apiError struct {
	status int
	detail string
}

func writeError(w http.ResponseWriter, status int, detail string) {
	body := map[string]any{"error": status, "message": http.StatusText(status)}
	if detail != "" {
		body["detail"] = detail
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (r *Router) serve(w http.ResponseWriter, req *http.Request) {
	path, ok := strings.CutPrefix(req.URL.Path, "/rest")
	read := req.Method == http.MethodGet || req.Method == http.MethodPost && strings.HasSuffix(path, "/print")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req.Method+" "+path)
	if read {
		r.reads++
	} else {
		r.writes++
	}
	if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
		writeError(w, http.StatusUnauthorized, "")
		return
	}
	if !ok || path == "" {
		writeError(w, http.StatusBadRequest, "no such command or directory")
		return
	}
	if !read && r.failAt > 0 && r.writes == r.failAt {
		r.failAt = 0
		if r.failCode == 0 {
			hijackClose(w)
			return
		}
		writeError(w, r.failCode, r.failMsg)
		return
	}
	var body map[string]any
	if req.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if len(strings.TrimSpace(string(data))) > 0 {
			if err := json.Unmarshal(data, &body); err != nil {
				writeError(w, http.StatusBadRequest, "JSON parsing error: "+err.Error())
				return
			}
		}
	}
	out, aerr := r.dispatch(req.Method, path, req.URL.Query(), body)
	switch {
	case aerr != nil:
		writeError(w, aerr.status, aerr.detail)
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, out)
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// dispatch resolves the path to a menu and an optional item or command, and runs the method.
func (r *Router) dispatch(method, path string, query map[string][]string, body map[string]any) (any, *apiError) {
	if m, ok := r.menus[path]; ok {
		return r.onMenu(m, method, query, body)
	}
	i := strings.LastIndex(path, "/")
	m, ok := r.menus[path[:i]]
	if !ok {
		first := strings.Split(strings.TrimPrefix(path, "/"), "/")[0]
		return nil, &apiError{http.StatusBadRequest, "no such command or directory (" + first + ")"}
	}
	last := path[i+1:]
	if method == http.MethodPost {
		return r.command(m, last, body)
	}
	switch last {
	case "print", "add", "set", "remove", "move":
		return nil, &apiError{http.StatusBadRequest, "no such command"}
	}
	return r.onItem(m, method, last, body)
}

func (r *Router) onMenu(m *menu, method string, query map[string][]string, body map[string]any) (any, *apiError) {
	if m.singleton != nil {
		if method != http.MethodGet {
			return nil, &apiError{http.StatusBadRequest, "no such command"}
		}
		return project(m.singleton, proplist(query[".proplist"])), nil
	}
	switch method {
	case http.MethodGet:
		var words []string
		for k, vs := range query {
			if k != ".proplist" && len(vs) > 0 {
				words = append(words, k+"="+vs[0])
			}
		}
		return m.print(words, proplist(query[".proplist"]))
	case http.MethodPut:
		return m.add(body)
	}
	return nil, &apiError{http.StatusBadRequest, "no such command"}
}

func (r *Router) onItem(m *menu, method, id string, body map[string]any) (any, *apiError) {
	i := m.find(id)
	if i < 0 {
		if method == http.MethodGet || method == http.MethodPatch || method == http.MethodDelete {
			return nil, &apiError{http.StatusNotFound, ""}
		}
		return nil, &apiError{http.StatusBadRequest, "no such command"}
	}
	switch method {
	case http.MethodGet:
		return clone(m.items[i]), nil
	case http.MethodPatch:
		return m.set(i, body)
	case http.MethodDelete:
		m.items = slices.Delete(m.items, i, i+1)
		return nil, nil
	}
	return nil, &apiError{http.StatusBadRequest, "no such command"}
}

// command runs a POST console command on a menu.
func (r *Router) command(m *menu, cmd string, body map[string]any) (any, *apiError) {
	switch cmd {
	case "print":
		pl, _ := body[".proplist"]
		var words []string
		if q, ok := body[".query"].([]any); ok {
			for _, w := range q {
				s, _ := w.(string)
				words = append(words, s)
			}
		}
		return m.print(words, proplistAny(pl))
	case "add":
		return m.add(body)
	case "set", "remove", "move":
		if m.singleton != nil {
			return nil, &apiError{http.StatusBadRequest, "no such command"}
		}
	default:
		return nil, &apiError{http.StatusBadRequest, "no such command or directory (" + cmd + ")"}
	}
	ids := idsOf(body)
	if len(ids) == 0 {
		return nil, &apiError{http.StatusBadRequest, "missing value(s) of argument(s) numbers"}
	}
	switch cmd {
	case "set":
		i := m.find(ids[0])
		if i < 0 {
			return nil, &apiError{http.StatusBadRequest, "no such item"}
		}
		props := maps(body)
		delete(props, ".id")
		delete(props, "numbers")
		if _, err := m.set(i, anyMap(props)); err != nil {
			return nil, err
		}
	case "remove":
		for _, id := range ids {
			if i := m.find(id); i >= 0 {
				m.items = slices.Delete(m.items, i, i+1)
			} else {
				return nil, &apiError{http.StatusBadRequest, "no such item"}
			}
		}
	case "move":
		dest, _ := body["destination"].(string)
		if err := m.move(ids, dest); err != nil {
			return nil, err
		}
	}
	return []Entry{}, nil
}

func idsOf(body map[string]any) []string {
	for _, k := range []string{".id", "numbers"} {
		if s, ok := body[k].(string); ok && s != "" {
			return strings.Split(s, ",")
		}
	}
	return nil
}

func (m *menu) print(words, props []string) (any, *apiError) {
	out := []Entry{}
	for _, e := range m.items {
		ok, err := matchQuery(words, e)
		if err != nil {
			return nil, &apiError{http.StatusBadRequest, err.Error()}
		}
		if ok {
			out = append(out, project(e, props))
		}
	}
	return out, nil
}

func project(e Entry, props []string) Entry {
	if len(props) == 0 {
		return clone(e)
	}
	out := Entry{}
	for _, p := range props {
		if v, ok := e[p]; ok {
			out[p] = v
		}
	}
	return out
}

func proplist(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	return strings.Split(vs[0], ",")
}

func proplistAny(v any) []string {
	switch p := v.(type) {
	case string:
		return strings.Split(p, ",")
	case []any:
		var out []string
		for _, x := range p {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// maps turns a JSON body into string properties; RouterOS also takes numbers, never objects.
func maps(body map[string]any) Entry {
	out := Entry{}
	for k, v := range body {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = fmt.Sprint(x)
		case bool:
			out[k] = fmt.Sprint(x)
		default:
			out[k] = "\x00invalid"
		}
	}
	return out
}

func anyMap(e Entry) map[string]any {
	out := map[string]any{}
	for k, v := range e {
		out[k] = v
	}
	return out
}

func (m *menu) validate(props Entry) *apiError {
	for k, v := range props {
		if v == "\x00invalid" {
			return &apiError{http.StatusBadRequest, "invalid value for argument " + k}
		}
		if !m.props[k] {
			return &apiError{http.StatusBadRequest, "unknown parameter " + k}
		}
	}
	return nil
}

func (m *menu) add(body map[string]any) (any, *apiError) {
	props := maps(body)
	before, hasBefore := props["place-before"]
	delete(props, "place-before")
	if err := m.validate(props); err != nil {
		return nil, err
	}
	for _, k := range m.required {
		if props[k] == "" {
			return nil, &apiError{http.StatusBadRequest, "missing value(s) of argument(s) " + k}
		}
	}
	at := len(m.items)
	if hasBefore {
		if at = m.find(before); at < 0 {
			return nil, &apiError{http.StatusBadRequest, "no such item"}
		}
	}
	e := m.newItem(props)
	if m.check != nil {
		if msg := m.check(m, e, e[".id"]); msg != "" {
			m.next--
			return nil, &apiError{http.StatusBadRequest, msg}
		}
	}
	if _, ok := m.props["network"]; ok {
		fillNetwork(e)
	}
	m.items = slices.Insert(m.items, at, e)
	return clone(e), nil
}

func (m *menu) set(i int, body map[string]any) (any, *apiError) {
	props := maps(body)
	delete(props, ".id")
	if err := m.validate(props); err != nil {
		return nil, err
	}
	e := clone(m.items[i])
	applyProps(e, props)
	if m.check != nil {
		if msg := m.check(m, e, e[".id"]); msg != "" {
			return nil, &apiError{http.StatusBadRequest, msg}
		}
	}
	m.items[i] = e
	return clone(e), nil
}

// move puts the items ids, in that order, before dest (at the end when dest is empty).
func (m *menu) move(ids []string, dest string) *apiError {
	var moving []Entry
	for _, id := range ids {
		i := m.find(id)
		if i < 0 {
			return &apiError{http.StatusBadRequest, "no such item"}
		}
		moving = append(moving, m.items[i])
	}
	if dest != "" && m.find(dest) < 0 {
		return &apiError{http.StatusBadRequest, "no such item"}
	}
	m.items = slices.DeleteFunc(m.items, func(e Entry) bool {
		return slices.ContainsFunc(moving, func(x Entry) bool { return x[".id"] == e[".id"] })
	})
	at := len(m.items)
	if dest != "" {
		at = m.find(dest)
		if at < 0 { // dest was among the moved items: keep them where dest was
			at = len(m.items)
		}
	}
	m.items = slices.Insert(m.items, at, moving...)
	return nil
}
