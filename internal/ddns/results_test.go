package ddns_test

import (
	"sync"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/ddns/ddnstest"
)

// Each accepted update is heard by OnResult (the daemon's dns_updated), and the addresses a hostname moved
// through survive a restart in its state file (the status page's history); sending the same address again
// adds nothing.
func TestResultsAndHistory(t *testing.T) {
	s := ddnstest.NewDyndns2Setup(t)
	e := s.Engine(t)
	var mu sync.Mutex
	var heard []ddns.Result
	e.OnResult(func(r ddns.Result) { mu.Lock(); heard = append(heard, r); mu.Unlock() })
	for _, a := range []string{"A", "A", "B"} {
		addr := addrA
		if a == "B" {
			addr = addrB
		}
		if err := force(t, e, addr); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(heard) != 3 || !heard[2].OK || heard[2].Address != addrB || heard[2].Hostname != s.Entry.Hostname {
		t.Errorf("heard %+v", heard)
	}
	mu.Unlock()
	again := s.Engine(t) // a restart reads the state files
	h := again.Status()[0].History
	if len(h) != 2 || h[0].Address != addrA || h[1].Address != addrB || h[1].Time.Before(h[0].Time) {
		t.Errorf("history after a restart: %+v", h)
	}
}
