package web

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzReadResponse holds ReadResponse to net/http's: what it accepts, net/http.ReadResponse accepts too, with
// the same status, headers and body. It may refuse more (folding, HTTP/1.0 with Transfer-Encoding, both
// Content-Length and Transfer-Encoding, other versions), never accept something else.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\nx-a: c\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\nLocation: http://192.0.2.1/\nEXT:\n\n",
		"HTTP/1.1 301\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: \x80\xff\t\r\nPragma: no-cache\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		method := MethodGet
		if head {
			method = MethodHead
		}
		resp, ourErr := ReadResponse(bufio.NewReader(bytes.NewReader(in)), &Request{Method: method})
		var ours []byte
		if ourErr == nil {
			ours, ourErr = io.ReadAll(resp.Body)
		}
		if ourErr != nil {
			return
		}
		theirs, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("accepted %q where net/http refused: %v", in, err)
		}
		body, err := io.ReadAll(theirs.Body)
		if err != nil {
			t.Fatalf("accepted %q whose body net/http refused: %v", in, err)
		}
		if resp.StatusCode != theirs.StatusCode || resp.Status != theirs.Status || !bytes.Equal(ours, body) {
			t.Fatalf("%q: ours %q body %q; net/http %q body %q", in, resp.Status, ours, theirs.Status, body)
		}
		if resp.ContentLength != theirs.ContentLength && resp.StatusCode >= 200 {
			t.Fatalf("%q: ContentLength %d, net/http %d", in, resp.ContentLength, theirs.ContentLength)
		}
		th := http.Header(maps.Clone(theirs.Header))
		if len(th["Pragma"]) > 0 && len(resp.Header["Cache-Control"]) == 0 {
			th.Del("Cache-Control") // net/http adds it for HTTP/1.0 caches
		}
		if !maps.EqualFunc(map[string][]string(resp.Header), map[string][]string(th), slices.Equal) {
			t.Fatalf("%q: headers %v, net/http %v", in, resp.Header, th)
		}
	})
}
