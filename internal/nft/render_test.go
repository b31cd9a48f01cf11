package nft

import (
	"net/netip"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// Render's text is what `hairpin show` prints: it stays byte for byte what the goldens hold, for an IPv4
// plan, a guarded one and one with IPv6 forwards.
func TestRenderGolden(t *testing.T) {
	hosts := map[string][]netip.Addr{"phone.example.net": {netip.MustParseAddr("198.51.100.77")}}
	for _, tc := range []struct{ name, file string }{
		{"cameras", "render-cameras.golden"},
		{"guarded", "render-guarded.golden"},
		{"dual", "render-dual.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := camerasPlan(t)
			switch tc.name {
			case "guarded":
				d = guardedPlan(t, hosts, &config.Limit{Count: 10, Unit: "minute", Burst: 20})
			case "dual":
				d = dualPlan(t)
			}
			golden(t, tc.file, Render(d))
		})
	}
}
