package lab

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// The lab's config, plain and with every field a scenario sets, is a valid hairpin config.
func TestRouterConfigParses(t *testing.T) {
	topo := &Topology{WANIf: "wan0", LANIf: "lan0"}
	for i, name := range CameraNames {
		topo.Cameras = append(topo.Cameras, Camera{Name: name, Addr: netip.AddrFrom4([4]byte{192, 168, 88, byte(180 + i)}), Port: 8090 + i})
	}
	plain := topo.RouterConfig()
	full := plain
	full.DoubleNAT, full.PublicIP, full.Status, full.StateDir, full.Resync = "auto", []string{"http://203.0.113.1:8080/ip"}, "/run/x.sock", "/tmp/state", time.Second
	for name, c := range map[string]RouterConfig{"plain": plain, "full": full} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse("lab.yaml", []byte(c.YAML()))
			if err != nil {
				t.Fatalf("%v\n%s", err, c.YAML())
			}
			if len(cfg.Forwards) != 4 || cfg.Forwards[0].Protocol != config.Both || cfg.WAN.Interface != "wan0" {
				t.Errorf("parsed %+v", cfg)
			}
			if name == "full" && (cfg.Daemon.Status != "/run/x.sock" || cfg.WAN.DoubleNAT != config.DoubleNATAuto || len(cfg.WAN.PublicIP) != 1 || cfg.Daemon.Resync != time.Second) {
				t.Errorf("parsed %+v", cfg)
			}
		})
	}
}
