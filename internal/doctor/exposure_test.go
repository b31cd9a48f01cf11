package doctor

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func TestExposure(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`wan: {interface: eth0}
lan: {interface: br-lan}
forwards:
  - {name: open-cam, port: 8090, to: "192.168.88.180:80"}
  - {name: frigate, port: 5000, to: "192.168.88.181:5000"}
  - {name: kept-cam, port: 8091, to: "192.168.88.182:80", allow: [198.51.100.0/24]}
  - {name: game, port: 27015, to: "192.168.88.50"}
  - {name: range, port: "9001-9003", to: "192.168.88.183:442-444"}
`))
	if err != nil {
		t.Fatal(err)
	}
	fs := Exposure(cfg)
	if len(fs) != 1 || fs[0].Level != Warn || fs[0].Fix == "" {
		t.Fatalf("want one warning with a fix for all the open camera ports, got %+v", fs)
	}
	what := fs[0].What
	for _, want := range []string{"3 forwards", "open-cam (8090", "frigate (5000", "range (9001-9003 to 192.168.88.183:443, HTTPS"} {
		if !strings.Contains(what, want) {
			t.Errorf("finding lacks %q: %s", want, what)
		}
	}
	for _, not := range []string{"kept-cam", "game"} {
		if strings.Contains(what, not) {
			t.Errorf("finding names %s (allowlisted, or not a camera port): %s", not, what)
		}
	}
	one, _ := config.Parse("t.yaml", []byte("wan: {interface: eth0}\nlan: {interface: br-lan}\nforwards: [{name: cam, port: 8090, to: '192.168.88.180:80'}]\n"))
	if fs := Exposure(one); len(fs) != 1 || !strings.HasPrefix(fs[0].What, "forward cam (8090") {
		t.Errorf("one open forward: %+v", fs)
	}
}
