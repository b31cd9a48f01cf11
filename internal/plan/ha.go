package plan

import (
	"slices"
	"sort"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// haPair makes the two routers of an HA pair install the same rules whichever holds the virtual addresses:
// hairpinned flows take the LAN's virtual address as their source, so conntrackd's copy of the flow on the
// other router still matches the packets after a failover, and a shared WAN virtual address is in the WAN
// set on both, so the backup's DNAT is in place before keepalived moves the address to it.
func (d *Desired) haPair(cfg *config.Config) {
	if cfg.HA == nil {
		return
	}
	d.SNATTo = cfg.HA.LANAddress
	if w := cfg.HA.WANAddress; w.IsValid() && !slices.Contains(d.WANAddrs, w) {
		d.WANAddrs = append(d.WANAddrs, w)
		sort.Slice(d.WANAddrs, func(i, j int) bool { return d.WANAddrs[i].Less(d.WANAddrs[j]) })
	}
}

// Master reports whether this router acts for the pair towards the outside (dynamic DNS, upstream mappings,
// probes): a router on its own always does; one of an HA pair does while it holds the LAN virtual address.
func Master(cfg *config.Config, obs Observed) bool {
	return cfg.HA == nil || slices.Contains(obs.LANAddrs, cfg.HA.LANAddress)
}
