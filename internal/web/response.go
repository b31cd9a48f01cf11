package web

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ResponseWriter is how a handler answers.
type ResponseWriter interface {
	// Header is the answer's header, sent with the first Write or WriteHeader; later changes are ignored.
	Header() Header
	// Write sends body bytes, after WriteHeader(StatusOK) if the handler has not called WriteHeader.
	Write([]byte) (int, error)
	// WriteHeader sets the status code. Only the first call counts; 1xx codes are not sent.
	WriteHeader(statusCode int)
}

// Flusher is a ResponseWriter that can send what it holds now (the server's does).
type Flusher interface {
	Flush()
}

var (
	// ErrBodyNotAllowed is what Write returns for an answer that has no body (204, 304, 1xx).
	ErrBodyNotAllowed = errors.New("web: request method or response status code does not allow body")
	// ErrContentLength is what Write returns past the Content-Length the handler set.
	ErrContentLength = errors.New("web: wrote more than the declared Content-Length")
)

// bufferLimit is how much of an answer the server holds before sending: an answer that fits goes out with a
// Content-Length, a longer one (or a flushed one) is sent chunked as it is written.
const bufferLimit = 4 << 10

// response is the server's ResponseWriter for one request.
type response struct {
	conn  *conn
	req   *Request
	proto int

	header      Header
	status      int
	wroteHeader bool // the handler chose the status
	wroteHead   bool // the status line and header are on their way
	buf         []byte
	chunked     bool
	length      int64 // the declared Content-Length, or -1
	written     int64
	closeAfter  bool
	err         error
}

func (w *response) Header() Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("web: invalid WriteHeader code %d", code))
	}
	if w.wroteHeader || code < 200 {
		return
	}
	w.wroteHeader, w.status = true, code
	w.length = -1
	if v := w.header.Get("Content-Length"); v != "" {
		if n, ok := parseContentLength(v); ok {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, ErrContentLength
	}
	w.written += int64(len(p))
	if w.req.Method == MethodHead {
		return len(p), nil
	}
	if !w.wroteHead {
		if len(w.buf)+len(p) <= bufferLimit {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.writeHead(false)
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// Flush sends the header and what the handler has written so far.
func (w *response) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(StatusOK)
	}
	if !w.wroteHead {
		w.writeHead(false)
	}
	if err := w.conn.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// requestTooLarge is MaxBytesReader's signal: the rest of the body is not read, so the connection closes.
func (w *response) requestTooLarge() { w.closeAfter = true }

func bodyAllowed(code int) bool {
	return code >= 200 && code != StatusNoContent && code != StatusNotModified
}

// writeHead puts the status line and header into the connection's buffer. final: the handler has returned,
// so the whole body is known and gets a Content-Length.
func (w *response) writeHead(final bool) {
	w.wroteHead = true
	h := w.header
	h.Del("Transfer-Encoding")
	head := w.req.Method == MethodHead
	if bodyAllowed(w.status) && w.length < 0 {
		switch {
		case final && (!head || w.written > 0):
			h.Set("Content-Length", itoa(w.written))
		case final || head:
		case w.proto >= 11:
			w.chunked = true
			h.Set("Transfer-Encoding", "chunked")
		default:
			w.closeAfter = true // HTTP/1.0: the body ends when the connection does
		}
	}
	if !bodyAllowed(w.status) {
		h.Del("Content-Length")
	}
	if strings.EqualFold(h.Get("Connection"), "close") {
		w.closeAfter = true // the handler's own word
	}
	if w.closeAfter {
		h.Set("Connection", "close")
	}
	bw := w.conn.bw
	if w.proto >= 11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	c := w.conn
	c.scratch = strconv.AppendInt(c.scratch[:0], int64(w.status), 10)
	bw.Write(c.scratch)
	bw.WriteByte(' ')
	if text := StatusText(w.status); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(c.scratch)
	}
	bw.WriteString("\r\n")
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		c.scratch = time.Now().UTC().AppendFormat(c.scratch[:0], TimeFormat)
		bw.Write(c.scratch)
		bw.WriteString("\r\n")
	}
	c.keys = c.keys[:0]
	for k := range h {
		c.keys = append(c.keys, k)
	}
	slices.Sort(c.keys)
	for _, k := range c.keys {
		if !validFieldName(k) {
			continue
		}
		for _, v := range h[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(headerValueCleaner.Replace(strings.TrimSpace(v)))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	if len(w.buf) > 0 {
		buf := w.buf
		w.buf = w.buf[:0]
		w.writeBody(buf)
	}
}

// headerValueCleaner keeps a value on its line whatever a handler puts in it.
var headerValueCleaner = strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ")

func (w *response) writeBody(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	if w.chunked {
		w.err = writeChunk(w.conn.bw, p)
		return
	}
	if _, err := w.conn.bw.Write(p); err != nil {
		w.err = err
	}
}

// finish sends the rest of the answer once the handler has returned.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(StatusOK)
	}
	if w.length >= 0 && w.written < w.length && w.req.Method != MethodHead {
		w.closeAfter = true // the client waits for bytes that will not come: only closing ends its wait
	}
	if !w.wroteHead {
		w.writeHead(true)
	} else if w.chunked && w.err == nil {
		w.conn.bw.WriteString(lastChunk)
	}
	if err := w.conn.bw.Flush(); err != nil {
		return err
	}
	return w.err
}

func statusLine(code int) string {
	text := StatusText(code)
	if text == "" {
		text = "status code " + itoa(int64(code))
	}
	return itoa(int64(code)) + " " + text
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Error answers with code and msg as plain text.
func Error(w ResponseWriter, msg string, code int) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// NotFound answers 404.
func NotFound(w ResponseWriter, _ *Request) { Error(w, "404 page not found", StatusNotFound) }

// MaxBytesError is what a MaxBytesReader returns past its limit.
type MaxBytesError struct{ Limit int64 }

func (e *MaxBytesError) Error() string { return "web: request body too large" }

// MaxBytesReader reads at most n bytes of r, a request's body, and fails past them; the connection then
// closes instead of reading the rest.
func MaxBytesReader(w ResponseWriter, r io.Reader, n int64) io.Reader {
	return &maxBytesReader{w: w, r: r, left: n, limit: n}
}

type maxBytesReader struct {
	w           ResponseWriter
	r           io.Reader
	left, limit int64
	err         error
}

func (m *maxBytesReader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte more than allowed, to tell "exactly n" from "more than n".
	if int64(len(p))-1 > m.left {
		p = p[:m.left+1]
	}
	n, err := m.r.Read(p)
	if int64(n) <= m.left {
		m.left -= int64(n)
		m.err = err
		return n, err
	}
	n = int(m.left)
	m.left = 0
	m.err = &MaxBytesError{Limit: m.limit}
	if tl, ok := m.w.(interface{ requestTooLarge() }); ok {
		tl.requestTooLarge()
	}
	return n, m.err
}
