package wan_test

import (
	"context"
	"log"

	"github.com/hairpin-nat/hairpin/internal/wan"
)

// A daemon loop: react to every interface change, and ask for the public address when behind another NAT.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps, err := wan.Watch(ctx, []string{"ppp0", "br-lan"}, wan.WatchOptions{})
	if err != nil {
		log.Fatal(err)
	}
	disc, err := wan.NewDiscoverer(wan.DefaultSources, wan.DiscoverOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for snap := range snaps { // closed when ctx ends
		wanState := snap["ppp0"]
		if !wanState.Exists || len(wanState.Addrs) == 0 {
			continue // link down or not there yet: keep the rules, wait for the next snapshot
		}
		public, from, err := disc.Discover(ctx) // cached inside the minimum interval
		log.Println(wanState.Addrs, snap["br-lan"].Nets, public, from, err)
	}
}
