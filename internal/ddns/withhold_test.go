package ddns_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestWithholdStopsUpdatesUntilLifted: while withheld (CGNAT, DS-Lite) nothing is sent and status says why;
// lifting it sends the waiting address. The control is the same engine sending once the reason is gone.
func TestWithholdStopsUpdatesUntilLifted(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	e.Withhold("carrier-grade NAT")
	stop := runEngine(t, e)
	defer stop()
	e.SetAddress(addrA)
	err := e.Update(context.Background())
	if err == nil || !strings.Contains(err.Error(), "withheld: carrier-grade NAT") {
		t.Fatalf("update while withheld: %v", err)
	}
	if n := len(s.Srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent while withheld", n)
	}
	if st := e.Status()[0]; st.Withheld != "carrier-grade NAT" {
		t.Fatalf("status does not say why: %+v", st)
	}
	e.Withhold("")
	poll.Wait(t, "the waiting address is sent once lifted", func() bool { return len(s.Srv.Requests()) == 1 })
	if st := e.Status()[0]; st.Withheld != "" {
		t.Errorf("status still withheld: %+v", st)
	}
}

// TestPublishAlwaysIgnoresWithhold: a hostname with publish: always is updated even while withheld.
func TestPublishAlwaysIgnoresWithhold(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	s.Entry.PublishAlways = true
	e := s.Engine(t)
	e.Withhold("carrier-grade NAT")
	if err := force(t, e, addrA); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Srv.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if st := e.Status()[0]; st.Withheld != "" {
		t.Errorf("a publish: always hostname shows withheld: %+v", st)
	}
}
