package web

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestHeader(t *testing.T) {
	t.Parallel()
	h := Header{}
	h.Set("content-type", "a")
	h.Add("X-FOO", "1")
	h.Add("x-foo", "2")
	if h.Get("Content-Type") != "a" || strings.Join(h.Values("X-Foo"), ",") != "1,2" {
		t.Fatalf("header %v", h)
	}
	c := h.Clone()
	c.Del("x-foo")
	if len(h.Values("X-Foo")) != 2 || c.Get("X-Foo") != "" {
		t.Fatalf("clone shares values: %v / %v", h, c)
	}
	for _, v := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		if got, err := ParseTime(v); err != nil || !got.Equal(time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)) {
			t.Errorf("ParseTime(%q) = %v, %v", v, got, err)
		}
	}
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	r, err := NewRequest(context.Background(), MethodPost, "https://example.com/a?b=c", strings.NewReader("xyz"))
	if err != nil || r.ContentLength != 3 || r.URL.Host != "example.com" {
		t.Fatalf("%+v, %v", r, err)
	}
	r.SetBasicAuth("u", "p:w")
	if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p:w" {
		t.Fatalf("basic auth %q %q %v", u, p, ok)
	}
	for _, bad := range []struct{ method, url string }{{"GET", "ftp://x/"}, {"GET", "https:///path"}, {"GE T", "https://x/"}, {"GET", "https://x/%zz"}} {
		if _, err := NewRequest(context.Background(), bad.method, bad.url, nil); err == nil {
			t.Errorf("NewRequest(%q, %q) accepted", bad.method, bad.url)
		}
	}
}
