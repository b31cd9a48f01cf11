package config

import (
	"net/netip"
	"net/url"
	"time"

	"gopkg.in/yaml.v3"
)

// UpstreamMode says whether and how hairpin asks the box in front of the router (behind a second NAT) to
// forward the ports.
type UpstreamMode string

// Upstream modes. Off is the default: mapping ports on someone else's box is something the user opts in to.
const (
	UpstreamOff    UpstreamMode = "off"
	UpstreamAuto   UpstreamMode = "auto" // PCP, then NAT-PMP, then UPnP IGD
	UpstreamPCP    UpstreamMode = "pcp"
	UpstreamNATPMP UpstreamMode = "natpmp"
	UpstreamUPnP   UpstreamMode = "upnp"
	UpstreamManual UpstreamMode = "manual" // the user forwarded the ports on the box by hand
)

// Maps reports whether the mode asks the upstream box for mappings.
func (m UpstreamMode) Maps() bool { return m != UpstreamOff && m != UpstreamManual && m != "" }

// Defaults of the upstream mapping and the probe.
const (
	DefaultUpstreamLease = 10 * time.Minute
	DefaultProbeInterval = 15 * time.Minute
)

// Upstream configures port mapping on the upstream box.
type Upstream struct {
	Mode UpstreamMode
	// Gateway is the box to ask; unset means the IPv4 default route's gateway.
	Gateway netip.Addr
	// Lease is the lifetime asked for; mappings are renewed at half of what the box grants.
	Lease time.Duration
	// DeleteOnStop removes the mappings when the daemon stops (they are removed at `hairpin down` anyway).
	DeleteOnStop bool
}

// Probe configures the reachability probe: a hairpin probe-server elsewhere on the internet.
type Probe struct {
	URL string
	// CAFile holds the certificates (PEM) trusted for the probe server instead of the system's: a self-signed
	// probe server's own certificate.
	CAFile     string
	SecretFile string
	SecretEnv  string
	Interval   time.Duration
	Line       int
}

func (d *decoder) upstreamMode(n *yaml.Node, path string, u *Upstream) {
	if s, ok := d.oneOf(n, path, "off", "auto", "pcp", "natpmp", "upnp", "manual"); ok {
		u.Mode = UpstreamMode(s)
	}
}

func (d *decoder) probe(n *yaml.Node, path string) *Probe {
	p := &Probe{Interval: DefaultProbeInterval, Line: n.Line}
	given := map[string]*yaml.Node{}
	if !d.mapping(n, path, map[string]field{
		"url": func(k string, v *yaml.Node) {
			given["url"] = v
			s, ok := d.str(v, k)
			if !ok {
				return
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
				d.errorf(v, k, "use the probe server's address, e.g. https://probe.example.net:9470/", "%q is not an http(s) URL without credentials", s)
				return
			}
			if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
				d.errorf(v, k, "run the probe server with --tls-cert and --tls-key and use https:// (ca_file names its certificate if no public CA signed it)",
					"%q is plain http: anyone on the way could read the request and answer it, and the probe is there to prove something to you", s)
				return
			}
			p.URL = s
		},
		"ca_file":     func(k string, v *yaml.Node) { p.CAFile, _ = d.str(v, k) },
		"secret_file": func(k string, v *yaml.Node) { given["secret"] = v; p.SecretFile, _ = d.str(v, k) },
		"secret_env":  func(k string, v *yaml.Node) { given["secret_env"] = v; p.SecretEnv, _ = d.str(v, k) },
		"interval": func(k string, v *yaml.Node) {
			if t, ok := d.duration(v, k, 10*time.Second); ok {
				p.Interval = t
			}
		},
	}) {
		return nil
	}
	if given["url"] == nil {
		d.errorf(n, path+".url", "add e.g. `url: https://probe.example.net:9470/`", "required key is missing")
	}
	if (given["secret"] == nil) == (given["secret_env"] == nil) {
		d.errorf(n, path+".secret_file", "give exactly one of secret_file and secret_env (the probe server's shared secret)", "the probe needs its shared secret")
	}
	return p
}

func (d *decoder) upstreamGateway(n *yaml.Node, path string, u *Upstream) {
	s, ok := d.str(n, path)
	if !ok {
		return
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		d.errorf(n, path, "write the upstream box's IPv4 address, e.g. 192.168.1.1", "%q is not an IPv4 address", s)
		return
	}
	u.Gateway = a
}

func (d *decoder) upstreamLease(n *yaml.Node, path string, u *Upstream) {
	t, ok := d.duration(n, path, 10*time.Second)
	if !ok {
		return
	}
	u.Lease = t
}

func (d *decoder) upstreamOnStop(n *yaml.Node, path string, u *Upstream) {
	if s, ok := d.oneOf(n, path, "keep", "delete"); ok {
		u.DeleteOnStop = s == "delete"
	}
}

// String is how status shows the mode.
func (m UpstreamMode) String() string {
	if m == "" {
		return string(UpstreamOff)
	}
	return string(m)
}

// loopbackHost reports whether host is this machine: plain http to it crosses no network (tests, a local relay).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
