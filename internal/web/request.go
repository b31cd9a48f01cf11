package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
)

// Request is a request hairpin sends (Client.Do) or serves (a Handler's argument).
type Request struct {
	Method string
	URL    *url.URL
	Header Header
	// Body is the request's body. Sending, nil means none, and ContentLength must say its size unless it is
	// -1 (unknown: sent chunked). Serving, it is never nil and reads at most what the server allows.
	Body          io.Reader
	ContentLength int64
	// Host is the Host header's value: serving, as the client sent it; sending, it overrides URL.Host when set.
	Host string
	// RemoteAddr (serving) is the peer's address as the listener reports it.
	RemoteAddr string
	// TLS (serving) describes the connection's TLS session, or is nil on plain TCP or a Unix socket.
	TLS *tls.ConnectionState

	ctx context.Context
	// getBody returns a new reader of the body NewRequest was given, to send the request again when a reused
	// connection turns out closed.
	getBody func() io.Reader
}

// NewRequest builds a request to send. A body of type *bytes.Reader, *strings.Reader or *bytes.Buffer gets
// its ContentLength set; any other non-nil body is sent chunked unless the caller sets ContentLength.
func NewRequest(ctx context.Context, method, rawURL string, body io.Reader) (*Request, error) {
	if ctx == nil {
		return nil, errors.New("web: nil context")
	}
	if method == "" {
		method = MethodGet
	}
	if !validMethod(method) {
		return nil, errors.New("web: invalid method " + quote(method))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("web: unsupported URL scheme " + quote(u.Scheme))
	}
	if u.Host == "" {
		return nil, errors.New("web: URL has no host")
	}
	r := &Request{Method: method, URL: u, Header: Header{}, Body: body, ctx: ctx}
	switch b := body.(type) {
	case nil:
	case *bytes.Reader:
		r.ContentLength = int64(b.Len())
		snap := *b
		r.getBody = func() io.Reader { c := snap; return &c }
	case *strings.Reader:
		r.ContentLength = int64(b.Len())
		snap := *b
		r.getBody = func() io.Reader { c := snap; return &c }
	case *bytes.Buffer:
		r.ContentLength = int64(b.Len())
		buf := b.Bytes()
		r.getBody = func() io.Reader { return bytes.NewReader(buf) }
	default:
		r.ContentLength = -1
	}
	return r, nil
}

// Context is the request's context: sending, it bounds the whole exchange; serving, it ends when the client
// goes away or the server shuts down.
func (r *Request) Context() context.Context {
	if r.ctx != nil {
		return r.ctx
	}
	return context.Background()
}

// WithContext returns a shallow copy of r with its context changed to ctx.
func (r *Request) WithContext(ctx context.Context) *Request {
	if ctx == nil {
		panic("web: nil context")
	}
	c := *r
	c.ctx = ctx
	return &c
}

// SetBasicAuth sets the Authorization header to HTTP Basic (RFC 7617) with user and password.
func (r *Request) SetBasicAuth(user, password string) {
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// BasicAuth returns the user and password of an HTTP Basic Authorization header, if the request has one.
func (r *Request) BasicAuth() (user, password string, ok bool) {
	const prefix = "Basic "
	auth := r.Header.Get("Authorization")
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(auth[len(prefix):])
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok
}

// Response is an answer Client.Do received. The caller must close Body.
type Response struct {
	StatusCode int
	// Status is the status line's code and reason, e.g. "200 OK".
	Status string
	Header Header
	Body   io.ReadCloser
	// ContentLength is the body's declared size, or -1 when the server did not say (chunked, or until close).
	ContentLength int64
	// Request is the request this answers.
	Request *Request
}

func validMethod(m string) bool { return validFieldName(m) }

// quote is strconv.Quote for error messages, bounded so a hostile value cannot make an error huge.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "\"" + strings.ToValidUTF8(strings.NewReplacer("\"", "\\\"", "\r", "\\r", "\n", "\\n").Replace(s), "?") + "\""
}
