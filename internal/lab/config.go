package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RouterConfig is the hairpin config of the lab's router as values: scenarios change fields, not text, and
// YAML renders it.
type RouterConfig struct {
	WANInterface, LANInterface string
	// DoubleNAT is wan.double_nat ("" leaves the default).
	DoubleNAT string
	// PublicIP is wan.public_ip.
	PublicIP []string
	// Status and StateDir are daemon.status and state_dir ("" leaves the default).
	Status, StateDir string
	// Resync is daemon.resync (0 leaves the default).
	Resync time.Duration
	// Upstream, UpstreamLease and UpstreamOnStop are wan.upstream* ("" or 0 leave the defaults).
	Upstream       string
	UpstreamLease  time.Duration
	UpstreamOnStop string
	// Probe sets wan.probe when its URL is set (with ProbeInterval, 0: the default).
	Probe         ProbeServer
	ProbeInterval time.Duration
	// Extra is appended as top-level YAML (a ddns section).
	Extra    string
	Forwards []Forward
}

// Forward is one forward of the lab's config.
type Forward struct {
	Name     string
	Port     int
	To       string // host:port
	Protocol string
}

// RouterConfig is the config for the lab's router: the article's four cameras on 8090-8093, the front
// camera also over UDP.
func (t *Topology) RouterConfig() RouterConfig {
	c := RouterConfig{WANInterface: t.WANIf, LANInterface: t.LANIf}
	for _, cam := range t.Cameras {
		proto := "tcp"
		if cam.Name == "front-cam" {
			proto = "both"
		}
		c.Forwards = append(c.Forwards, Forward{Name: cam.Name, Port: cam.Port, To: cam.Addr.String() + ":80", Protocol: proto})
	}
	return c
}

// Config is RouterConfig as YAML.
func (t *Topology) Config() string { return t.RouterConfig().YAML() }

// YAML renders the config file.
func (c RouterConfig) YAML() string {
	var b strings.Builder
	if c.Status != "" || c.Resync > 0 {
		b.WriteString("daemon:\n")
		if c.Status != "" {
			fmt.Fprintf(&b, "  status: %s\n", c.Status)
		}
		if c.Resync > 0 {
			fmt.Fprintf(&b, "  resync: %s\n", c.Resync)
		}
	}
	if c.StateDir != "" {
		fmt.Fprintf(&b, "state_dir: %s\n", c.StateDir)
	}
	fmt.Fprintf(&b, "wan:\n  interface: %s\n", c.WANInterface)
	if c.DoubleNAT != "" {
		fmt.Fprintf(&b, "  double_nat: %s\n", c.DoubleNAT)
	}
	if len(c.PublicIP) > 0 {
		quoted := make([]string, len(c.PublicIP))
		for i, s := range c.PublicIP {
			quoted[i] = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, "  public_ip: [%s]\n", strings.Join(quoted, ", "))
	}
	if c.Upstream != "" {
		fmt.Fprintf(&b, "  upstream: %s\n", c.Upstream)
	}
	if c.UpstreamLease > 0 {
		fmt.Fprintf(&b, "  upstream_lease: %s\n", c.UpstreamLease)
	}
	if c.UpstreamOnStop != "" {
		fmt.Fprintf(&b, "  upstream_on_stop: %s\n", c.UpstreamOnStop)
	}
	if c.Probe.URL != "" {
		fmt.Fprintf(&b, "  probe:\n    url: %q\n    secret_file: %s\n    ca_file: %s\n", c.Probe.URL, c.Probe.SecretFile, c.Probe.CAFile)
		if c.ProbeInterval > 0 {
			fmt.Fprintf(&b, "    interval: %s\n", c.ProbeInterval)
		}
	}
	b.WriteString(c.Extra)
	fmt.Fprintf(&b, "lan:\n  interface: %s\nforwards:\n", c.LANInterface)
	for _, f := range c.Forwards {
		fmt.Fprintf(&b, "  - name: %s\n    port: %d\n    to: %s\n    protocol: %s\n", f.Name, f.Port, f.To, f.Protocol)
	}
	return b.String()
}

// Write writes the config as file name in dir and returns its path.
func (c RouterConfig) Write(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(c.YAML()), 0o644)
}
