package rfc2136_test

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
)

// TestUnsignedRefusalsHoldAcrossRuns: a server that refuses every signed update with a bare, unsigned REFUSED
// (PowerDNS with a wrong secret) holds the hostname at the third refusal in a row even when each try is a new
// run (`hairpin ddns update`, a restart) on the same state: the row was counted in the provider, which each
// run builds anew, so it answered "1 of 3 in a row" forever. A success in between ends the row.
func TestUnsignedRefusalsHoldAcrossRuns(t *testing.T) {
	// The server's handler runs on its own goroutines while the test changes what it answers.
	var refuse atomic.Bool
	refuse.Store(true)
	server := refusingServer(t, func(req *dns.Msg) *dns.Msg {
		if !refuse.Load() {
			return nil // no answer: a failure of another kind
		}
		r := new(dns.Msg)
		r.SetRcode(req, dns.RcodeRefused)
		return r
	})
	secretFile := filepath.Join(t.TempDir(), "tsig.key")
	if err := os.WriteFile(secretFile, []byte("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MDA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := provider.Entry{Provider: "rfc2136", Hostname: "home.example.net", Settings: &rfc2136.Settings{Server: server, Zone: "example.net",
		TSIGKey: "hairpin-key", TSIGAlgorithm: "hmac-sha256", TSIGSecretFile: secretFile, TTL: 60}}
	dir := t.TempDir()
	run := func() error {
		e, err := ddns.New([]provider.Entry{entry}, dir, "hairpin-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return ddnstest.Force(t, e, netip.MustParseAddr("203.0.113.10"))
	}
	for i := 1; i < rfc2136.UnsignedRefusalsToHold; i++ {
		err := run()
		if provider.IsHold(err) || !strings.Contains(err.Error(), "in a row before updates are held") {
			t.Fatalf("run %d: %v, want a transient refusal that counts", i, err)
		}
		if want := " (" + string(rune('0'+i)) + " of 3 in a row"; !strings.Contains(err.Error(), want) {
			t.Errorf("run %d: %v, want %q", i, err, want)
		}
	}
	err := run()
	if !provider.IsHold(err) || !provider.IsAuth(err) || !strings.Contains(err.Error(), "refused 3 signed updates in a row") {
		t.Fatalf("run %d: %v, want an auth hold", rfc2136.UnsignedRefusalsToHold, err)
	}

	// Negative control: another outcome between refusals starts the row again, so two refusals, another
	// answer and two refusals never hold.
	dir = t.TempDir()
	for i, refusing := range []bool{true, true, false, true, true} {
		refuse.Store(refusing)
		if err := run(); provider.IsHold(err) {
			t.Fatalf("try %d: held with the row broken: %v", i+1, err)
		}
	}
}

// refusingServer answers DNS over UDP and TCP on loopback with answer and returns its address.
func refusingServer(t *testing.T, answer func(*dns.Msg) *dns.Msg) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if m := answer(req); m != nil {
			_ = w.WriteMsg(m)
		}
		_ = w.Close()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Updates are answered too: miekg/dns answers them NOTIMP by default.
	accept := func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	for _, s := range []*dns.Server{{Listener: ln, Handler: h, MsgAcceptFunc: accept}, {PacketConn: pc, Handler: h, MsgAcceptFunc: accept}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return addr
}
