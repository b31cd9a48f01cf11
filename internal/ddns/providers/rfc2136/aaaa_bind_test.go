package rfc2136_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// lookupAAAA returns the AAAA records of name as the server gives them.
func (b *dnsServer) lookupAAAA(t *testing.T, name string) []string {
	t.Helper()
	r, err := b.query(dns.Fqdn(name), dns.TypeAAAA)
	if err != nil {
		if r != nil && r.Rcode == dns.RcodeNameError {
			return nil
		}
		t.Fatalf("query %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if aaaa, ok := rr.(*dns.AAAA); ok && strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) {
			out = append(out, aaaa.AAAA.String())
		}
	}
	return out
}

// TestAAAAAgainstBIND: with family both, the A and the AAAA record each follow their own address, each
// update is sent exactly once per change (the zone's serial moves once, and not at all for a repeat), each
// family keeps its own state file, and an AAAA change leaves the A record alone.
func TestAAAAAgainstBIND(t *testing.T) {
	b := startBIND(t)
	logger, _ := ddnstest.NewLogger(t)
	entry := b.entry(t, b.secret)
	entry.Family = "both"
	dir := t.TempDir()
	e, err := ddns.New([]provider.Entry{entry}, dir, ddnstest.UserAgent, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	ddnstest.RunEngine(t, e)
	a4 := netip.MustParseAddr("203.0.113.20")
	e.SetAddress(a4)
	poll.Wait(t, "A record", func() bool { got := b.lookupA(t, "home.example.net"); return len(got) == 1 && got[0] == a4.String() })

	for i, s := range []string{"2001:db8:ffff::10", "2001:db8:ffff::11"} {
		a6 := netip.MustParseAddr(s)
		before := b.serial(t)
		e.SetAddress6(a6)
		poll.Wait(t, "AAAA "+s, func() bool { got := b.lookupAAAA(t, "home.example.net"); return len(got) == 1 && got[0] == s })
		poll.Wait(t, "AAAA success recorded", func() bool { return e.Status()[1].LastAddress == s })
		if got := b.serial(t); got != before+1 {
			t.Errorf("change %d: serial went from %d to %d, want exactly one update", i, before, got)
		}
		// The same address again sends nothing.
		e.SetAddress6(netip.Addr{})
		e.SetAddress6(a6)
		if err := e.Update(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := b.serial(t); got != before+1 {
			t.Errorf("change %d: a repeat moved the serial to %d", i, got)
		}
		if got := b.lookupA(t, "home.example.net"); len(got) != 1 || got[0] != a4.String() {
			t.Errorf("the AAAA update changed the A record: %v", got)
		}
	}
	st := e.Status()
	if len(st) != 2 || st[0].Family != "" || st[1].Family != "ipv6" || st[0].StateFile == st[1].StateFile ||
		st[0].LastAddress != a4.String() || st[1].LastAddress != "2001:db8:ffff::11" {
		t.Errorf("status = %+v", st)
	}
	// Withholding (CGNAT, DS-Lite) stops the A record only: under DS-Lite IPv6 is the way in.
	e.Withhold("ds-lite")
	if st := e.Status(); st[0].Withheld == "" || st[1].Withheld != "" {
		t.Errorf("withheld: A %q, AAAA %q", st[0].Withheld, st[1].Withheld)
	}

	// A restart remembers both: nothing is sent again.
	serial := b.serial(t)
	e2, err := ddns.New([]provider.Entry{entry}, dir, ddnstest.UserAgent, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	e2.SetAddress(a4)
	e2.SetAddress6(netip.MustParseAddr("2001:db8:ffff::11"))
	if err := e2.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.serial(t); got != serial {
		t.Errorf("a restart sent again: serial %d -> %d", serial, got)
	}
}

// Negative control: an entry of family ipv4 never touches the AAAA record.
func TestFamilyIPv4SendsNoAAAA(t *testing.T) {
	b := startBIND(t)
	logger, _ := ddnstest.NewLogger(t)
	e, err := ddns.New([]provider.Entry{b.entry(t, b.secret)}, t.TempDir(), ddnstest.UserAgent, logger, b.options()...)
	if err != nil {
		t.Fatal(err)
	}
	e.SetAddress(netip.MustParseAddr("203.0.113.20"))
	e.SetAddress6(netip.MustParseAddr("2001:db8:ffff::10"))
	if err := e.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.lookupAAAA(t, "home.example.net"); len(got) != 0 {
		t.Errorf("family ipv4 published AAAA %v", got)
	}
	if len(e.Status()) != 1 {
		t.Errorf("status = %+v", e.Status())
	}
}
