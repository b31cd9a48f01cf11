// Package rostest is a RouterOS v7 REST API simulator for tests: an httptest TLS server that keeps menus of
// items in order and answers the way a router does, so backends and the daemon are tested without hardware.
//
// It is strict where the routers' own word is available: every PUT and PATCH body and every POST command
// (add, set, move, remove, print, unset) is checked against the /console/inspect schema of the chosen
// RouterOS release (testdata/commands.json, 7.9 to 7.24rc3; see schema.go). A parameter the command does not
// take in that release is refused with 400 "unknown parameter NAME", a value outside an enumeration with
// "input does not match any value of NAME" (the router's wording, as seen in terraform-routeros issues
// #619, #810 and pull request #435), so place-before is accepted only on add in the firewall tables, never
// on set or in address lists.
//
// The rest follows MikroTik's documentation:
//   - REST API, https://help.mikrotik.com/docs/spaces/ROS/pages/47579162/REST+API : basic auth; every value a
//     JSON string; GET lists a menu (with ?key=value filters and .proplist) or one item by .id or name; PUT
//     creates and answers the new item; PATCH updates and answers the item; DELETE removes and answers
//     nothing (404 the second time); POST runs a console command (print with .proplist and .query, add,
//     set, remove, move, unset); failures answer {"error":N,"message":"...","detail":"..."}.
//   - API, https://help.mikrotik.com/docs/spaces/ROS/pages/47579160/API : the print query stack (?name,
//     ?-name, ?name=x, ?<name=x, ?>name=x, ?#!&|. and stack indexes), .id values such as "*1A".
//   - Address lists, https://help.mikrotik.com/docs/spaces/ROS/pages/48660587/Address-lists : "failure:
//     already have such entry" for a second entry with the same list and address.
//   - The manual's "User" page: the read, write, api and rest-api policies of a user's group. A user without
//     them is answered 403; the detail text ("not enough permissions") is the simulator's, no public report
//     shows RouterOS's.
//
// Observed router behaviour it reproduces: PATCH with an empty string does not unset a property (unset is
// POST .../unset): an enumerated matcher answers "input does not match any value of NAME", an interface
// "ambiguous value of interface, more than one possible value matches input" (terraform-routeros #521), and
// other matchers keep the empty value (terraform-routeros #995). A string holding bytes below 0x20 (a comment
// pasted with an escape sequence) is written raw into the JSON, which makes the answer invalid JSON, as
// RouterOS does.
//
// The simulator counts reads (GET, POST print) and writes (everything else) and the bytes it answers, can
// fail the Nth write, and records every request and every read that did not name its properties
// (.proplist).
package rostest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Entry is one item, as the REST API shows it.
type Entry = map[string]string

// Menus the simulator knows.
const (
	NAT       = "/ip/firewall/nat"
	Mangle    = "/ip/firewall/mangle"
	Filter    = "/ip/firewall/filter"
	AddrList  = "/ip/firewall/address-list"
	Address   = "/ip/address"
	Cloud     = "/ip/cloud"
	Resource  = "/system/resource"
	Script    = "/system/script"
	Scheduler = "/system/scheduler"
	// The IPv6 counterparts: separate menus with their own items, lists and (in nat) to-address, singular.
	NAT6      = "/ipv6/firewall/nat"
	Mangle6   = "/ipv6/firewall/mangle"
	AddrList6 = "/ipv6/firewall/address-list"
	Address6  = "/ipv6/address"
	Filter6   = "/ipv6/firewall/filter"
	// The WAN's own events (a DHCP client's lease script, a PPP profile's on-up and address-list), the
	// connection tracking table, and what `hairpin routeros setup` creates.
	DHCPClient    = "/ip/dhcp-client"
	PPPProfile    = "/ppp/profile"
	Connection    = "/ip/firewall/connection"
	InterfaceList = "/interface/list"
	ListMember    = "/interface/list/member"
	User          = "/user"
	UserGroup     = "/user/group"
	Certificate   = "/certificate"
	Service       = "/ip/service"
)

// Policies a RouterOS user group can hold that matter to the REST API.
const (
	PolicyRead    = "read"
	PolicyWrite   = "write"
	PolicyAPI     = "api"
	PolicyRESTAPI = "rest-api"
)

type menu struct {
	items     []Entry
	next      int
	singleton Entry
	// defaults are what RouterOS shows on every new item.
	defaults Entry
	required []string
	check    func(m *menu, e Entry, self string) string
}

// Router is a simulated RouterOS router. Its exported methods read and change state directly (as a human
// with Winbox would) without counting as requests and without the schema's checks.
type Router struct {
	srv      *httptest.Server
	user     string
	password string
	schema   *Schema

	mu         sync.Mutex
	menus      map[string]*menu
	policies   map[string]bool
	reads      int
	writes     int
	bytesOut   int64
	failAt     int // fail the write with this number (1 = the next); 0: none
	failCode   int
	failMsg    string
	requests   []string
	conns      int // TCP connections accepted
	noProplist []string
	delay      time.Duration
	// The network Evaluate routes in (flow.go).
	ifLists   map[string][]string
	defaultIf string
}

// Option changes how New builds a Router.
type Option func(*Router)

// WithVersion makes the router run a RouterOS release from Versions (default Newest): commands and
// parameters that release lacks are refused.
func WithVersion(v string) Option {
	return func(r *Router) { r.schema = MustSchema(v) }
}

// New starts a simulated router with empty menus, accepting user and password with full rights. It stops
// when the test ends.
func New(t testing.TB, user, password string, opts ...Option) *Router {
	r := Start(user, password, opts...)
	t.Cleanup(r.srv.Close)
	return r
}

// Start is New outside a test (make bench): the caller stops the router with Close.
func Start(user, password string, opts ...Option) *Router {
	r := &Router{user: user, password: password, menus: defaultMenus(),
		policies: map[string]bool{PolicyRead: true, PolicyWrite: true, PolicyAPI: true, PolicyRESTAPI: true}}
	for _, o := range opts {
		o(r)
	}
	if r.schema == nil {
		r.schema = MustSchema(Newest())
	}
	r.menus[Resource].singleton["version"] = r.schema.Version + " (stable)"
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// Tests of certificate pinning make handshakes fail on purpose; keep their noise out of the test log.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
		}
	}
	r.srv.StartTLS()
	return r
}

// Connections is how many TCP connections (each a TLS handshake) the router has accepted.
func (r *Router) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// Version is the RouterOS release the router runs.
func (r *Router) Version() string { return r.schema.Version }

// Schema is the command schema of the router's release.
func (r *Router) Schema() *Schema { return r.schema }

// SetPolicies replaces the policies of the user's group (see the Policy constants).
func (r *Router) SetPolicies(p ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policies = map[string]bool{}
	for _, x := range p {
		r.policies[x] = true
	}
}

func firewallDefaults() Entry {
	return Entry{"action": "accept", "disabled": "false", "dynamic": "false", "invalid": "false",
		"log": "false", "log-prefix": "", "bytes": "0", "packets": "0"}
}

func defaultMenus() map[string]*menu {
	mangle := firewallDefaults()
	mangle["passthrough"] = "true"
	return map[string]*menu{
		NAT:       {defaults: firewallDefaults(), required: []string{"chain"}},
		Mangle:    {defaults: mangle, required: []string{"chain"}},
		Filter:    {defaults: firewallDefaults(), required: []string{"chain"}},
		AddrList:  {defaults: Entry{"disabled": "false", "dynamic": "false"}, required: []string{"list", "address"}, check: uniqueListEntry},
		Address:   {defaults: Entry{"disabled": "false", "dynamic": "false", "invalid": "false"}, required: []string{"address", "interface"}},
		NAT6:      {defaults: firewallDefaults(), required: []string{"chain"}},
		Mangle6:   {defaults: clone(mangle), required: []string{"chain"}},
		AddrList6: {defaults: Entry{"disabled": "false", "dynamic": "false"}, required: []string{"list", "address"}, check: uniqueListEntry},
		Address6:  {defaults: Entry{"disabled": "false", "dynamic": "false", "invalid": "false"}, required: []string{"address", "interface"}},
		Filter6:   {defaults: firewallDefaults(), required: []string{"chain"}},
		DHCPClient: {defaults: Entry{"disabled": "false", "dynamic": "false", "invalid": "false", "status": "bound"},
			required: []string{"interface"}},
		PPPProfile:    {defaults: Entry{"default": "false"}, required: []string{"name"}},
		Connection:    {defaults: Entry{}},
		InterfaceList: {defaults: Entry{"dynamic": "false", "builtin": "false"}, required: []string{"name"}},
		ListMember:    {defaults: Entry{"disabled": "false", "dynamic": "false"}, required: []string{"list", "interface"}},
		User:          {defaults: Entry{"disabled": "false"}, required: []string{"name", "group"}},
		UserGroup:     {defaults: Entry{}, required: []string{"name"}},
		Certificate:   {defaults: Entry{}, required: []string{"name"}},
		Service:       {defaults: Entry{"disabled": "false", "invalid": "false"}},
		Script:        {defaults: Entry{"dont-require-permissions": "false", "run-count": "0"}, required: []string{"name"}},
		Scheduler:     {defaults: Entry{"disabled": "false", "run-count": "0"}, required: []string{"name"}},
		Cloud:         {singleton: Entry{"ddns-enabled": "false", "status": "", "public-address": ""}},
		Resource:      {singleton: Entry{"version": "", "board-name": "rostest", "platform": "MikroTik"}},
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

// BytesServed returns the bytes of the answer bodies since the start or the last ResetCounts.
func (r *Router) BytesServed() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytesOut
}

// ResetCounts zeroes the request and byte counters and the request logs.
func (r *Router) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads, r.writes, r.bytesOut, r.requests, r.noProplist = 0, 0, 0, nil, nil
}

// Requests returns every request served since the last ResetCounts, as "METHOD /path".
func (r *Router) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// ReadsWithoutProplist returns the reads since the last ResetCounts that asked for every property of
// every item (no .proplist): on a router with big tables each one downloads far more than needed.
func (r *Router) ReadsWithoutProplist() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.noProplist)
}

// SetDelay makes every answer wait d (holding the router, which serves one request at a time as
// RouterOS's REST server does): a slow big router.
func (r *Router) SetDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
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

// AddMany appends n items made by mk (as a big router's blocklists are), faster than n calls of Add.
func (r *Router) AddMany(path string, n int, mk func(i int) Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.menus[path]
	m.items = slices.Grow(m.items, n)
	for i := range n {
		m.items = append(m.items, m.newItem(mk(i)))
	}
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

// Edit changes properties of an item; an empty value removes the property (as unset does).
func (r *Router) Edit(path, id string, props Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.menus[path]
	if i := m.find(id); i >= 0 {
		for k, v := range props {
			if v == "" && k != "comment" {
				delete(m.items[i], k)
				continue
			}
			m.items[i][k] = v
		}
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
	for k, v := range props {
		r.menus[path].singleton[k] = v
	}
}

func clone(e Entry) Entry {
	out := make(Entry, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
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

func badRequest(detail string) *apiError { return &apiError{http.StatusBadRequest, detail} }

func (r *Router) writeError(w http.ResponseWriter, status int, detail string) {
	body := map[string]any{"error": status, "message": http.StatusText(status)}
	if detail != "" {
		body["detail"] = detail
	}
	r.writeJSON(w, status, body)
}

// writeJSON answers v as RouterOS does: strings with bytes below 0x20 other than tab, newline and carriage
// return hold them raw, which is not valid JSON.
func (r *Router) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	data := rawControls(buf.Bytes())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	n, _ := w.Write(data)
	r.bytesOut += int64(n)
}

// rawControls turns the \u00XX escapes encoding/json writes for control bytes back into the bytes.
func rawControls(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			if n, err := strconv.ParseUint(string(b[i+4:i+6]), 16, 8); err == nil && n < 0x20 {
				out = append(out, byte(n))
				i += 5
				continue
			}
		}
		if b[i] == '\\' && i+1 < len(b) {
			out = append(out, b[i], b[i+1])
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
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
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			// The client gave up: a router answers nothing then. Returning would send an empty 200, which a
			// client racing its own timeout could take as an empty list.
			panic(http.ErrAbortHandler)
		}
	}
	if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
		r.writeError(w, http.StatusUnauthorized, "")
		return
	}
	if !r.policies[PolicyRESTAPI] || !r.policies[PolicyAPI] || read && !r.policies[PolicyRead] || !read && !r.policies[PolicyWrite] {
		r.writeError(w, http.StatusForbidden, "not enough permissions")
		return
	}
	if !ok || path == "" {
		r.writeError(w, http.StatusBadRequest, "no such command or directory")
		return
	}
	if !read && r.failAt > 0 && r.writes == r.failAt {
		r.failAt = 0
		if r.failCode == 0 {
			hijackClose(w)
			return
		}
		r.writeError(w, r.failCode, r.failMsg)
		return
	}
	var body map[string]any
	if req.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, &body); err != nil {
				r.writeError(w, http.StatusBadRequest, "JSON parsing error: "+err.Error())
				return
			}
		}
	}
	if read && !hasProplist(req.URL.Query(), body) {
		r.noProplist = append(r.noProplist, req.Method+" "+path)
	}
	out, aerr := r.dispatch(req.Method, path, req.URL.Query(), body)
	switch {
	case aerr != nil:
		r.writeError(w, aerr.status, aerr.detail)
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		r.writeJSON(w, http.StatusOK, out)
	}
}

func hasProplist(query map[string][]string, body map[string]any) bool {
	if len(query[".proplist"]) > 0 {
		return true
	}
	_, ok := body[".proplist"]
	return ok
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
		return r.onMenu(m, path, method, query, body)
	}
	i := strings.LastIndex(path, "/")
	m, ok := r.menus[path[:i]]
	if !ok {
		first := strings.Split(strings.TrimPrefix(path, "/"), "/")[0]
		return nil, badRequest("no such command or directory (" + first + ")")
	}
	last := path[i+1:]
	if method == http.MethodPost {
		return r.command(m, path[:i], last, body)
	}
	switch last {
	case "print", "add", "set", "remove", "move", "unset":
		return nil, badRequest("no such command")
	}
	return r.onItem(m, path[:i], method, last, query, body)
}

// schemaName is the menu's name in the schema: the REST path without its leading slash.
func schemaName(path string) string { return strings.TrimPrefix(path, "/") }

// checkCommand refuses a command (and its arguments) the router's release does not have. Menus the schema
// does not cover (/system/resource) are not checked.
func (r *Router) checkCommand(path, cmd string, args Entry) *apiError {
	name := schemaName(path)
	if !r.schema.HasMenu(name) {
		return nil
	}
	if !r.schema.HasCommand(name, cmd) {
		return badRequest("no such command")
	}
	if msg := r.schema.CheckArgs(name, cmd, args); msg != "" {
		return badRequest(msg)
	}
	return nil
}

// normalize writes booleans as RouterOS shows them over REST ("true"/"false").
func (r *Router) normalize(path, cmd string, props Entry) {
	for k, v := range props {
		if r.schema.IsBoolean(schemaName(path), cmd, k) {
			switch v {
			case "yes":
				props[k] = "true"
			case "no":
				props[k] = "false"
			}
		}
	}
}

func (r *Router) onMenu(m *menu, path, method string, query map[string][]string, body map[string]any) (any, *apiError) {
	if m.singleton != nil {
		if method != http.MethodGet {
			return nil, badRequest("no such command")
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
		return r.add(m, path, body)
	}
	return nil, badRequest("no such command")
}

func (r *Router) onItem(m *menu, path, method, id string, query map[string][]string, body map[string]any) (any, *apiError) {
	i := m.find(id)
	if i < 0 {
		if method == http.MethodGet || method == http.MethodPatch || method == http.MethodDelete {
			return nil, &apiError{http.StatusNotFound, ""}
		}
		return nil, badRequest("no such command")
	}
	switch method {
	case http.MethodGet:
		return project(m.items[i], proplist(query[".proplist"])), nil
	case http.MethodPatch:
		return r.set(m, path, i, body)
	case http.MethodDelete:
		if err := r.checkCommand(path, "remove", nil); err != nil {
			return nil, err
		}
		m.items = slices.Delete(m.items, i, i+1)
		return nil, nil
	}
	return nil, badRequest("no such command")
}

// command runs a POST console command on a menu.
func (r *Router) command(m *menu, path, cmd string, body map[string]any) (any, *apiError) {
	args, err := stringArgs(body)
	if err != nil {
		return nil, err
	}
	if m.singleton != nil {
		if cmd == "print" {
			return project(m.singleton, proplistAny(body[".proplist"])), nil
		}
		return nil, badRequest("no such command")
	}
	switch cmd {
	case "print":
		check := Entry{}
		for k, v := range args {
			if k != ".proplist" && k != ".query" {
				check[k] = v
			}
		}
		if err := r.checkCommand(path, "print", check); err != nil {
			return nil, err
		}
		var words []string
		if q, ok := body[".query"].([]any); ok {
			for _, w := range q {
				s, _ := w.(string)
				words = append(words, s)
			}
		}
		return m.print(words, proplistAny(body[".proplist"]))
	case "add":
		return r.add(m, path, body)
	case "set", "remove", "move", "unset":
	default:
		if r.schema.HasMenu(schemaName(path)) && !r.schema.HasCommand(schemaName(path), cmd) {
			return nil, badRequest("no such command")
		}
		return nil, badRequest("no such command or directory (" + cmd + ")")
	}
	ids := idsOf(body)
	check := Entry{}
	for k, v := range args {
		if k != ".id" {
			check[k] = v
		}
	}
	if cmd == "set" {
		delete(check, "numbers")
	}
	if err := r.checkCommand(path, cmd, check); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, badRequest("missing value(s) of argument(s) numbers")
	}
	switch cmd {
	case "set":
		i := m.find(ids[0])
		if i < 0 {
			return nil, badRequest("no such item")
		}
		props := clone(args)
		delete(props, ".id")
		delete(props, "numbers")
		if _, err := r.set(m, path, i, anyMap(props)); err != nil {
			return nil, err
		}
	case "unset":
		name := args["value-name"]
		if !r.schema.HasParam(schemaName(path), "set", name) || name == "numbers" {
			return nil, badRequest("input does not match any value of value-name")
		}
		for _, id := range ids {
			i := m.find(id)
			if i < 0 {
				return nil, badRequest("no such item")
			}
			delete(m.items[i], name)
		}
	case "remove":
		for _, id := range ids {
			if i := m.find(id); i >= 0 {
				m.items = slices.Delete(m.items, i, i+1)
			} else {
				return nil, badRequest("no such item")
			}
		}
	case "move":
		dest := args["destination"]
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
			return nil, badRequest(err.Error())
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

// stringArgs turns a JSON body into string arguments; RouterOS also takes numbers and booleans, never
// objects. .proplist and .query may be lists.
func stringArgs(body map[string]any) (Entry, *apiError) {
	out := Entry{}
	for k, v := range body {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(x)
		case []any:
			if k != ".proplist" && k != ".query" {
				return nil, badRequest("invalid value for argument " + k)
			}
			out[k] = ""
		default:
			return nil, badRequest("invalid value for argument " + k)
		}
	}
	return out, nil
}

func anyMap(e Entry) map[string]any {
	out := map[string]any{}
	for k, v := range e {
		out[k] = v
	}
	return out
}

func (r *Router) add(m *menu, path string, body map[string]any) (any, *apiError) {
	props, err := stringArgs(body)
	if err != nil {
		return nil, err
	}
	if err := r.checkCommand(path, "add", props); err != nil {
		return nil, err
	}
	before, hasBefore := props["place-before"]
	delete(props, "place-before")
	for _, k := range m.required {
		if props[k] == "" {
			return nil, badRequest("missing value(s) of argument(s) " + k)
		}
	}
	r.normalize(path, "add", props)
	at := len(m.items)
	if hasBefore {
		if at = m.find(before); at < 0 {
			return nil, badRequest("no such item")
		}
	}
	e := m.newItem(props)
	if m.check != nil {
		if msg := m.check(m, e, e[".id"]); msg != "" {
			m.next--
			return nil, badRequest(msg)
		}
	}
	if path == Address {
		fillNetwork(e)
	}
	m.items = slices.Insert(m.items, at, e)
	return clone(e), nil
}

// interfaceParams take an interface name; an empty one is ambiguous to RouterOS.
var interfaceParams = map[string]bool{"in-interface": true, "out-interface": true, "interface": true}

func (r *Router) set(m *menu, path string, i int, body map[string]any) (any, *apiError) {
	props, err := stringArgs(body)
	if err != nil {
		return nil, err
	}
	delete(props, ".id")
	if err := r.checkCommand(path, "set", props); err != nil {
		return nil, err
	}
	for k, v := range props {
		if v == "" && interfaceParams[k] {
			return nil, badRequest("ambiguous value of interface, more than one possible value matches input")
		}
	}
	r.normalize(path, "set", props)
	e := clone(m.items[i])
	for k, v := range props {
		e[k] = v // an empty value stays: unsetting is POST .../unset
	}
	if m.check != nil {
		if msg := m.check(m, e, e[".id"]); msg != "" {
			return nil, badRequest(msg)
		}
	}
	if path == Address {
		fillNetwork(e)
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
			return badRequest("no such item")
		}
		moving = append(moving, m.items[i])
	}
	if dest != "" && m.find(dest) < 0 {
		return badRequest("no such item")
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
