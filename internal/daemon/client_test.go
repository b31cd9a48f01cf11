package daemon

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"
)

// httpClientFor is clientFor for tests that want net/http's conveniences (Get, http.NewRequest) against the
// daemon's listener; Fetch covers the production client.
func httpClientFor(addr string) (*http.Client, string) {
	if !strings.HasPrefix(addr, "/") {
		return &http.Client{Timeout: 10 * time.Second}, "http://" + addr
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", addr)
	}}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}, "http://hairpin"
}
