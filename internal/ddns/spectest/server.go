package spectest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Request is a request the spec allows, as the provider's fake sees it.
type Request struct {
	Op    *Op
	Vars  map[string]string // path parameters
	Query url.Values
	Body  any // decoded JSON (numbers as json.Number), nil without a body
	HTTP  *http.Request
}

// Reply is the fake's answer.
type Reply struct {
	Status int
	Body   any // marshalled as JSON; nil: no body
	Header http.Header
}

// Server serves a spec; Handle is the provider's fake behind the checks.
type Server struct {
	*httptest.Server
	Spec *Spec
	// Prefix is the path of the spec's base URL (/v2 for https://api.vultr.com/v2), which the server serves
	// under; the provider's endpoint is URL + Prefix.
	Prefix string
	// Authorized checks the credentials of a request whose auth header has the spec's shape.
	Authorized func(r *http.Request) bool
	// AuthStatus is the status a refused credential gets; 0 is 401. Some vendors answer 400 (Porkbun).
	AuthStatus int
	// ReadRoles are the roles of operations that only read though the API sends them with POST (Porkbun).
	ReadRoles []string
	// Refusal is the body the vendor documents for an error status.
	Refusal func(status int, msg string) any
	// Handle answers an allowed, authorized request.
	Handle func(r *Request) Reply
	// Fail, when it returns a status, answers the request with it (the vendor's error body) and headers,
	// before anything else: rate limits and server errors.
	Fail func(r *http.Request) (int, http.Header)

	t        testing.TB
	mu       sync.Mutex
	refusals []string
	calls    []string
}

// Serve loads the spec at path (a provider's testdata) and serves it, failing t when it does not load.
func Serve(t testing.TB, path string) *Server {
	t.Helper()
	spec, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return New(t, spec)
}

// New serves spec over TLS on loopback.
func New(t testing.TB, spec *Spec) *Server {
	s := &Server{Spec: spec, t: t}
	if len(spec.BaseURLs) > 0 {
		if u, err := url.Parse(spec.BaseURLs[0].URL); err == nil {
			s.Prefix = strings.TrimSuffix(u.Path, "/")
		}
	}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Endpoint is the base URL a provider is configured with.
func (s *Server) Endpoint() string { return s.URL + s.Prefix }

// Refusals lists the requests refused for breaking the spec, with why.
func (s *Server) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refusals...)
}

// Calls lists the requests answered, as "ROLE METHOD PATH".
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// ResetCalls forgets the calls so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Writes counts the calls that change something: those not sent with GET, nor of a role in ReadRoles.
func (s *Server) Writes() int {
	n := 0
	for _, c := range s.Calls() {
		role, _, _ := strings.Cut(c, " ")
		if !strings.Contains(c, " GET ") && !slices.Contains(s.ReadRoles, role) {
			n++
		}
	}
	return n
}

func (s *Server) refuse(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.refusals = append(s.refusals, msg)
	s.mu.Unlock()
	s.t.Logf("%s fake refuses: %s", s.Spec.Provider, msg)
	var body any = map[string]any{"message": msg}
	if s.Refusal != nil {
		body = s.Refusal(status, msg)
	}
	writeJSON(w, status, nil, body)
}

func writeJSON(w http.ResponseWriter, status int, h http.Header, body any) {
	for k, v := range h {
		w.Header()[k] = v
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	if raw, ok := body.([]byte); ok {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write(raw)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, s.Prefix+"/") {
		s.refuse(w, http.StatusNotFound, "%s %s: outside the API's base path %s", r.Method, path, s.Prefix)
		return
	}
	rel := strings.TrimPrefix(path, s.Prefix)
	op, rawVars := s.Spec.match(r.Method, rel)
	if op == nil {
		s.refuse(w, http.StatusNotFound, "%s %s: no such operation in the spec", r.Method, rel)
		return
	}
	vars := map[string]string{}
	for k, v := range rawVars {
		vars[k], _ = url.PathUnescape(v)
	}
	if s.Fail != nil {
		if status, h := s.Fail(r); status != 0 {
			body := any(map[string]any{"message": http.StatusText(status)})
			if s.Refusal != nil {
				body = s.Refusal(status, http.StatusText(status))
			}
			writeJSON(w, status, h, body)
			return
		}
	}
	authStatus := http.StatusUnauthorized
	if s.AuthStatus != 0 {
		authStatus = s.AuthStatus
	}
	if msg := s.authShape(r); msg != "" {
		s.refuse(w, authStatus, "%s: %s", op.OperationID, msg)
		return
	}
	if s.Authorized != nil && !s.Authorized(r) {
		s.refuse(w, authStatus, "%s: the credentials are not the account's", op.OperationID)
		return
	}
	if msg := checkParams(op, vars, r.URL.Query(), r.Header); msg != "" {
		s.refuse(w, http.StatusBadRequest, "%s: %s", op.OperationID, msg)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body any
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		if op.RequestBody != nil && op.RequestBody.Required {
			s.refuse(w, http.StatusBadRequest, "%s: the request body is required", op.OperationID)
			return
		}
	case op.RequestBody == nil:
		s.refuse(w, http.StatusBadRequest, "%s: the operation takes no body", op.OperationID)
		return
	default:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, op.RequestBody.ContentType) {
			s.refuse(w, http.StatusUnsupportedMediaType, "%s: Content-Type %q, the spec says %s", op.OperationID, ct, op.RequestBody.ContentType)
			return
		}
		if rb := op.RequestBody; strings.Contains(rb.ContentType, "xml") {
			root, err := parseXML(raw)
			switch {
			case err != nil:
				s.refuse(w, http.StatusBadRequest, "%s: the body is not XML: %v", op.OperationID, err)
				return
			case root.name != rb.XMLRoot || root.space != rb.XMLNamespace:
				s.refuse(w, http.StatusBadRequest, "%s: the root element is {%s}%s, the spec says {%s}%s", op.OperationID, root.space, root.name, rb.XMLNamespace, rb.XMLRoot)
				return
			}
			body = root.value(rb.Schema)
		} else {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				s.refuse(w, http.StatusBadRequest, "%s: the body is not JSON: %v", op.OperationID, err)
				return
			}
		}
		if msg := op.RequestBody.Schema.Check(body, "body", true); msg != "" {
			s.refuse(w, http.StatusBadRequest, "%s: %s", op.OperationID, msg)
			return
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, op.Role+" "+r.Method+" "+rel)
	s.mu.Unlock()
	reply := s.Handle(&Request{Op: op, Vars: vars, Query: r.URL.Query(), Body: body, HTTP: r})
	s.checkReply(op, reply)
	writeJSON(w, reply.Status, reply.Header, reply.Body)
}

// checkReply holds the fake to the response schema of the status it answers with.
func (s *Server) checkReply(op *Op, reply Reply) {
	resp, ok := op.response(reply.Status)
	if !ok {
		s.t.Errorf("%s fake: %s answers %d, which the spec does not document", s.Spec.Provider, op.OperationID, reply.Status)
		return
	}
	if resp.Schema == nil || reply.Body == nil {
		return
	}
	if raw, ok := reply.Body.([]byte); ok {
		root, err := parseXML(raw)
		if err != nil {
			s.t.Errorf("%s fake: %s's %d answer is not XML: %v", s.Spec.Provider, op.OperationID, reply.Status, err)
			return
		}
		if msg := resp.Schema.Check(root.value(resp.Schema), "response", false); msg != "" {
			s.t.Errorf("%s fake: %s's %d answer breaks the response schema: %s", s.Spec.Provider, op.OperationID, reply.Status, msg)
		}
		return
	}
	data, _ := json.Marshal(reply.Body)
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	_ = dec.Decode(&v)
	if msg := resp.Schema.Check(v, "response", false); msg != "" {
		s.t.Errorf("%s fake: %s's %d answer breaks the response schema: %s", s.Spec.Provider, op.OperationID, reply.Status, msg)
	}
}

// authShape checks that the request carries credentials in a shape one of the spec's schemes documents.
func (s *Server) authShape(r *http.Request) string {
	if len(s.Spec.Auth) == 0 {
		return ""
	}
	var want []string
	for _, a := range s.Spec.Auth {
		switch {
		case a.Type == "http" && strings.EqualFold(a.Scheme, "bearer"):
			if v := r.Header.Get("Authorization"); strings.HasPrefix(v, "Bearer ") && len(v) > len("Bearer ") {
				return ""
			}
			want = append(want, "Authorization: Bearer")
		case a.Type == "http" && strings.EqualFold(a.Scheme, "basic"):
			if _, _, ok := r.BasicAuth(); ok {
				return ""
			}
			want = append(want, "Authorization: Basic")
		case a.Type == "apiKey" && a.In == "header":
			if r.Header.Get(a.Parameter) != "" {
				return ""
			}
			want = append(want, a.Parameter)
		case a.Type == "oauth2":
			// OAuth tokens travel as bearer tokens.
			if v := r.Header.Get("Authorization"); strings.HasPrefix(v, "Bearer ") && len(v) > len("Bearer ") {
				return ""
			}
			want = append(want, "Authorization: Bearer (OAuth)")
		case a.Type == "aws-sigv4":
			v := r.Header.Get("Authorization")
			if strings.HasPrefix(v, "AWS4-HMAC-SHA256 Credential=") && strings.Contains(v, ", SignedHeaders=") &&
				strings.Contains(v, ", Signature=") && r.Header.Get("X-Amz-Date") != "" {
				return ""
			}
			want = append(want, "Authorization: AWS4-HMAC-SHA256 with X-Amz-Date")
		default:
			return "" // a scheme the provider's own Authorized checks (signatures)
		}
	}
	return "no credentials in a documented shape (" + strings.Join(want, ", ") + ")"
}

// checkParams refuses unknown query parameters, missing required ones and values outside their schema.
func checkParams(op *Op, vars map[string]string, q url.Values, h http.Header) string {
	declared := map[string]bool{}
	for _, p := range op.Parameters {
		switch p.In {
		case "query":
			declared[p.Name] = true
			vs, given := q[p.Name]
			if !given {
				if p.Required {
					return "required parameter " + p.Name + " is missing"
				}
				continue
			}
			for _, v := range vs {
				if msg := checkParam(p, v); msg != "" {
					return msg
				}
			}
		case "path":
			if msg := checkParam(p, vars[p.Name]); msg != "" {
				return msg
			}
		case "header":
			if v := h.Get(p.Name); v != "" {
				if msg := checkParam(p, v); msg != "" {
					return msg
				}
			} else if p.Required {
				return "required header " + p.Name + " is missing"
			}
		}
	}
	for k := range q {
		if !declared[k] {
			return "query parameter " + k + " is not in the spec"
		}
	}
	return ""
}
