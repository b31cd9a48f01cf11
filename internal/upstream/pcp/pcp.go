// Package pcp is a Port Control Protocol (RFC 6887) client for MAP requests to the upstream gateway. The
// messages are small and fixed-size, so they are written by hand; every answer is checked field by field
// against the request, because the box is not trusted.
package pcp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/upstream/udprt"
)

// Port is the PCP (and NAT-PMP) server port.
const Port = 5351

// Opcodes and sizes (RFC 6887 §7, §11).
const (
	opAnnounce = 0
	opMap      = 1
	version    = 2
	headerLen  = 24
	mapLen     = 36
	// MaxMessage is the largest PCP message (RFC 6887 §7); anything longer is not PCP.
	MaxMessage = 1100
)

// Result codes (RFC 6887 §7.4).
const (
	Success               = 0
	UnsuppVersion         = 1
	NotAuthorized         = 2
	MalformedRequest      = 3
	UnsuppOpcode          = 4
	UnsuppOption          = 5
	MalformedOption       = 6
	NetworkFailure        = 7
	NoResources           = 8
	UnsuppProtocol        = 9
	UserExQuota           = 10
	CannotProvideExternal = 11
	AddressMismatch       = 12
	ExcessiveRemotePeers  = 13
)

var resultText = map[uint8]string{
	UnsuppVersion:         "UNSUPP_VERSION: the gateway does not speak PCP version 2",
	NotAuthorized:         "NOT_AUTHORIZED: the gateway refuses mappings (its PCP policy, or a mapping of another client)",
	MalformedRequest:      "MALFORMED_REQUEST",
	UnsuppOpcode:          "UNSUPP_OPCODE: the gateway does not do MAP",
	UnsuppOption:          "UNSUPP_OPTION",
	MalformedOption:       "MALFORMED_OPTION",
	NetworkFailure:        "NETWORK_FAILURE: the gateway has no working external address",
	NoResources:           "NO_RESOURCES: the gateway cannot create mappings from outside",
	UnsuppProtocol:        "UNSUPP_PROTOCOL",
	UserExQuota:           "USER_EX_QUOTA: the gateway's mapping quota for this router is used up",
	CannotProvideExternal: "CANNOT_PROVIDE_EXTERNAL: the gateway cannot give the requested external port",
	AddressMismatch:       "ADDRESS_MISMATCH: another NAT sits between this router and the PCP server",
	ExcessiveRemotePeers:  "EXCESSIVE_REMOTE_PEERS",
}

// ResultError is a PCP answer with a result code other than SUCCESS.
type ResultError struct {
	Code     uint8
	Lifetime uint32 // how long the error holds (RFC 6887 §7.2)
}

func (e *ResultError) Error() string {
	if t, ok := resultText[e.Code]; ok {
		return "PCP " + t
	}
	return fmt.Sprintf("PCP result code %d", e.Code)
}

// CGNAT reports whether the code means that nothing can map ports from outside: a carrier NAT answered, or
// the server is beyond another NAT.
func (e *ResultError) CGNAT() bool { return e.Code == NoResources || e.Code == AddressMismatch }

// Conflict reports whether the external port is taken (by another client).
func (e *ResultError) Conflict() bool { return e.Code == CannotProvideExternal }

// Unsupported reports whether the server does not speak PCP MAP at all (try another protocol).
func (e *ResultError) Unsupported() bool { return e.Code == UnsuppVersion || e.Code == UnsuppOpcode }

// Request is one MAP request.
type Request struct {
	Nonce    [12]byte
	Protocol uint8 // 6 TCP, 17 UDP
	Internal uint16
	External uint16 // suggested external port
	Lifetime uint32 // 0 deletes
	Client   netip.Addr
	// ExternalAddr is the suggested external address; zero means any.
	ExternalAddr netip.Addr
}

// Response is a MAP answer.
type Response struct {
	Result       uint8
	Lifetime     uint32
	Epoch        uint32
	Nonce        [12]byte
	Protocol     uint8
	Internal     uint16
	External     uint16
	ExternalAddr netip.Addr
}

func addr16(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return netip.IPv6Unspecified().As16() // "any": all zeros; for IPv4 RFC 6887 §11.1 uses ::ffff:0.0.0.0
	}
	return netip.AddrFrom16(a.As16()).As16()
}

// MarshalMap encodes a MAP request (60 bytes).
func MarshalMap(r Request) []byte {
	b := make([]byte, headerLen+mapLen)
	b[0], b[1] = version, opMap
	binary.BigEndian.PutUint32(b[4:8], r.Lifetime)
	c := addr16(r.Client)
	copy(b[8:24], c[:])
	copy(b[24:36], r.Nonce[:])
	b[36] = r.Protocol
	binary.BigEndian.PutUint16(b[40:42], r.Internal)
	binary.BigEndian.PutUint16(b[42:44], r.External)
	ext := addr16(r.ExternalAddr)
	if !r.ExternalAddr.IsValid() && r.Client.Is4() {
		ext = netip.AddrFrom4([4]byte{}).As16() // ::ffff:0.0.0.0, "any IPv4"
	}
	copy(b[44:60], ext[:])
	return b
}

// MarshalAnnounce encodes an ANNOUNCE request, which only asks for the server's epoch.
func MarshalAnnounce(client netip.Addr) []byte {
	b := make([]byte, headerLen)
	b[0], b[1] = version, opAnnounce
	c := addr16(client)
	copy(b[8:24], c[:])
	return b
}

// ParseResponse decodes an answer to a request with opcode op. It checks size, version, the response bit and
// the opcode; for MAP it needs the full opcode body, options after it are ignored.
func ParseResponse(b []byte, op uint8) (Response, error) {
	var r Response
	switch {
	case len(b) < 4:
		return r, errfmt.Errorf("PCP answer of %d bytes is too short", len(b))
	case len(b) > MaxMessage || len(b)%4 != 0:
		return r, errfmt.Errorf("PCP answer of %d bytes is not a PCP message", len(b))
	case b[0] == 0:
		// A NAT-PMP-only server answers a PCP request with version 0 (RFC 6887 §9).
		return r, &ResultError{Code: UnsuppVersion}
	case b[0] != version:
		return r, errfmt.Errorf("PCP answer has version %d", b[0])
	case b[1] != 0x80|op:
		return r, errfmt.Errorf("PCP answer has opcode %#x, want %#x", b[1], 0x80|op)
	}
	r.Result = b[3]
	if r.Result == UnsuppVersion && len(b) < headerLen+mapLen {
		// A server of another version cannot echo a body it does not understand (RFC 6887 §9). Believing it
		// costs only a fall back to NAT-PMP, which the same forger could answer anyway.
		return r, &ResultError{Code: r.Result}
	}
	if len(b) < headerLen {
		return r, errfmt.Errorf("PCP answer of %d bytes is too short", len(b))
	}
	r.Lifetime = binary.BigEndian.Uint32(b[4:8])
	r.Epoch = binary.BigEndian.Uint32(b[8:12])
	if op == opMap {
		// Error answers carry the request's opcode body too (RFC 6887 §7.2, §8.3), so every MAP answer has its
		// nonce: one without it is dropped like any datagram that is not the answer.
		if len(b) < headerLen+mapLen {
			return r, errfmt.Errorf("PCP MAP answer of %d bytes is too short to carry the request's nonce", len(b))
		}
		copy(r.Nonce[:], b[24:36])
		r.Protocol = b[36]
		r.Internal = binary.BigEndian.Uint16(b[40:42])
		r.External = binary.BigEndian.Uint16(b[42:44])
		r.ExternalAddr = netip.AddrFrom16([16]byte(b[44:60])).Unmap()
	}
	if r.Result != Success {
		return r, &ResultError{Code: r.Result, Lifetime: r.Lifetime}
	}
	return r, nil
}

// answers reports why resp is not the answer to r, nil when it is: the nonce proves that whoever sent it saw
// the request (RFC 6887 §11.2), the protocol and internal port that it is about this mapping. It is checked
// before the result code means anything: a forged ADDRESS_MISMATCH or NO_RESOURCES would otherwise turn the
// verdict to carrier NAT and let the mapping lapse.
func (r Request) answers(resp Response) error {
	switch {
	case resp.Nonce != r.Nonce:
		return errors.New("PCP answer carries another nonce")
	case resp.Protocol != r.Protocol || resp.Internal != r.Internal:
		return errfmt.Errorf("PCP answer is for protocol %d port %d, not %d port %d", resp.Protocol, resp.Internal, r.Protocol, r.Internal)
	}
	return nil
}

// Client talks PCP to one gateway from one local address.
type Client struct {
	Gateway netip.Addr
	Local   netip.Addr // the router's WAN address: the mapping's internal address
	// FirstWait is the first retransmission timeout (RFC 6887 §8.1.1 says 3s; the gateway is one hop away).
	FirstWait time.Duration
	port      uint16 // the server's port; 0 is Port (tests use another)
}

// NewNonce returns a random mapping nonce.
func NewNonce() [12]byte {
	var n [12]byte
	_, _ = rand.Read(n[:])
	return n
}

// Map asks for (or with lifetime 0 deletes) a mapping and checks that the answer is for this request.
func (c *Client) Map(ctx context.Context, r Request) (Response, error) {
	r.Client = c.Local
	resp, err := c.roundTrip(ctx, MarshalMap(r), opMap, func(resp Response) error { return r.answers(resp) })
	if err != nil {
		return resp, err
	}
	switch {
	case r.Lifetime > 0 && (resp.External == 0 || !resp.ExternalAddr.IsValid()):
		return resp, errors.New("PCP answer grants no external port")
	}
	return resp, nil
}

// Announce asks for the server's epoch (RFC 6887 §14.1).
func (c *Client) Announce(ctx context.Context) (Response, error) {
	return c.roundTrip(ctx, MarshalAnnounce(c.Local), opAnnounce, nil)
}

// roundTrip sends req until an answer comes that parses and, when match is given, is the answer to req; a
// datagram that is not (another nonce: a forger's, or a late answer to an earlier request) is dropped before its
// result code counts.
func (c *Client) roundTrip(ctx context.Context, req []byte, op uint8, match func(Response) error) (Response, error) {
	port := c.port
	if port == 0 {
		port = Port
	}
	return udprt.RoundTrip(ctx, "PCP", netip.AddrPortFrom(c.Gateway, port), c.Local, req, c.FirstWait, MaxMessage+4,
		func(b []byte) (Response, error) {
			r, err := ParseResponse(b, op)
			var re *ResultError
			if match == nil || (errors.As(err, &re) && re.Code == UnsuppVersion) || (err != nil && re == nil) {
				return r, err
			}
			if merr := match(r); merr != nil {
				return r, merr
			}
			return r, err
		},
		func(err error) bool { var re *ResultError; return errors.As(err, &re) })
}
