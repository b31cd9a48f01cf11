package doctor

import (
	"fmt"

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

// Exposure warns about every forward to a well-known camera or NVR port that anyone on the internet may
// reach: no allow list.
func Exposure(cfg *config.Config) []Finding {
	var fs []Finding
	for _, f := range cfg.Forwards {
		if f.AllowOn {
			continue
		}
		for p := int(f.ToPort.First); p <= int(f.ToPort.Last); p++ {
			what, ok := cameraPorts[uint16(p)]
			if !ok {
				continue
			}
			fs = append(fs, Finding{Level: Warn,
				What: fmt.Sprintf("forward %s: port %s to %s:%d (%s, a camera or NVR web port) is open to the whole internet", f.Name, f.Port, f.To, p, what),
				Fix:  fmt.Sprintf("add `allow: [...]` to forward %s with the networks or hostnames that need it (docs/allowlists.md)", f.Name)})
			break
		}
	}
	return fs
}
