package publicip_test

import (
	"context"
	"log"

	"github.com/hairpin-nat/hairpin/internal/publicip"
)

// Ask for the public address behind another NAT; calls within the minimum interval get the cached answer.
func Example() {
	disc, err := publicip.NewDiscoverer(publicip.DefaultSources(), publicip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	public, from, err := disc.Discover(context.Background())
	log.Println(public, from, err)
}
