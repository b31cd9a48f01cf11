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
	var names []string
	for _, f := range fs {
		if f.Level != Warn || f.Fix == "" {
			t.Errorf("finding %+v must be a warning with a fix", f)
		}
		names = append(names, strings.Fields(f.What)[1])
	}
	if got := strings.Join(names, " "); got != "open-cam: frigate: range:" {
		t.Errorf("warned about %q, want the open camera ports only (not the allowlisted one, not the game server)", got)
	}
	if !strings.Contains(fs[2].What, "192.168.88.183:443 (HTTPS") {
		t.Errorf("a range names the camera port inside it: %s", fs[2].What)
	}
}
