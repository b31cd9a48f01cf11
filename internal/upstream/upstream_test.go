package upstream

import (
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// TestEpoch follows RFC 6887 §8.5: an epoch that keeps pace (or roughly so) is the same server; one that fell
// behind means the server restarted and lost its mappings.
func TestEpoch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		first     uint32
		after     time.Duration
		next      uint32
		restarted bool
	}{
		{"keeps pace", 500, 60 * time.Second, 560, false},
		{"a little slow", 500, 60 * time.Second, 545, false},
		{"same second", 500, 0, 500, false},
		{"reset to zero", 500, 60 * time.Second, 3, true},
		{"went backwards", 500, time.Second, 400, true},
		{"far too slow", 100, 1000 * time.Second, 300, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e epoch
			if e.update(tt.first, t0) {
				t.Fatal("the first answer cannot be a restart")
			}
			if got := e.update(tt.next, t0.Add(tt.after)); got != tt.restarted {
				t.Fatalf("restarted = %v, want %v", got, tt.restarted)
			}
		})
	}
}

func TestWants(t *testing.T) {
	cfg := &config.Config{Forwards: []config.Forward{
		{Name: "cam", Protocol: config.Both, Port: config.PortRange{First: 8090, Last: 8090}},
		{Name: "web", Protocol: config.TCP, Port: config.PortRange{First: 8000, Last: 8001}},
	}}
	w, dropped := Wants(cfg)
	want := []Want{{"cam", "tcp", 8090}, {"cam", "udp", 8090}, {"web", "tcp", 8000}, {"web", "tcp", 8001}}
	if dropped != 0 || len(w) != len(want) {
		t.Fatalf("%v %d", w, dropped)
	}
	for i := range want {
		if w[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, w[i], want[i])
		}
	}
	big := &config.Config{Forwards: []config.Forward{{Name: "range", Protocol: config.TCP, Port: config.PortRange{First: 10000, Last: 10999}}}}
	if w, dropped := Wants(big); len(w) != MaxMappings || dropped != 1000-MaxMappings {
		t.Errorf("a 1000-port range: %d mappings, %d dropped", len(w), dropped)
	}
}

func TestKeyPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := loadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadKey(dir)
	if err != nil || string(a) != string(b) || len(a) != 32 {
		t.Fatalf("the nonce key changed between runs: %v", err)
	}
}
