package udprt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var errResult = errors.New("result code: refused")

// parse accepts "ok:..." and reports "no:..." as the gateway's own refusal; anything else is noise.
func parse(b []byte) (string, error) {
	switch s := string(b); {
	case strings.HasPrefix(s, "ok:"):
		return s, nil
	case strings.HasPrefix(s, "no:"):
		return s, errResult
	default:
		return "", errors.New("not an answer")
	}
}

func final(err error) bool { return errors.Is(err, errResult) }

// gateway answers on loopback: it ignores the first request (a lost datagram), then sends noise and the
// answer to every later one.
func gateway(t *testing.T, answer string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for n := 0; ; n++ {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n == 0 {
				continue
			}
			_, _ = pc.WriteTo([]byte("garbage"), from)
			_, _ = pc.WriteTo([]byte(answer), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name, answer string
		want         string
		wantErr      error
	}{
		{"answer after a lost request and noise", "ok:mapped", "ok:mapped", nil},
		{"the gateway's refusal is an answer", "no:refused", "no:refused", errResult},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := RoundTrip(ctx, "TEST", gateway(t, tt.answer), netip.Addr{}, []byte("req"), 10*time.Millisecond, 64, parse, final)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("RoundTrip = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRoundTripGivesUpWithTheContext(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() { // a gateway that only ever sends noise
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte("garbage"), from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = RoundTrip(ctx, "TEST", pc.LocalAddr().(*net.UDPAddr).AddrPort(), netip.Addr{}, []byte("req"), 10*time.Millisecond, 64, parse, final)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "TEST: no valid answer (not an answer)") {
		t.Errorf("err = %v, want the context's deadline with the last parse error", err)
	}
}
