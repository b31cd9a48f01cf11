package daemon

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// Fetch asks a running daemon for its status.
func Fetch(ctx context.Context, addr string) (*Status, error) {
	client, url := clientFor(addr)
	defer client.CloseIdleConnections()
	req, err := web.NewRequest(ctx, web.MethodGet, url+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, errfmt.Errorf("no hairpin daemon answers at %s (is `hairpin run` running?): %w", addr, err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, errfmt.Errorf("reading status: %w", err)
	}
	return &s, nil
}

func clientFor(addr string) (*web.Client, string) {
	if !strings.HasPrefix(addr, "/") {
		return &web.Client{Timeout: 10 * time.Second}, "http://" + addr
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", addr)
	}
	return &web.Client{Timeout: 10 * time.Second, Dial: dial}, "http://hairpin"
}
