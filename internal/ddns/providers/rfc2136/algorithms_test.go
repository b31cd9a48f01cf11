package rfc2136_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/rfc2136"
)

// TestRFC2136Algorithms: with every tsig_algorithm the config accepts, Knot and PowerDNS accept the signed
// update and hairpin verifies their signed answers (an answer that did not verify would not be trusted). The
// negative control: a key used with another algorithm than the server's is refused and held, the record
// unchanged.
func TestRFC2136Algorithms(t *testing.T) {
	var algs []string
	for name := range rfc2136.Algorithms {
		algs = append(algs, name)
	}
	sort.Strings(algs)
	for _, srv := range servers {
		if srv.name == "BIND" {
			continue // its configuration is written by internal/lab/bind, with one hmac-sha256 key
		}
		t.Run(srv.name, func(t *testing.T) {
			b := srv.start(t, serverOpts{algorithms: algs})
			for i, alg := range algs {
				entry := b.entry(t, b.secret)
				entry.Hostname = fmt.Sprintf("alg%d.example.net", i)
				rfc(&entry).TSIGKey, rfc(&entry).TSIGAlgorithm = alg+"-key", alg
				e, lb := rfcEngine(t, b, entry)
				addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(50 + i)})
				if err := ddnstest.Force(t, e, addr); err != nil {
					t.Errorf("%s: %v", alg, err)
				} else if got := b.lookupA(t, entry.Hostname); !slices.Equal(got, []string{addr.String()}) {
					t.Errorf("%s: server holds %v, want %s", alg, got, addr)
				}
				ddnstest.AssertNoSecret(t, lb, e, b.secret)
			}

			entry := b.entry(t, b.secret)
			entry.Hostname = "refused.example.net"
			rfc(&entry).TSIGKey, rfc(&entry).TSIGAlgorithm = "hmac-sha1-key", "hmac-sha512"
			// PowerDNS answers a bare REFUSED, which holds at the third in a row, each a run of its own.
			dir := t.TempDir()
			var err error
			for range rfc2136.UnsignedRefusalsToHold {
				var e *ddns.Engine
				e, _ = rfcEngineIn(t, b, entry, dir)
				if err = ddnstest.Force(t, e, addrC); provider.IsHold(err) {
					break
				}
			}
			if !provider.IsHold(err) || !provider.IsAuth(err) {
				t.Fatalf("hmac-sha1 key used as hmac-sha512: err = %v; want an auth hold", err)
			}
			t.Logf("refused as wanted: %v", err)
			if got := b.lookupA(t, entry.Hostname); len(got) != 0 {
				t.Errorf("the record changed to %v", got)
			}
		})
	}
}
