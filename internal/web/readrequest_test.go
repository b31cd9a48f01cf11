package web

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// FuzzReadRequest holds the server's parser to net/http's: what it accepts, net/http.ReadRequest accepts too,
// with the same method, target, host, headers and body. It may refuse more (bare LF, folding, HTTP/1.0 with
// Transfer-Encoding, a missing Host), never accept something else.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nX-A: b\r\nx-a: c\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xff\t\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sr, ourErr := readRequest(bufio.NewReader(bytes.NewReader(in)), 4<<10)
		var ours []byte
		if ourErr == nil {
			ours, ourErr = io.ReadAll(sr.req.Body)
		}
		if ourErr != nil {
			return
		}
		theirs, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("accepted %q where net/http refused: %v", in, err)
		}
		body, err := io.ReadAll(theirs.Body)
		if err != nil {
			t.Fatalf("accepted %q whose body net/http refused: %v", in, err)
		}
		r := sr.req
		if r.Method != theirs.Method || r.URL.String() != theirs.URL.String() || r.Host != theirs.Host || !bytes.Equal(ours, body) {
			t.Fatalf("%q: ours %s %s host %q body %q; net/http %s %s host %q body %q", in, r.Method, r.URL, r.Host, ours,
				theirs.Method, theirs.URL, theirs.Host, body)
		}
		th := http.Header(maps.Clone(theirs.Header))
		th.Del("Transfer-Encoding")
		if !maps.EqualFunc(map[string][]string(r.Header), map[string][]string(th), slices.Equal) {
			t.Fatalf("%q: headers %v, net/http %v", in, r.Header, th)
		}
		if sr.close != theirs.Close && !(sr.proto == 10 && !theirs.Close) {
			t.Fatalf("%q: close %v, net/http %v", in, sr.close, theirs.Close)
		}
	})
}

func TestReadRequest(t *testing.T) {
	t.Parallel()
	sr, err := readRequest(bufio.NewReader(strings.NewReader("GET /a%20b?c=d HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n")), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if r := sr.req; r.URL.Path != "/a b" || r.URL.RawQuery != "c=d" || r.Host != "h" || !sr.close || r.Header.Get("Host") != "" {
		t.Errorf("%+v close %v", r, sr.close)
	}
}
