// Package natpmp is a NAT-PMP (RFC 6886) client. It is written by hand rather than with
// github.com/jackpal/go-nat-pmp, which fits badly here: it reports result codes only as error text (hairpin must
// tell "out of resources", a sign of carrier NAT, from a refusal), takes no context (a stopping daemon would wait
// up to 128 s), and reads answers into a 16-byte buffer, so an over-long datagram is silently cut to a
// valid-looking one. The protocol is four fixed-size messages.
//
// What an answer is trusted on. NAT-PMP has no nonce (PCP's MAP has one, checked before its result code), so an
// answer is believed when all of these hold, and nothing else proves it:
//   - it comes from the gateway's address and port 5351: the socket is connected, so the kernel drops
//     datagrams from anywhere else (a forger must spoof the gateway's address);
//   - it reaches the request's own source port, a fresh ephemeral port per request that only the path between
//     the router and the gateway sees;
//   - it arrives while that request waits (at most the caller's deadline), and a mapping it grants names the
//     request's internal port.
//
// That stops anyone off the path who cannot guess the port within the wait; someone on the link between the
// router and the gateway can answer anything, which is why mappings only ever point at this router and
// `wan.upstream` is off until turned on. A forged error code (out of resources reads as carrier NAT) holds until
// the next request, which the daemon sends at the next renewal or retry; the router's own rules never depend on
// it.
package natpmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/upstream/udprt"
)

// Port is the NAT-PMP server port.
const Port = 5351

// Result codes (RFC 6886 §3.5).
const (
	Success        = 0
	UnsuppVersion  = 1
	NotAuthorized  = 2
	NetworkFailure = 3
	OutOfResources = 4
	UnsuppOpcode   = 5
)

var resultText = map[uint16]string{
	UnsuppVersion:  "unsupported version",
	NotAuthorized:  "not authorized or refused: NAT-PMP is switched off on the gateway",
	NetworkFailure: "network failure: the gateway has no working external address",
	OutOfResources: "out of resources: the gateway cannot create mappings",
	UnsuppOpcode:   "unsupported opcode",
}

// ResultError is an answer with a result code other than success.
type ResultError struct{ Code uint16 }

func (e *ResultError) Error() string {
	if t, ok := resultText[e.Code]; ok {
		return "NAT-PMP " + t
	}
	return fmt.Sprintf("NAT-PMP result code %d", e.Code)
}

// CGNAT reports whether the code says nothing can be mapped from outside.
func (e *ResultError) CGNAT() bool { return e.Code == OutOfResources }

// Unsupported reports whether the server does not speak NAT-PMP.
func (e *ResultError) Unsupported() bool { return e.Code == UnsuppVersion || e.Code == UnsuppOpcode }

// Protocol opcodes.
const (
	OpExternal = 0
	OpUDP      = 1
	OpTCP      = 2
)

// Response is a NAT-PMP answer; External is set for OpExternal, the ports and Lifetime for mappings.
type Response struct {
	Op       uint8
	Result   uint16
	Epoch    uint32
	External netip.Addr
	Internal uint16
	Mapped   uint16
	Lifetime uint32
}

// MarshalMap encodes a mapping request; lifetime 0 (with external 0) deletes.
func MarshalMap(op uint8, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[1] = op
	binary.BigEndian.PutUint16(b[4:6], internal)
	binary.BigEndian.PutUint16(b[6:8], external)
	binary.BigEndian.PutUint32(b[8:12], lifetime)
	return b
}

// ParseResponse decodes an answer to a request with opcode op: exactly 12 bytes for the external address, 16
// for a mapping; an error answer may be as short as the result code.
func ParseResponse(b []byte, op uint8) (Response, error) {
	var r Response
	if len(b) < 4 {
		return r, errfmt.Errorf("NAT-PMP answer of %d bytes is too short", len(b))
	}
	if b[0] != 0 {
		if b[0] == 2 {
			return r, errors.New("the gateway answered with PCP, not NAT-PMP")
		}
		return r, errfmt.Errorf("NAT-PMP answer has version %d", b[0])
	}
	if b[1] != 0x80|op {
		return r, errfmt.Errorf("NAT-PMP answer has opcode %d, want %d", b[1], 0x80|op)
	}
	r.Op = op
	r.Result = binary.BigEndian.Uint16(b[2:4])
	if r.Result != Success {
		return r, &ResultError{Code: r.Result}
	}
	want := 16
	if op == OpExternal {
		want = 12
	}
	if len(b) != want {
		return r, errfmt.Errorf("NAT-PMP answer of %d bytes, want %d", len(b), want)
	}
	r.Epoch = binary.BigEndian.Uint32(b[4:8])
	if op == OpExternal {
		r.External = netip.AddrFrom4([4]byte(b[8:12]))
		return r, nil
	}
	r.Internal = binary.BigEndian.Uint16(b[8:10])
	r.Mapped = binary.BigEndian.Uint16(b[10:12])
	r.Lifetime = binary.BigEndian.Uint32(b[12:16])
	return r, nil
}

// Client talks NAT-PMP to one gateway from one local address.
type Client struct {
	Gateway   netip.Addr
	Local     netip.Addr
	FirstWait time.Duration // first retransmission timeout (RFC 6886: 250 ms)
}

// External asks for the gateway's external address.
func (c *Client) External(ctx context.Context) (Response, error) {
	return c.roundTrip(ctx, []byte{0, OpExternal}, OpExternal)
}

// Map asks for (lifetime 0: deletes) a mapping of internal port to external port.
func (c *Client) Map(ctx context.Context, op uint8, internal, external uint16, lifetime uint32) (Response, error) {
	if op != OpUDP && op != OpTCP {
		return Response{}, errfmt.Errorf("NAT-PMP opcode %d is not a mapping", op)
	}
	r, err := c.roundTrip(ctx, MarshalMap(op, internal, external, lifetime), op)
	if err != nil {
		return r, err
	}
	if r.Internal != internal {
		return r, errfmt.Errorf("NAT-PMP answer is for internal port %d, not %d", r.Internal, internal)
	}
	if lifetime > 0 && (r.Mapped == 0 || r.Lifetime == 0) {
		return r, errors.New("NAT-PMP answer grants no mapping")
	}
	return r, nil
}

func (c *Client) roundTrip(ctx context.Context, req []byte, op uint8) (Response, error) {
	// 1100 bytes: room to see that an answer is too long.
	return udprt.RoundTrip(ctx, "NAT-PMP", netip.AddrPortFrom(c.Gateway, Port), c.Local, req, c.FirstWait, 1100,
		func(b []byte) (Response, error) { return ParseResponse(b, op) },
		func(err error) bool { var re *ResultError; return errors.As(err, &re) })
}
