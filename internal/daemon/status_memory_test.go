package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
)

// TestWriteStatus: the status written one forward at a time is byte for byte what json.Encoder with
// SetIndent("", "  ") writes, for no forwards, one and many, with the fields after the forwards filled in and
// strings the encoder escapes.
func TestWriteStatus(t *testing.T) {
	at := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	many := make([]ForwardStatus, 300)
	for i := range many {
		many[i] = ForwardStatus{Name: fmt.Sprintf("fwd%d", i), Protocol: "tcp", Port: fmt.Sprint(10000 + i), To: "192.168.88.180:80",
			Packets: uint64(i), Allow: []string{"family"}, Limit: "10/minute"}
	}
	for _, tc := range []struct {
		name     string
		forwards []ForwardStatus
	}{
		{"none", nil},
		{"empty", []ForwardStatus{}},
		{"one", []ForwardStatus{{Name: "cam", Protocol: "tcp", Port: "8090", To: "192.168.88.180:80"}}},
		{"escaped", []ForwardStatus{{Name: "a<b>&\"forwards\": null", Protocol: "tcp\n", Port: "1", To: "\u2028"}}},
		{"many", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status{Version: "v1", Started: at, WANAddrs: []string{"203.0.113.2"}, Forwards: tc.forwards,
				DDNS:   []ddns.HostStatus{{}},
				Events: []Event{{Time: at, Message: "forwards\": null <started>"}}, Control: true}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeStatus(&got, st); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("writeStatus differs from json.Encoder:\ngot  %q\nwant %q", got.String(), want.String())
			}
		})
	}
}

// TestAfterQuiet: the memory goes back once, releaseAfter after the last status request, not while a page keeps
// asking every 3 s, and nothing is armed before the first request.
func TestAfterQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		q := afterQuiet{after: releaseAfter, fn: func() { runs.Add(1) }}
		time.Sleep(time.Minute)
		if ran := runs.Load(); ran != 0 {
			t.Fatalf("ran %d times before any request", ran)
		}
		for range 10 { // a page open for 30 s
			q.touch()
			time.Sleep(3 * time.Second)
			synctest.Wait()
			if runs.Load() != 0 {
				t.Fatalf("ran while the page still asked every 3 s")
			}
		}
		time.Sleep(releaseAfter)
		synctest.Wait()
		if ran := runs.Load(); ran != 1 {
			t.Fatalf("ran %d times %s after the last request; want once", ran, releaseAfter+3*time.Second)
		}
		q.touch() // `hairpin status` once, later
		time.Sleep(time.Hour)
		synctest.Wait()
		if ran := runs.Load(); ran != 2 {
			t.Fatalf("ran %d times after a second quiet spell; want 2", ran)
		}
		q.stop()
	})
}
