package wan_test

import (
	"context"
	"log"

	"github.com/hairpin-nat/hairpin/internal/wan"
)

// A daemon loop: react to every interface change.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps, err := wan.Watch(ctx, []string{"ppp0", "br-lan"}, wan.WatchOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for snap := range snaps { // closed when ctx ends
		wanState := snap["ppp0"]
		if !wanState.Exists || len(wanState.Addrs) == 0 {
			continue // link down or not there yet: keep the rules, wait for the next snapshot
		}
		log.Println(wanState.Addrs, snap["br-lan"].Nets)
	}
}
