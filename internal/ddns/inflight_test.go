package ddns_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
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

// TestAbandonedUpdateLeavesRecordInDoubt: an update abandoned when the address moves may already have reached
// the provider (its answer was what got lost). When the address moves back to the one the engine last had
// accepted, the engine cannot know which of the two the record holds, so it sends again rather than believe
// the record is still right. The control: once that update is accepted, a restart with the same address sends
// nothing.
func TestAbandonedUpdateLeavesRecordInDoubt(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	if err := force(t, s.Engine(t), addrA); err != nil {
		t.Fatal(err)
	}
	hold, applied := make(chan struct{}), make(chan struct{}, 4)
	var open sync.Once
	release := func() { open.Do(func() { close(hold) }) }
	t.Cleanup(release) // before the server's own cleanup, which waits for its handlers
	s.Srv.HoldAnswers(hold, applied)
	e := s.Engine(t)
	results := make(chan ddns.Result, 4)
	e.OnResult(func(r ddns.Result) { results <- r })
	stop := runEngine(t, e)

	e.SetAddress(addrB)
	<-applied // the server holds B; its answer has not come back
	e.SetAddress(addrA)
	poll.Wait(t, "the record back on A", func() bool { a, _ := s.Srv.Record(ddnstest.Dyndns2Host); return a == addrA.String() })
	release()
	select {
	case r := <-results:
		if r.Address != addrA || !r.OK {
			t.Fatalf("the update that put A back: %+v", r)
		}
	case <-time.After(poll.DefaultWithin):
		t.Fatal("the update that put A back was never answered")
	}
	stop()

	s.Srv.HoldAnswers(nil, nil)
	n := len(s.Srv.Requests())
	e2 := s.Engine(t)
	e2.SetAddress(addrA)
	if err := e2.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := force(t, e2, addrB); err != nil {
		t.Fatal(err)
	}
	reqs := s.Srv.Requests()
	if len(reqs) != n+1 || reqs[n].MyIP != addrB.String() {
		t.Errorf("after a restart with A, the server saw %+v after its first %d requests; want only the forced B", reqs[n:], n)
	}
}
