package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
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
