package web

import (
	"bufio"
	"errors"
	"io"
	"net/textproto"
	"strings"
)

// ReadResponse reads one response from r: its status line, its header (at most 16 KiB with the status line)
// and, as Body, a reader of its body that stops where the body ends. req (nil: a GET) says what the response
// answers; a HEAD request's response has no body. A 1xx response is returned as it is, as net/http's
// ReadResponse does (Client.Do skips them).
//
// It is stricter than net/http's, never laxer (FuzzReadResponse): HTTP/1.0 and HTTP/1.1 only, a three-digit
// status of at least 100, header names are tokens and values hold no control character, no obsolete line
// folding, one Content-Length (or identical copies) and never beside Transfer-Encoding, chunked the only
// transfer coding. Lines end in CRLF or a bare LF (many UPnP devices send bare LFs; net/http accepts them),
// never a bare CR.
func ReadResponse(r *bufio.Reader, req *Request) (*Response, error) {
	resp, _, err := readResponse(r, req, maxHeaderBytes)
	return resp, err
}

// responseMeta is what the client needs beyond the Response: whether the connection can carry another
// exchange once the body has been read to its end.
type responseMeta struct {
	keepAlive bool
}

func malformed(what string) error { return errors.New("web: malformed HTTP response: " + what) }

func readResponse(br *bufio.Reader, req *Request, maxHead int) (*Response, responseMeta, error) {
	var meta responseMeta
	budget := maxHead
	line, err := responseLine(br, &budget)
	if err != nil {
		return nil, meta, err
	}
	version, status, ok := strings.Cut(line, " ")
	if !ok {
		return nil, meta, malformed("status line " + quote(line))
	}
	var proto int
	switch version {
	case "HTTP/1.1":
		proto = 11
	case "HTTP/1.0":
		proto = 10
	default:
		return nil, meta, malformed("version " + quote(version) + " (only HTTP/1.0 and HTTP/1.1 are read)")
	}
	code := 0
	if len(status) < 3 || (len(status) > 3 && status[3] != ' ') {
		return nil, meta, malformed("status code in " + quote(line))
	}
	for i := 0; i < 3; i++ {
		c := status[i]
		if c < '0' || c > '9' {
			return nil, meta, malformed("status code in " + quote(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return nil, meta, malformed("status code in " + quote(line))
	}
	if !validFieldValue(status) {
		return nil, meta, malformed("control character in the status line")
	}

	h := Header{}
	for {
		line, err := responseLine(br, &budget)
		if err != nil {
			return nil, meta, err
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, meta, malformed("obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validFieldName(name) {
			return nil, meta, malformed("header line " + quote(line))
		}
		value = strings.Trim(value, " \t")
		if !validFieldValue(value) {
			return nil, meta, malformed("control character in the value of header " + quote(name))
		}
		k := textproto.CanonicalMIMEHeaderKey(name)
		h[k] = append(h[k], value)
	}

	resp := &Response{StatusCode: code, Status: status, Header: h, Request: req, ContentLength: -1}
	method := MethodGet
	if req != nil && req.Method != "" {
		method = req.Method
	}
	meta.keepAlive = proto == 11
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			switch strings.ToLower(strings.Trim(tok, " \t")) {
			case "close":
				meta.keepAlive = false
			case "keep-alive":
				// HTTP/1.0 keep-alive is not worth the ambiguity; such a connection is closed after use.
			}
		}
	}

	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	length := int64(-1)
	if len(cl) > 0 {
		for _, v := range cl[1:] {
			if v != cl[0] {
				return nil, meta, malformed("conflicting Content-Length headers")
			}
		}
		n, ok := parseContentLength(cl[0])
		if !ok {
			return nil, meta, malformed("Content-Length " + quote(cl[0]))
		}
		length = n
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1]
		}
	}
	chunked := false
	if len(te) > 0 {
		switch {
		case len(cl) > 0:
			return nil, meta, malformed("both Transfer-Encoding and Content-Length")
		case proto == 10:
			return nil, meta, malformed("Transfer-Encoding in an HTTP/1.0 response")
		case len(te) > 1 || !strings.EqualFold(te[0], "chunked"):
			return nil, meta, malformed("transfer coding " + quote(strings.Join(te, ", ")) + " (only chunked is read)")
		}
		chunked = true
		delete(h, "Transfer-Encoding")
	}

	switch {
	case method == MethodHead || code < 200 || code == StatusNoContent || code == StatusNotModified:
		// No body, whatever the header says; a HEAD answer's Content-Length is the size a GET would get.
		resp.Body = noBody{}
		if method == MethodHead {
			resp.ContentLength = length
		} else {
			resp.ContentLength = 0
		}
	case chunked:
		resp.Body = &bodyReader{r: newChunkedReader(br)}
	case length >= 0:
		resp.ContentLength = length
		resp.Body = &bodyReader{r: &lengthBody{r: br, left: length}}
	default:
		// Until the server closes the connection.
		meta.keepAlive = false
		resp.Body = &bodyReader{r: br, untilClose: true}
	}
	return resp, meta, nil
}

// responseLine reads one line of the response head, charging it to budget. A bare LF ends a line as CRLF
// does; a CR anywhere else, or a NUL, is refused.
func responseLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > *budget {
			return "", errors.New("web: response head larger than " + itoa(int64(maxHeaderBytes)) + " bytes")
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	*budget -= len(line)
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	for _, b := range line {
		if b == '\r' || b == 0 {
			return "", malformed("bare CR or NUL in the head")
		}
	}
	return string(line), nil
}

// noBody is the body of a response that has none.
type noBody struct{}

func (noBody) Read([]byte) (int, error) { return 0, io.EOF }
func (noBody) Close() error             { return nil }

// bodyReader is a response body as ReadResponse returns it. The client wraps it to hand the connection back.
type bodyReader struct {
	r          io.Reader
	untilClose bool
	eof        bool
	err        error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) Close() error {
	if b.err == nil {
		b.err = errors.New("web: read on a closed response body")
	}
	return nil
}

// done reports whether the body has been read to its end without an error, without blocking: what is left
// of it may already sit in the buffer (a chunked body's last chunk line and trailer).
func (b *bodyReader) done() bool {
	if b.eof {
		return true
	}
	if b.err != nil || b.untilClose {
		return false
	}
	if lb, ok := b.r.(*lengthBody); ok {
		return lb.left == 0
	}
	return false
}
