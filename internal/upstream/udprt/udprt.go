// Package udprt is the request and retransmission loop that PCP (RFC 6887 §8.1.1) and NAT-PMP (RFC 6886
// §3.1) share: send a datagram to the gateway, wait, send again with the wait doubled, until an answer parses
// or the caller's context ends.
package udprt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// RoundTrip dials gateway over UDP from local (any address when local is invalid), sends req, and retransmits
// it with doubling waits (first, 250 ms when zero, at most 4 s) until parse accepts an answer or ctx ends.
// A datagram that parse rejects is dropped, since anyone on the path could send it, unless final reports its
// error as the gateway's own answer (a result code): then the answer and that error are returned. Datagrams
// larger than bufSize are cut, which parse sees as a wrong size. proto names the protocol in errors.
func RoundTrip[R any](ctx context.Context, proto string, gateway netip.AddrPort, local netip.Addr, req []byte,
	first time.Duration, bufSize int, parse func([]byte) (R, error), final func(error) bool) (R, error) {
	var zero R
	var d net.Dialer
	if local.IsValid() {
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := d.DialContext(ctx, "udp4", gateway.String())
	if err != nil {
		return zero, errfmt.Errorf("%s: %w", proto, err)
	}
	defer conn.Close()
	wait := first
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	buf := make([]byte, bufSize)
	var lastErr error
	for {
		if _, err := conn.Write(req); err != nil {
			return zero, errfmt.Errorf("%s: %w", proto, err)
		}
		deadline := time.Now().Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = conn.SetReadDeadline(deadline)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				// An ICMP port unreachable: nothing listens for the protocol there.
				return zero, errfmt.Errorf("%s: %w", proto, err)
			}
			r, err := parse(buf[:n])
			if err == nil || final(err) {
				return r, err
			}
			lastErr = err
		}
		if ctx.Err() != nil {
			if lastErr != nil {
				return zero, errfmt.Errorf("%s: no valid answer (%v): %w", proto, lastErr, ctx.Err())
			}
			return zero, errfmt.Errorf("%s: no answer from %s: %w", proto, conn.RemoteAddr(), ctx.Err())
		}
		wait = min(2*wait, 4*time.Second)
	}
}
