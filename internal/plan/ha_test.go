package plan

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func TestHAPair(t *testing.T) {
	vip := netip.MustParseAddr("192.168.88.1")
	own := Observed{WANExists: true, WANAddrs: addrs("203.0.113.2"), LANNets: nets("192.168.88.0/24"), LANAddrs: addrs("192.168.88.2")}
	held := own
	held.LANAddrs = addrs("192.168.88.1", "192.168.88.2")
	for _, tc := range []struct {
		name       string
		ha         *config.HA
		obs        Observed
		wantMaster bool
		wantSNAT   netip.Addr
		wantWAN    []netip.Addr
	}{
		{"a router on its own", nil, own, true, netip.Addr{}, addrs("203.0.113.2")},
		{"backup: the virtual address elsewhere", &config.HA{LANAddress: vip}, own, false, vip, addrs("203.0.113.2")},
		{"master: holds the virtual address", &config.HA{LANAddress: vip}, held, true, vip, addrs("203.0.113.2")},
		// A shared WAN address answers on both routers, so the backup's rules are ready before the address moves.
		{"backup with a WAN virtual address", &config.HA{LANAddress: vip, WANAddress: netip.MustParseAddr("203.0.113.10")}, own, false, vip, addrs("203.0.113.2", "203.0.113.10")},
		{"master holding the WAN virtual address", &config.HA{LANAddress: vip, WANAddress: netip.MustParseAddr("203.0.113.10")},
			Observed{WANExists: true, WANAddrs: addrs("203.0.113.10", "203.0.113.2"), LANAddrs: addrs("192.168.88.1")}, true, vip, addrs("203.0.113.2", "203.0.113.10")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cameras()
			cfg.HA = tc.ha
			if got := Master(cfg, tc.obs); got != tc.wantMaster {
				t.Errorf("Master = %v, want %v", got, tc.wantMaster)
			}
			d, _ := Build(cfg, tc.obs, Options{})
			if d.SNATTo != tc.wantSNAT {
				t.Errorf("SNATTo = %v, want %v", d.SNATTo, tc.wantSNAT)
			}
			if !slices.Equal(d.WANAddrs, tc.wantWAN) {
				t.Errorf("WANAddrs = %v, want %v", d.WANAddrs, tc.wantWAN)
			}
		})
	}
	// Both routers install the same rules whichever holds the addresses.
	cfg := cameras()
	cfg.HA = &config.HA{LANAddress: vip}
	a, _ := Build(cfg, own, Options{})
	b, _ := Build(cfg, held, Options{})
	if a.SNATTo != b.SNATTo || !slices.Equal(a.Rules, b.Rules) || !slices.Equal(a.LANNets, b.LANNets) {
		t.Errorf("master and backup plans differ:\n%+v\n%+v", a, b)
	}
}
