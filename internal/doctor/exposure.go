package doctor

import (
	"fmt"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// cameraPorts are ports that IP cameras and NVRs serve their web interface or API on, and that scanners
// probe for them: a forward to one of them open to the whole internet is how such devices get taken over
// (Hikvision CVE-2021-36260; Frigate's port 5000 has no authentication).
var cameraPorts = map[uint16]string{
	80:    "HTTP",
	81:    "HTTP (many DVRs)",
	88:    "HTTP (Foscam)",
	443:   "HTTPS",
	554:   "RTSP",
	5000:  "Frigate (no authentication)",
	8000:  "Hikvision SDK",
	8080:  "HTTP",
	8443:  "HTTPS",
	8971:  "Frigate",
	9000:  "Reolink",
	34567: "XMEye DVR",
	37777: "Dahua",
}

// Exposure warns about the forwards to a well-known camera or NVR port that anyone on the internet may reach
// (no allow list): one finding for all of them, since the fix is the same.
func Exposure(cfg *config.Config) []Finding {
	var open []string
	for _, f := range cfg.Forwards {
		if f.AllowOn {
			continue
		}
		for p := int(f.ToPort.First); p <= int(f.ToPort.Last); p++ {
			if what, ok := cameraPorts[uint16(p)]; ok {
				open = append(open, fmt.Sprintf("%s (%s to %s:%d, %s)", f.Name, f.Port, f.To, p, what))
				break
			}
		}
	}
	switch len(open) {
	case 0:
		return nil
	case 1:
		return []Finding{{Level: Warn, What: "forward " + open[0] + ": a camera or NVR port open to the whole internet",
			Fix: "add `allow: [...]` to it with the networks or hostnames that need it (docs/allowlists.md)"}}
	}
	return []Finding{{Level: Warn, What: fmt.Sprintf("%d forwards to camera or NVR ports are open to the whole internet: %s", len(open), strings.Join(open, ", ")),
		Fix: "add `allow: [...]` to each with the networks or hostnames that need it, or an allow_sets entry they share (docs/allowlists.md)"}}
}
