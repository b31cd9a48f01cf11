package ddns_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
	"github.com/hairpin-nat/hairpin/internal/poll"
)

// TestAddressChangeAbandonsUpdateInFlight: an update that hangs with the old address (as one whose connection
// is bound to a WAN address the router just lost does, until its timeout) is abandoned when the public address
// changes, and the new address goes out at once with no backoff. The negative control: while the address
// stays, the hanging update is left alone.
func TestAddressChangeAbandonsUpdateInFlight(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the server's own cleanup, which waits for its handlers
	s.Srv.Gate, s.Srv.Arrived = gate, make(chan struct{}, 4)
	e := s.Engine(t)
	runEngine(t, e)

	e.SetAddress(addrA)
	<-s.Srv.Arrived // the update with A hangs at the server
	e.SetAddress(addrA)
	e.NetworkChanged()
	if st := e.Status()[0]; st.LastAddress != "" || st.LastError != "" {
		t.Fatalf("the update in flight with the unchanged address was given up: %+v", st)
	}

	e.SetAddress(addrB)
	select {
	case <-s.Srv.Arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the new address waits behind the update still hanging with the old one")
	}
	release()
	poll.Wait(t, "the new address accepted", func() bool { return e.Status()[0].LastAddress == addrB.String() })
	if st := e.Status()[0]; !st.NextRetry.IsZero() || st.LastError != "" {
		t.Errorf("the abandoned update counted as a failure: %+v", st)
	}
	// The server answers the abandoned request too, once released; the engine has stopped listening.
	poll.Wait(t, "both requests handled", func() bool { return len(s.Srv.Requests()) == 2 })
	sent := map[string]int{}
	for _, r := range s.Srv.Requests() {
		sent[r.MyIP]++
	}
	if sent[addrA.String()] != 1 || sent[addrB.String()] != 1 {
		t.Errorf("requests %+v, want one with A and one with B", s.Srv.Requests())
	}
}
