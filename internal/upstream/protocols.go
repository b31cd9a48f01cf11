package upstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/upstream/natpmp"
	"github.com/hairpin-nat/hairpin/internal/upstream/pcp"
	"github.com/hairpin-nat/hairpin/internal/upstream/upnp"
)

// staleDeleter is a protocol that can delete, from the new WAN address, a mapping made for the old one.
type staleDeleter interface {
	deleteStale(ctx context.Context, w Want, old netip.Addr) error
}

// proto is one mapping protocol spoken with the gateway.
type proto interface {
	name() string
	// connect finds out whether the gateway speaks the protocol, and its epoch.
	connect(ctx context.Context) error
	external(ctx context.Context) (netip.Addr, error)
	// mapOne asks for w for lease; it returns the lease granted (0: permanent).
	mapOne(ctx context.Context, w Want, lease time.Duration) (time.Duration, error)
	unmapOne(ctx context.Context, w Want) error
	// restarted reports whether the gateway lost its state since the last answer (epoch, boot id, or a mapping
	// that is gone).
	restarted(ctx context.Context, held []Want) (bool, error)
}

// epoch follows a PCP/NAT-PMP server's epoch time (RFC 6887 §8.5): it must grow about as fast as ours.
type epoch struct {
	seen   bool
	server uint32
	at     time.Time
}

// update records an answer's epoch and reports whether the server restarted since the last one.
func (e *epoch) update(server uint32, now time.Time) bool {
	restarted := false
	if e.seen {
		elapsed := uint32(now.Sub(e.at) / time.Second)
		expect := e.server + elapsed
		restarted = server+2 < e.server || uint64(server)+2 < uint64(expect)*7/8
	}
	e.seen, e.server, e.at = true, server, now
	return restarted
}

type pcpProto struct {
	c     *pcp.Client
	key   []byte
	ep    epoch
	ext   netip.Addr
	clock func() time.Time
}

func (p *pcpProto) name() string { return "pcp" }

func (p *pcpProto) connect(ctx context.Context) error {
	r, err := p.c.Announce(ctx)
	if err != nil {
		return err
	}
	p.ep.update(r.Epoch, p.clock())
	return nil
}

func (p *pcpProto) nonce(w Want) [12]byte {
	m := hmac.New(sha256.New, p.key)
	fmt.Fprintf(m, "pcp %s %d %s", w.Protocol, w.Port, p.c.Local)
	return [12]byte(m.Sum(nil)[:12])
}

func protoNumber(s string) uint8 {
	if s == "udp" {
		return 17
	}
	return 6
}

func (p *pcpProto) mapOne(ctx context.Context, w Want, lease time.Duration) (time.Duration, error) {
	r, err := p.c.Map(ctx, pcp.Request{Nonce: p.nonce(w), Protocol: protoNumber(w.Protocol), Internal: w.Port, External: w.Port,
		Lifetime: uint32(lease / time.Second)})
	if err != nil {
		return 0, err
	}
	p.ep.update(r.Epoch, p.clock())
	p.ext = r.ExternalAddr
	if r.External != w.Port {
		// The box chose another port; hairpin's DNAT listens on the forward's own port only. Give it back.
		_, _ = p.c.Map(ctx, pcp.Request{Nonce: p.nonce(w), Protocol: protoNumber(w.Protocol), Internal: w.Port, External: w.Port})
		return 0, &pcp.ResultError{Code: pcp.CannotProvideExternal}
	}
	return time.Duration(r.Lifetime) * time.Second, nil
}

func (p *pcpProto) unmapOne(ctx context.Context, w Want) error {
	_, err := p.c.Map(ctx, pcp.Request{Nonce: p.nonce(w), Protocol: protoNumber(w.Protocol), Internal: w.Port, External: w.Port})
	return err
}

func (p *pcpProto) external(context.Context) (netip.Addr, error) { return p.ext, nil }

func (p *pcpProto) restarted(ctx context.Context, _ []Want) (bool, error) {
	r, err := p.c.Announce(ctx)
	if err != nil {
		return false, err
	}
	return p.ep.update(r.Epoch, p.clock()), nil
}

type natpmpProto struct {
	c     *natpmp.Client
	ep    epoch
	clock func() time.Time
}

func (p *natpmpProto) name() string { return "natpmp" }

func (p *natpmpProto) connect(ctx context.Context) error {
	r, err := p.c.External(ctx)
	if err != nil {
		return err
	}
	p.ep.update(r.Epoch, p.clock())
	return nil
}

func natpmpOp(s string) uint8 {
	if s == "udp" {
		return natpmp.OpUDP
	}
	return natpmp.OpTCP
}

func (p *natpmpProto) mapOne(ctx context.Context, w Want, lease time.Duration) (time.Duration, error) {
	r, err := p.c.Map(ctx, natpmpOp(w.Protocol), w.Port, w.Port, uint32(lease/time.Second))
	if err != nil {
		return 0, err
	}
	p.ep.update(r.Epoch, p.clock())
	if r.Mapped != w.Port {
		_, _ = p.c.Map(ctx, natpmpOp(w.Protocol), w.Port, 0, 0)
		return 0, errfmt.Errorf("NAT-PMP: the gateway offered external port %d instead of %d (taken by another device?)", r.Mapped, w.Port)
	}
	return time.Duration(r.Lifetime) * time.Second, nil
}

func (p *natpmpProto) unmapOne(ctx context.Context, w Want) error {
	_, err := p.c.Map(ctx, natpmpOp(w.Protocol), w.Port, 0, 0)
	return err
}

func (p *natpmpProto) external(ctx context.Context) (netip.Addr, error) {
	r, err := p.c.External(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	p.ep.update(r.Epoch, p.clock())
	return r.External, nil
}

func (p *natpmpProto) restarted(ctx context.Context, _ []Want) (bool, error) {
	r, err := p.c.External(ctx)
	if err != nil {
		return false, err
	}
	return p.ep.update(r.Epoch, p.clock()), nil
}

type upnpProto struct {
	c *upnp.Client
}

// Description marks hairpin's UPnP mappings; `hairpin down` deletes only those.
const descPrefix = "hairpin "

func (p *upnpProto) name() string { return "upnp" }

func (p *upnpProto) connect(ctx context.Context) error { return p.c.Connect(ctx) }

func (p *upnpProto) mapOne(ctx context.Context, w Want, lease time.Duration) (time.Duration, error) {
	granted, err := p.c.Map(ctx, strings.ToUpper(w.Protocol), w.Port, p.c.Local, descPrefix+w.Forward, uint32(lease/time.Second))
	return time.Duration(granted) * time.Second, err
}

func (p *upnpProto) unmapOne(ctx context.Context, w Want) error {
	has, err := p.c.Has(ctx, strings.ToUpper(w.Protocol), w.Port, p.c.Local, descPrefix)
	if err != nil || !has {
		return err // not ours (or gone): never delete another device's mapping
	}
	return p.c.Delete(ctx, strings.ToUpper(w.Protocol), w.Port)
}

func (p *upnpProto) external(ctx context.Context) (netip.Addr, error) { return p.c.External(ctx) }

// deleteStale deletes hairpin's mapping of w that points at old, the WAN address before a change; UPnP deletes
// by port, so the new address can (a box in secure mode refuses).
func (p *upnpProto) deleteStale(ctx context.Context, w Want, old netip.Addr) error {
	has, err := p.c.Has(ctx, strings.ToUpper(w.Protocol), w.Port, old, descPrefix)
	if err != nil || !has {
		return err
	}
	return p.c.Delete(ctx, strings.ToUpper(w.Protocol), w.Port)
}

func (p *upnpProto) restarted(ctx context.Context, held []Want) (bool, error) {
	if len(held) == 0 {
		return false, nil
	}
	has, err := p.c.Has(ctx, strings.ToUpper(held[0].Protocol), held[0].Port, p.c.Local, descPrefix)
	return err == nil && !has, err
}

// classifyErr sorts a protocol error: unsupported (try the next protocol), cgnat (carrier NAT), conflict.
func unsupported(err error) bool {
	var u interface{ Unsupported() bool }
	return errors.As(err, &u) && u.Unsupported()
}

func cgnatErr(err error) bool {
	var c interface{ CGNAT() bool }
	return errors.As(err, &c) && c.CGNAT()
}

func conflictErr(err error) bool {
	var c interface{ Conflict() bool }
	return errors.As(err, &c) && c.Conflict()
}
