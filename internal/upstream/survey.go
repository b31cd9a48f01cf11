package upstream

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hairpin-nat/hairpin/internal/upstream/natpmp"
	"github.com/hairpin-nat/hairpin/internal/upstream/pcp"
	"github.com/hairpin-nat/hairpin/internal/upstream/upnp"
)

// Survey is what the box in front offers, asked without mapping anything (hairpin doctor).
type Survey struct {
	Gateway  netip.Addr
	Speaks   []string // of pcp, natpmp, upnp, in that order
	External netip.Addr
	// CGNAT is a protocol's own answer that nothing can be mapped from outside.
	CGNAT string
	// UPnPService names the UPnP service found (WANIPConnection:2, ...).
	UPnPService string
}

// Ask asks gateway, from local, which mapping protocols it speaks and its external address: a PCP ANNOUNCE, a
// NAT-PMP external-address request and an SSDP search with GetExternalIPAddress, in parallel, each bounded.
func Ask(ctx context.Context, local, gateway netip.Addr) Survey {
	s := Survey{Gateway: gateway}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	var mu sync.Mutex
	speaks := map[string]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &pcp.Client{Gateway: gateway, Local: local}
		cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		_, err := c.Announce(cctx)
		mu.Lock()
		defer mu.Unlock()
		if err == nil || (cgnatErr(err) && !unsupported(err)) {
			speaks["pcp"] = true
			if err != nil {
				s.CGNAT = err.Error()
			}
		}
	})
	wg.Go(func() {
		c := &natpmp.Client{Gateway: gateway, Local: local}
		cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		r, err := c.External(cctx)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			speaks["natpmp"] = true
			if !s.External.IsValid() {
				s.External = r.External
			}
		} else if cgnatErr(err) {
			speaks["natpmp"] = true
			s.CGNAT = err.Error()
		}
	})
	wg.Go(func() {
		c := &upnp.Client{Gateway: gateway, Local: local}
		if err := c.Connect(ctx); err != nil {
			return
		}
		ext, err := c.External(ctx)
		mu.Lock()
		defer mu.Unlock()
		speaks["upnp"], s.UPnPService = true, c.Service
		if err == nil {
			s.External = ext
		}
	})
	wg.Wait()
	for _, p := range []string{"pcp", "natpmp", "upnp"} {
		if speaks[p] {
			s.Speaks = append(s.Speaks, p)
		}
	}
	return s
}
