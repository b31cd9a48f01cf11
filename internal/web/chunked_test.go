package web

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestChunkedReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		bad            bool
	}{
		{name: "two chunks", in: "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", want: "abcde"},
		{name: "extension and trailer", in: "3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", want: "abc"},
		{name: "upper hex", in: "A\r\n0123456789\r\n0\r\n\r\n", want: "0123456789"},
		{name: "bare LF line", in: "3\nabc\r\n0\r\n\r\n", bad: true},
		{name: "no size", in: "\r\nabc", bad: true},
		{name: "not hex", in: "g\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "size over 64 bits", in: "10000000000000000\r\n", bad: true},
		{name: "missing CRLF after data", in: "3\r\nabcX\r\n0\r\n\r\n", bad: true},
		{name: "truncated", in: "5\r\nab", bad: true},
		{name: "no last chunk", in: "3\r\nabc\r\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(newChunkedReader(bufio.NewReader(strings.NewReader(tc.in))))
			if tc.bad {
				if err == nil {
					t.Fatalf("read %q without an error", got)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzChunkedReader holds the reader to net/http's: whatever net/http decodes, this decodes the same; it may
// refuse more (trailers too long), never accept a different body.
func FuzzChunkedReader(f *testing.F) {
	for _, s := range []string{"3\r\nabc\r\n0\r\n\r\n", "1;a\r\nx\r\n0\r\nA: b\r\n\r\n", "0\r\n\r\n", "ff\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ours, ourErr := io.ReadAll(newChunkedReader(bufio.NewReader(bytes.NewReader(in))))
		br := bufio.NewReader(bytes.NewReader(in))
		theirs, theirErr := io.ReadAll(httputil.NewChunkedReader(br))
		if theirErr == nil {
			// net/http's reader stops at the last chunk and leaves the trailer to its caller.
			tp := bufio.NewReader(br)
			for {
				line, err := tp.ReadString('\n')
				if err != nil {
					theirErr = err
					break
				}
				if line == "\r\n" || line == "\n" {
					break
				}
			}
		}
		if ourErr == nil && theirErr == nil && !bytes.Equal(ours, theirs) {
			t.Fatalf("body %q, net/http %q", ours, theirs)
		}
		if ourErr == nil && theirErr != nil {
			t.Fatalf("accepted %q (%q) where net/http refused: %v", in, ours, theirErr)
		}
	})
}
