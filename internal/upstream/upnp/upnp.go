package upnp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// MaxBody bounds a device description or SOAP answer. Real descriptions are a few KiB.
const MaxBody = 256 << 10

// Error codes of WANIPConnection (UPnP IGD v2 §2.4.16) that hairpin acts on.
const (
	CodeConflict            = 718 // ConflictInMappingEntry: the port is mapped to another client
	CodeOnlyPermanentLeases = 725 // OnlyPermanentLeasesSupported: retry with lease 0
	CodeNoSuchEntry         = 714
	CodeNotAuthorized       = 606
	CodeSamePortRequired    = 724
	CodeExternalPortWild    = 716
)

// FaultCode returns the UPnP errorCode of a SOAP fault, or 0.
func FaultCode(err error) int {
	var f *Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return 0
}

// Client maps ports on one gateway's IGD.
type Client struct {
	Gateway netip.Addr
	Local   netip.Addr
	// Service names the service found ("WANIPConnection:2", ...); set by Connect.
	Service string
	BootID  string
	c       *service
}

// HTTPClient returns a client that only ever connects to gateway, follows no redirect (web never does: a 3xx
// is an answer, and describe and call refuse anything but 200), reads at most 16 KiB of header (web's limit)
// and gives up after 5 seconds. Bodies are bounded by readBody.
func HTTPClient(local, gateway netip.Addr) *web.Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	if local.IsValid() {
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	return &web.Client{
		Timeout: 5 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || ap.Addr().Unmap() != gateway {
				return nil, errfmt.Errorf("refusing to connect to %s: only the gateway %s is asked", addr, gateway)
			}
			return dialer.DialContext(ctx, "tcp4", addr)
		},
		ResponseHeaderTimeout: 5 * time.Second,
		DisableKeepAlives:     true,
	}
}

// readBody reads an answer's body, at most MaxBody bytes of it.
func readBody(resp *web.Response) ([]byte, error) {
	if resp.ContentLength > MaxBody {
		return nil, errfmt.Errorf("the gateway's answer of %d bytes is too large", resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBody {
		return nil, errfmt.Errorf("the gateway's answer is larger than %d bytes", MaxBody)
	}
	return b, nil
}

// Connect discovers the gateway's IGD and picks its WAN connection service.
func (c *Client) Connect(ctx context.Context) error {
	found, err := Discover(ctx, c.Local, c.Gateway, 2*time.Second)
	if err != nil {
		return err
	}
	return c.ConnectURL(ctx, found.Location, found.BootID)
}

// ConnectURL reads the device description at loc (on the gateway) and picks its WAN connection service.
func (c *Client) ConnectURL(ctx context.Context, loc *url.URL, bootID string) error {
	if err := onGateway(loc, c.Gateway); err != nil {
		return errfmt.Errorf("UPnP description %s: %w", loc, err)
	}
	hc := HTTPClient(c.Local, c.Gateway)
	services, err := describe(ctx, hc, loc)
	if err != nil {
		return errfmt.Errorf("UPnP description: %w", err)
	}
	for _, name := range serviceTypes {
		for _, sv := range services {
			if sv.typ != serviceURN+name {
				continue
			}
			if sv.control.Scheme != "http" || onGateway(sv.control, c.Gateway) != nil {
				continue // a control URL away from the gateway is never called
			}
			sv.hc = hc
			c.c, c.Service, c.BootID = sv, name, bootID
			return nil
		}
	}
	return errors.New("the gateway's UPnP device has no WAN connection service on its own address")
}

// External asks for the gateway's external address.
func (c *Client) External(ctx context.Context) (netip.Addr, error) {
	out, err := c.c.call(ctx, "GetExternalIPAddress")
	if err != nil {
		return netip.Addr{}, errfmt.Errorf("UPnP GetExternalIPAddress: %w", err)
	}
	s := out.TextOf("NewExternalIPAddress")
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, errfmt.Errorf("UPnP GetExternalIPAddress answered %q, not an IPv4 address", truncate(s))
	}
	return a, nil
}

// Map adds (or refreshes) a mapping of port to internal:port; a 725 answer is retried with lease 0 (permanent)
// and the lease granted is returned.
func (c *Client) Map(ctx context.Context, proto string, port uint16, internal netip.Addr, desc string, lease uint32) (uint32, error) {
	add := func(lease uint32) error {
		_, err := c.c.call(ctx, "AddPortMapping", "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(port)),
			"NewProtocol", proto, "NewInternalPort", strconv.Itoa(int(port)), "NewInternalClient", internal.String(),
			"NewEnabled", "1", "NewPortMappingDescription", desc, "NewLeaseDuration", strconv.FormatUint(uint64(lease), 10))
		return err
	}
	err := add(lease)
	if err != nil && FaultCode(err) == CodeOnlyPermanentLeases && lease != 0 {
		lease = 0
		err = add(0)
	}
	if err != nil {
		return 0, errfmt.Errorf("UPnP AddPortMapping %s %d: %w", proto, port, err)
	}
	return lease, nil
}

// Delete removes a mapping; one that is gone already is not an error.
func (c *Client) Delete(ctx context.Context, proto string, port uint16) error {
	_, err := c.c.call(ctx, "DeletePortMapping", "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(port)), "NewProtocol", proto)
	if err != nil && FaultCode(err) != CodeNoSuchEntry {
		return errfmt.Errorf("UPnP DeletePortMapping %s %d: %w", proto, port, err)
	}
	return nil
}

// Has reports whether the gateway holds a mapping of port to internal whose description starts with
// descPrefix: hairpin's own (a restarted box forgets them; another device's is never touched).
func (c *Client) Has(ctx context.Context, proto string, port uint16, internal netip.Addr, descPrefix string) (bool, error) {
	out, err := c.c.call(ctx, "GetSpecificPortMappingEntry", "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(port)), "NewProtocol", proto)
	if FaultCode(err) == CodeNoSuchEntry {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return out.TextOf("NewInternalClient") == internal.String() && strings.HasPrefix(out.TextOf("NewPortMappingDescription"), descPrefix), nil
}

// Fault is a UPnP error answer in words.
type Fault struct {
	Code int
	Text string
}

func (f *Fault) Error() string {
	switch f.Code {
	case CodeConflict:
		return "718 ConflictInMappingEntry: the port is already mapped to another device on the box"
	case CodeNotAuthorized:
		return "606 Action not authorized: the box refuses mappings (its UPnP security settings)"
	case CodeSamePortRequired:
		return "724 SamePortValuesRequired"
	}
	return fmt.Sprintf("%d %s", f.Code, truncate(f.Text))
}

// Conflict reports a 718 answer.
func (f *Fault) Conflict() bool { return f.Code == CodeConflict }

// truncate keeps a box's text short and printable before it reaches logs and status.
func truncate(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}
