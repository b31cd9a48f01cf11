package pcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func answer(req []byte, result uint8, lifetime, epoch uint32, ext netip.Addr, extPort uint16) []byte {
	b := make([]byte, len(req))
	copy(b, req)
	b[1] |= 0x80
	b[3] = result
	binary.BigEndian.PutUint32(b[4:8], lifetime)
	binary.BigEndian.PutUint32(b[8:12], epoch)
	clear(b[12:24])
	if len(b) >= 60 {
		binary.BigEndian.PutUint16(b[42:44], extPort)
		a := ext.As16()
		copy(b[44:60], a[:])
	}
	return b
}

func TestMarshalMapLayout(t *testing.T) {
	r := Request{Nonce: [12]byte{1, 2, 3}, Protocol: 6, Internal: 8090, External: 8090, Lifetime: 7200, Client: netip.MustParseAddr("192.168.1.2")}
	b := MarshalMap(r)
	if len(b) != 60 || b[0] != 2 || b[1] != 1 || binary.BigEndian.Uint32(b[4:8]) != 7200 {
		t.Fatalf("header % x", b[:24])
	}
	if !bytes.Equal(b[8:24], netip.MustParseAddr("::ffff:192.168.1.2").AsSlice()) {
		t.Errorf("client address % x", b[8:24])
	}
	if !bytes.Equal(b[44:60], netip.MustParseAddr("::ffff:0.0.0.0").AsSlice()) {
		t.Errorf("suggested external address must be the IPv4 any address: % x", b[44:60])
	}
	if b[36] != 6 || binary.BigEndian.Uint16(b[40:42]) != 8090 || binary.BigEndian.Uint16(b[42:44]) != 8090 {
		t.Errorf("opcode body % x", b[24:60])
	}
}

func TestParseResponse(t *testing.T) {
	req := MarshalMap(Request{Nonce: [12]byte{9}, Protocol: 6, Internal: 80, External: 80, Lifetime: 60, Client: netip.MustParseAddr("192.168.1.2")})
	ext := netip.MustParseAddr("11.12.13.2")
	ok := answer(req, Success, 60, 1234, ext, 80)
	r, err := ParseResponse(ok, opMap)
	if err != nil || r.Lifetime != 60 || r.Epoch != 1234 || r.ExternalAddr != ext || r.External != 80 || r.Nonce != [12]byte{9} {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseResponse(append(ok, 0, 0, 0, 0), opMap); err != nil {
		t.Errorf("an answer with an option after it: %v", err)
	}
	tests := []struct {
		name  string
		b     []byte
		cgnat bool
		code  int // -1: not a ResultError
	}{
		{"empty", nil, false, -1},
		{"short", ok[:3], false, -1},
		{"not a multiple of 4", ok[:59], false, -1},
		{"too long", make([]byte, 1104), false, -1},
		{"version 1", append([]byte{1}, ok[1:]...), false, -1},
		{"nat-pmp server", append([]byte{0}, ok[1:]...), false, UnsuppVersion},
		{"request echoed", req, false, -1},
		{"wrong opcode", append([]byte{2, 0x80}, ok[2:]...), false, -1},
		{"map body missing", ok[:24], false, -1},
		{"no resources", answer(req, NoResources, 30, 1, ext, 0), true, NoResources},
		{"address mismatch", answer(req, AddressMismatch, 30, 1, ext, 0), true, AddressMismatch},
		{"not authorized", answer(req, NotAuthorized, 30, 1, ext, 0), false, NotAuthorized},
		{"error without the nonce", answer(req, NotAuthorized, 0, 0, ext, 0)[:24], false, -1},
		{"unsupported version, short", append([]byte{2, 0x81, 0, UnsuppVersion}, make([]byte, 20)...), false, UnsuppVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResponse(tt.b, opMap)
			if err == nil {
				t.Fatal("accepted")
			}
			var re *ResultError
			if tt.code < 0 {
				if errors.As(err, &re) {
					t.Fatalf("a malformed answer reads as result code %d", re.Code)
				}
				return
			}
			if !errors.As(err, &re) || int(re.Code) != tt.code || re.CGNAT() != tt.cgnat {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// FuzzParseResponse: any datagram parses or fails without panicking, and what parses is a well-formed answer.
func FuzzParseResponse(f *testing.F) {
	req := MarshalMap(Request{Nonce: [12]byte{9}, Protocol: 17, Internal: 53, External: 53, Lifetime: 60, Client: netip.MustParseAddr("10.0.0.2")})
	f.Add(answer(req, Success, 60, 5, netip.MustParseAddr("11.12.13.2"), 53), uint8(1))
	f.Add(answer(MarshalAnnounce(netip.MustParseAddr("10.0.0.2")), Success, 0, 5, netip.Addr{}, 0), uint8(0))
	f.Add([]byte{2, 0x81, 0, 8}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, op uint8) {
		op &= 1
		r, err := ParseResponse(b, op)
		if err != nil {
			return
		}
		if len(b) < headerLen || len(b) > MaxMessage || b[0] != version || b[1] != 0x80|op || r.Result != Success {
			t.Fatalf("accepted a malformed answer (%d bytes): % x", len(b), b)
		}
		if op == opMap && len(b) < headerLen+mapLen {
			t.Fatalf("accepted a MAP answer without its body")
		}
	})
}

// TestMapDropsForgedErrors: a gateway on loopback first "answers" with result codes that carry another nonce,
// or another port, or no body at all (what an off-path forger who knows the ports sends), then with the real
// answer. Map must drop the forgeries and return the real mapping; the control is the same error code with the
// request's nonce, which Map returns as the gateway's answer.
func TestMapDropsForgedErrors(t *testing.T) {
	ext := netip.MustParseAddr("203.0.113.7")
	forged := func(req []byte) [][]byte {
		otherNonce := answer(req, AddressMismatch, 30, 1, ext, 0)
		otherNonce[24] ^= 0xff
		otherPort := answer(req, NoResources, 30, 1, ext, 0)
		otherPort[41]++
		return [][]byte{otherNonce, otherPort, answer(req, AddressMismatch, 30, 1, ext, 0)[:24]}
	}
	tests := []struct {
		name    string
		answers func(req []byte) [][]byte
		code    int // -1: the mapping is granted
	}{
		{"forged errors, then the answer", func(req []byte) [][]byte {
			return append(forged(req), answer(req, Success, 60, 1, ext, 8080))
		}, -1},
		{"control: the gateway's own error", func(req []byte) [][]byte {
			return [][]byte{answer(req, AddressMismatch, 30, 1, ext, 0)}
		}, AddressMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			go func() {
				buf := make([]byte, 1500)
				n, from, err := conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				for _, a := range tt.answers(buf[:n]) {
					_, _ = conn.WriteToUDP(a, from)
				}
			}()
			c := &Client{Gateway: netip.MustParseAddr("127.0.0.1"), Local: netip.MustParseAddr("127.0.0.1"), FirstWait: 2 * time.Second,
				port: uint16(conn.LocalAddr().(*net.UDPAddr).Port)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := c.Map(ctx, Request{Nonce: NewNonce(), Protocol: 6, Internal: 8080, External: 8080, Lifetime: 60})
			var re *ResultError
			if tt.code < 0 {
				if err != nil || r.External != 8080 || r.ExternalAddr != ext {
					t.Fatalf("%+v, %v: a forged answer was taken for the gateway's", r, err)
				}
				return
			}
			if !errors.As(err, &re) || int(re.Code) != tt.code {
				t.Fatalf("err = %v, want result code %d", err, tt.code)
			}
		})
	}
}
