// Package upnp maps ports on an UPnP Internet Gateway Device (v2, then v1). Discovery (SSDP) is aimed at the
// one gateway hairpin was told about; the device description and the four SOAP actions hairpin uses
// (soap.go) go through an HTTP client that only ever connects to that gateway, follows no redirect, reads at
// most MaxBody bytes and gives up after a few seconds: the box is not trusted. Written here rather than with
// github.com/huin/goupnp, whose generated clients and reflection-driven XML cost the router build ~120 KB for
// four actions; the integration tests hold it to the real miniupnpd.
package upnp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// SSDP search targets, best first.
var searchTargets = []string{
	"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
}

var ssdpGroup = netip.MustParseAddrPort("239.255.255.250:1900")

// MaxDatagram bounds an SSDP answer.
const MaxDatagram = 2048

// Found is an SSDP answer worth following.
type Found struct {
	Location *url.URL
	ST       string
	BootID   string
}

// ParseSSDP reads one SSDP answer from gateway. It must be a 200 answer for an Internet Gateway Device whose
// LOCATION is plain http on the gateway's own address: a box that points elsewhere is not followed.
func ParseSSDP(b []byte, gateway netip.Addr) (Found, error) {
	var f Found
	if len(b) > MaxDatagram {
		return f, errfmt.Errorf("SSDP answer of %d bytes is too long", len(b))
	}
	resp, err := web.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return f, errfmt.Errorf("SSDP answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != web.StatusOK {
		return f, errfmt.Errorf("SSDP answer has status %d", resp.StatusCode)
	}
	f.ST = resp.Header.Get("ST")
	if !strings.Contains(f.ST, "InternetGatewayDevice") {
		return f, errfmt.Errorf("SSDP answer is for %q, not an Internet Gateway Device", f.ST)
	}
	f.BootID = resp.Header.Get("BOOTID.UPNP.ORG")
	loc := resp.Header.Get("LOCATION")
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" || u.User != nil {
		return f, errfmt.Errorf("SSDP LOCATION %q is not a plain http URL", loc)
	}
	if err := onGateway(u, gateway); err != nil {
		return f, errfmt.Errorf("SSDP LOCATION %q: %w", loc, err)
	}
	f.Location = u
	return f, nil
}

func onGateway(u *url.URL, gateway netip.Addr) error {
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil || host.Unmap() != gateway {
		return errfmt.Errorf("points away from the gateway %s", gateway)
	}
	return nil
}

// Discover sends M-SEARCH from local to the SSDP group and to the gateway itself, and returns the first
// acceptable answer that came from the gateway.
func Discover(ctx context.Context, local, gateway netip.Addr, wait time.Duration) (Found, error) {
	laddr := &net.UDPAddr{}
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		return Found{}, errfmt.Errorf("SSDP: %w", err)
	}
	defer conn.Close()
	for _, st := range searchTargets {
		msg := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n"
		for _, to := range []netip.AddrPort{netip.AddrPortFrom(gateway, 1900), ssdpGroup} {
			if _, err := conn.WriteToUDPAddrPort([]byte(msg), to); err != nil && to.Addr() == gateway {
				return Found{}, errfmt.Errorf("SSDP: %w", err)
			}
		}
	}
	deadline := time.Now().Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	buf := make([]byte, MaxDatagram+1)
	var best Found
	var lastErr error
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		if from.Addr().Unmap() != gateway {
			continue
		}
		f, err := ParseSSDP(buf[:n], gateway)
		if err != nil {
			lastErr = err
			continue
		}
		if strings.HasSuffix(f.ST, ":2") {
			return f, nil
		}
		if best.Location == nil {
			best = f
			// An IGD v1 answered; give a v2 answer a moment to arrive.
			if short := time.Now().Add(200 * time.Millisecond); short.Before(deadline) {
				_ = conn.SetReadDeadline(short)
			}
		}
	}
	if best.Location != nil {
		return best, nil
	}
	if lastErr != nil {
		return Found{}, lastErr
	}
	return Found{}, errors.New("no UPnP Internet Gateway Device answered on " + gateway.String())
}
