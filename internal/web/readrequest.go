package web

import (
	"bufio"
	"errors"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// requestError is a request the server refuses before any handler sees it: the status it answers and why.
// Every one ends the connection, since what follows the bad request cannot be trusted to start a new one.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return strconv.Itoa(e.code) + " " + e.msg }

func badRequest(msg string) *requestError { return &requestError{StatusBadRequest, msg} }

// serverRequest is what readRequest learns beyond the Request itself.
type serverRequest struct {
	req *Request
	// proto is 10 or 11 (HTTP/1.0, HTTP/1.1).
	proto int
	// close: the client asked to close the connection after this exchange (Connection: close, or HTTP/1.0).
	close bool
	// expectContinue: the client waits for 100 Continue before it sends the body.
	expectContinue bool
	chunked        bool
}

// readRequest reads a request head from br, at most maxHead bytes with its request line, and sets up its body.
// It is strict where a lenient parser opens the door to request smuggling or to two readers of one stream
// disagreeing: lines end in CRLF, never a bare CR or LF; no obsolete line folding; header names are tokens and
// values hold no control characters; one Content-Length (or identical copies), never with Transfer-Encoding;
// chunked is the only transfer coding. What it accepts, net/http.ReadRequest accepts too, with the same method,
// target, headers and body (FuzzReadRequest).
func readRequest(br *bufio.Reader, maxHead int) (*serverRequest, error) {
	budget := maxHead
	line, err := headLine(br, &budget)
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validMethod(method) || target == "" {
		return nil, badRequest("malformed request line")
	}
	sr := &serverRequest{}
	switch version {
	case "HTTP/1.1":
		sr.proto = 11
	case "HTTP/1.0":
		sr.proto, sr.close = 10, true
	default:
		if strings.HasPrefix(version, "HTTP/") && !strings.ContainsAny(version, " \t") {
			return nil, &requestError{StatusHTTPVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served"}
		}
		return nil, badRequest("malformed request line")
	}
	u, err := parseTarget(target)
	if err != nil {
		return nil, badRequest("malformed request target")
	}

	h := Header{}
	for {
		line, err := headLine(br, &budget)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("obsolete line folding is not accepted")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validFieldName(name) {
			return nil, badRequest("malformed header line")
		}
		value = strings.Trim(value, " \t")
		if !validFieldValue(value) {
			return nil, badRequest("invalid character in the value of header " + quote(name))
		}
		k := textproto.CanonicalMIMEHeaderKey(name)
		h[k] = append(h[k], value)
	}

	r := &Request{Method: method, URL: u, Header: h}
	sr.req = r
	hosts := h["Host"]
	switch {
	case len(hosts) > 1:
		return nil, badRequest("more than one Host header")
	case len(hosts) == 0 && sr.proto == 11:
		return nil, badRequest("missing required Host header")
	case len(hosts) == 1 && !validHost(hosts[0]):
		return nil, badRequest("malformed Host header")
	}
	r.Host = h.Get("Host")
	if u.Host != "" {
		r.Host = u.Host // absolute form: the target's authority wins (RFC 9112 3.2.2)
	}
	delete(h, "Host")

	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			switch strings.ToLower(strings.Trim(tok, " \t")) {
			case "close":
				sr.close = true
			}
		}
	}
	if ex := h["Expect"]; len(ex) > 0 {
		if len(ex) > 1 || !strings.EqualFold(ex[0], "100-continue") {
			return nil, &requestError{StatusExpectationFailed, "only Expect: 100-continue is understood"}
		}
		sr.expectContinue = sr.proto == 11
	}

	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	switch {
	case len(te) > 0 && len(cl) > 0:
		return nil, badRequest("both Transfer-Encoding and Content-Length")
	case len(te) > 0:
		if sr.proto == 10 {
			return nil, badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) > 1 || !strings.EqualFold(te[0], "chunked") {
			return nil, &requestError{StatusNotImplemented, "only the chunked transfer coding is understood"}
		}
		sr.chunked = true
		r.ContentLength = -1
		delete(h, "Transfer-Encoding")
		r.Body = newChunkedReader(br)
	case len(cl) > 0:
		for _, v := range cl[1:] {
			if v != cl[0] {
				return nil, badRequest("conflicting Content-Length headers")
			}
		}
		n, ok := parseContentLength(cl[0])
		if !ok {
			return nil, badRequest("malformed Content-Length")
		}
		r.ContentLength = n
		r.Body = &lengthBody{r: br, left: n}
	default:
		r.Body = noBody{}
	}
	return sr, nil
}

// headLine reads one line of the request head, charging it to budget.
func headLine(br *bufio.Reader, budget *int) (string, error) {
	if *budget <= 0 {
		return "", &requestError{StatusRequestHeaderFieldsTooLarge, "request head too large"}
	}
	line, err := readLine(br, *budget)
	switch {
	case errors.Is(err, errLineTooLong):
		return "", &requestError{StatusRequestHeaderFieldsTooLarge, "request head too large"}
	case errors.Is(err, errChunk):
		return "", badRequest("malformed line ending (CRLF only) or control character in the request head")
	case err != nil:
		return "", err
	}
	*budget -= len(line) + 2
	if *budget < 0 {
		return "", &requestError{StatusRequestHeaderFieldsTooLarge, "request head too large"}
	}
	return string(line), nil
}

// parseTarget reads the request target: origin form (/path?query) or absolute form (http://host/path).
// The asterisk and authority forms (OPTIONS *, CONNECT) are not served.
func parseTarget(target string) (*url.URL, error) {
	if target[0] != '/' && !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return nil, errors.New("unsupported request target")
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return nil, errors.New("control character or space in the request target")
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "" && (u.Host == "" || !validHost(u.Host)) {
		return nil, errors.New("absolute target without a host")
	}
	return u, nil
}

// parseContentLength reads a Content-Length: decimal digits only (no sign, no spaces), at most 18 of them.
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

// validFieldValue reports whether v may be a header value: visible characters, spaces, tabs and obs-text,
// no other control character.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h may be a Host header's value: the characters of a reg-name, an IP literal
// and a port (RFC 3986 3.2.2), nothing else.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// lengthBody is a body of a known length: it ends there, and a connection that ends before is an error.
type lengthBody struct {
	r    io.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		err = io.EOF
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
