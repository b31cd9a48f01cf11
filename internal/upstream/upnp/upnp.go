package upnp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
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
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		return f.Detail.UPnPError.Errorcode
	}
	return 0
}

// conn is the part of WANIPConnection (v1, v2) and WANPPPConnection hairpin uses.
type conn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (uint16, string, bool, string, uint32, error)
}

// Client maps ports on one gateway's IGD.
type Client struct {
	Gateway netip.Addr
	Local   netip.Addr
	// Service names the service found ("WANIPConnection:2", ...); set by Connect.
	Service string
	BootID  string
	c       conn
}

// HTTPClient returns a client that only ever connects to gateway, follows no redirect, reads at most MaxBody
// bytes of an answer and gives up after 5 seconds.
func HTTPClient(local, gateway netip.Addr) *http.Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second}
	if local.IsValid() {
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || ap.Addr().Unmap() != gateway {
				return nil, fmt.Errorf("refusing to connect to %s: only the gateway %s is asked", addr, gateway)
			}
			return dialer.DialContext(ctx, "tcp4", addr)
		},
		MaxResponseHeaderBytes: 16 << 10,
		ResponseHeaderTimeout:  5 * time.Second,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: limitBody{tr},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the gateway answered with a redirect; not followed")
		},
	}
}

type limitBody struct{ rt http.RoundTripper }

func (l limitBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > MaxBody {
		resp.Body.Close()
		return nil, fmt.Errorf("the gateway's answer of %d bytes is too large", resp.ContentLength)
	}
	resp.Body = &limitedReader{r: resp.Body, left: MaxBody}
	return resp, nil
}

type limitedReader struct {
	r    io.ReadCloser
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("the gateway's answer is larger than %d bytes", MaxBody)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedReader) Close() error { return l.r.Close() }

// goupnp fetches descriptions with a package-level client; hairpin talks to one gateway at a time.
var describeMu sync.Mutex

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
		return fmt.Errorf("UPnP description %s: %w", loc, err)
	}
	hc := HTTPClient(c.Local, c.Gateway)
	describeMu.Lock()
	prev := goupnp.HTTPClientDefault
	goupnp.HTTPClientDefault = hc
	root, err := goupnp.DeviceByURLCtx(ctx, loc)
	goupnp.HTTPClientDefault = prev
	describeMu.Unlock()
	if err != nil {
		return fmt.Errorf("UPnP description: %w", err)
	}
	type pick struct {
		name string
		find func() ([]goupnp.ServiceClient, []conn)
	}
	picks := []pick{
		{"WANIPConnection:2", func() ([]goupnp.ServiceClient, []conn) {
			cs, _ := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc)
			var sc []goupnp.ServiceClient
			var out []conn
			for _, x := range cs {
				sc, out = append(sc, x.ServiceClient), append(out, x)
			}
			return sc, out
		}},
		{"WANIPConnection:1", func() ([]goupnp.ServiceClient, []conn) {
			cs, _ := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc)
			var sc []goupnp.ServiceClient
			var out []conn
			for _, x := range cs {
				sc, out = append(sc, x.ServiceClient), append(out, x)
			}
			return sc, out
		}},
		{"WANPPPConnection:1", func() ([]goupnp.ServiceClient, []conn) {
			cs, _ := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc)
			var sc []goupnp.ServiceClient
			var out []conn
			for _, x := range cs {
				sc, out = append(sc, x.ServiceClient), append(out, x)
			}
			return sc, out
		}},
	}
	for _, p := range picks {
		scs, conns := p.find()
		for i, sc := range scs {
			ep := sc.SOAPClient.EndpointURL
			if ep.Scheme != "http" || onGateway(&ep, c.Gateway) != nil {
				continue // a control URL away from the gateway is never called
			}
			sc.SOAPClient.HTTPClient = *hc
			c.c, c.Service, c.BootID = conns[i], p.name, bootID
			return nil
		}
	}
	return errors.New("the gateway's UPnP device has no WAN connection service on its own address")
}

// External asks for the gateway's external address.
func (c *Client) External(ctx context.Context) (netip.Addr, error) {
	s, err := c.c.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("UPnP GetExternalIPAddress: %w", describe(err))
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("UPnP GetExternalIPAddress answered %q, not an IPv4 address", truncate(s))
	}
	return a, nil
}

// Map adds (or refreshes) a mapping of port to internal:port; a 725 answer is retried with lease 0 (permanent)
// and the lease granted is returned.
func (c *Client) Map(ctx context.Context, proto string, port uint16, internal netip.Addr, desc string, lease uint32) (uint32, error) {
	err := c.c.AddPortMappingCtx(ctx, "", port, proto, port, internal.String(), true, desc, lease)
	if err != nil && FaultCode(err) == CodeOnlyPermanentLeases && lease != 0 {
		lease = 0
		err = c.c.AddPortMappingCtx(ctx, "", port, proto, port, internal.String(), true, desc, 0)
	}
	if err != nil {
		return 0, fmt.Errorf("UPnP AddPortMapping %s %d: %w", proto, port, describe(err))
	}
	return lease, nil
}

// Delete removes a mapping; one that is gone already is not an error.
func (c *Client) Delete(ctx context.Context, proto string, port uint16) error {
	err := c.c.DeletePortMappingCtx(ctx, "", port, proto)
	if err != nil && FaultCode(err) != CodeNoSuchEntry {
		return fmt.Errorf("UPnP DeletePortMapping %s %d: %w", proto, port, describe(err))
	}
	return nil
}

// Has reports whether the gateway holds a mapping of port to internal whose description starts with
// descPrefix: hairpin's own (a restarted box forgets them; another device's is never touched).
func (c *Client) Has(ctx context.Context, proto string, port uint16, internal netip.Addr, descPrefix string) (bool, error) {
	_, client, _, desc, _, err := c.c.GetSpecificPortMappingEntryCtx(ctx, "", port, proto)
	if FaultCode(err) == CodeNoSuchEntry {
		return false, nil
	}
	if err != nil {
		return false, describe(err)
	}
	return client == internal.String() && strings.HasPrefix(desc, descPrefix), nil
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

func describe(err error) error {
	var sf *soap.SOAPFaultError
	if errors.As(err, &sf) && sf.Detail.UPnPError.Errorcode != 0 {
		return &Fault{Code: sf.Detail.UPnPError.Errorcode, Text: sf.Detail.UPnPError.ErrorDescription}
	}
	return err
}

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
