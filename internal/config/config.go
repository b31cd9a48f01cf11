// Package config reads hairpin's YAML config file: strict schema, defaults, and validation that reports every
// problem at once as FILE:LINE:COL: key: problem (hint).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
	"github.com/hairpin-nat/hairpin/internal/secret"
)

// Defaults that a user can override.
const (
	DefaultStateDir        = "/var/lib/hairpin"
	DefaultStatusSocket    = "/run/hairpin/hairpin.sock"
	DefaultResync          = 5 * time.Minute
	DefaultPublicIPEvery   = 10 * time.Minute
	DefaultPublicIPTimeout = 3 * time.Second
)

// Protocol is the transport protocol of a forward.
type Protocol string

// Protocols a forward may name.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	Both Protocol = "both"
)

// Has reports whether a forward of protocol p carries proto ("tcp" or "udp").
func (p Protocol) Has(proto Protocol) bool { return p == proto || p == Both }

// DoubleNAT says whether the router sits behind another NAT.
type DoubleNAT string

// Double-NAT modes.
const (
	DoubleNATAuto DoubleNAT = "auto"
	DoubleNATOn   DoubleNAT = "on"
	DoubleNATOff  DoubleNAT = "off"
)

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct{ First, Last uint16 }

// Len is the number of ports in the range.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

// Overlaps reports whether two ranges share a port.
func (r PortRange) Overlaps(o PortRange) bool { return r.First <= o.Last && o.First <= r.Last }

func (r PortRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Forward is one port forward: external port(s) on the public address to an internal address and port(s).
type Forward struct {
	Name     string
	Protocol Protocol
	Port     PortRange // external
	To       netip.Addr
	ToPort   PortRange // internal; same length as Port
	// To6 is the target on IPv6; without it the forward is not forwarded on IPv6.
	To6 Target6
	// AllowOn says the forward has an allow list: only the sets named in Allow may reach it from the
	// internet (none, when Allow is empty). Without it the forward is open to all.
	AllowOn bool
	Allow   []string // IDs of Config.AllowSets
	// Limit, when set, caps new connections per source from the internet.
	Limit *Limit
	Line  int
}

// WAN describes the router's outside.
type WAN struct {
	Interface string
	// PublicIP lists where to learn the public address behind a second NAT: http(s)://..., stun:host:port,
	// dns:server[:port].
	PublicIP      []string
	DoubleNAT     DoubleNAT
	PublicIPEvery time.Duration
	// Upstream maps the forwards on the box in front of the router (reach.go).
	Upstream Upstream
	// Probe asks a probe server whether the forwards are reachable from the internet; nil: no probe.
	Probe *Probe
}

// LAN describes the router's inside.
type LAN struct {
	Interface string
	// Subnets, when set, replace the subnets read from the interface's addresses.
	Subnets []netip.Prefix
}

// Daemon holds settings of `hairpin run`.
type Daemon struct {
	Resync    time.Duration
	Status    string // unix socket path, or host:port for a TCP listener
	LogFormat string // text or json
	// Resolver lists the DNS servers (host:port) that resolve allow lists' hostnames; empty means those of
	// /etc/resolv.conf.
	Resolver []string
	// Control lets the status listener change state (POST /reload). Off by default: the listener is
	// read-only. On a unix socket the socket's mode (0660) authenticates; a TCP listener also needs
	// ControlTokenFile, whose one-line token clients send as "Authorization: Bearer TOKEN".
	Control          bool
	ControlTokenFile string
	ControlTokenLine int
}

// BackendKind names the datapath hairpin drives. internal/backends turns it into a backend and is the one
// place that compares it, but for this package's validation: the schema differs per kind (the routeros:
// section, limits, ha:, interface names), and its issues need the YAML's line numbers, which only config has.
type BackendKind string

const (
	// BackendLinux is nftables on this machine.
	BackendLinux BackendKind = "linux"
	// BackendRouterOS is a MikroTik router over its REST API.
	BackendRouterOS BackendKind = "routeros"
)

// Config is a validated config file.
type Config struct {
	File     string
	Backend  BackendKind
	StateDir string
	WAN      WAN
	LAN      LAN
	Forwards []Forward
	// AllowSets are the allow lists forwards use, by ID.
	AllowSets []AllowSet
	Daemon    Daemon
	DDNS      []ddnsconf.Entry
	RouterOS  *RouterOS
	// Notify lists where to send notifications (notify.go).
	Notify []Notify
	// HA, when set, makes this router one of an HA pair (ha.go); nil for a router on its own.
	HA *HA
	// SecretOwners are the uids, besides root and hairpin's own, that may own secret files (secret_owners).
	SecretOwners []int
	// Warnings are problems that do not stop the config from being used.
	Warnings Errors
	// kept is what Load read, for Reload to compare and reuse (prefixreparse.go); nil from Parse.
	kept *keptLoad
}

// Load reads and validates a config file. A returned error of type Errors lists every problem. The file must
// be a regular file of at most MaxFileSize bytes: a FIFO or a device would block or never end.
func Load(path string) (*Config, error) { return Reload(path, nil) }

// Reload is Load for a config that was loaded before as prev (nil: it was not). A file that reads as it did
// then costs a comparison: with the config file and every prefix file unchanged the result is a copy of prev,
// and a prefix file that changed is read only where it changed. Whatever prev holds, the result and the errors
// are Load's of the files as they are now.
func Reload(path string, prev *Config) (*Config, error) {
	data, err := secret.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	var kept *keptLoad
	if prev != nil && prev.File == path {
		kept = prev.kept
	}
	var read map[string][]byte
	if kept != nil && !kept.lookedUp && bytes.Equal(kept.config, data) {
		var same bool
		if same, read = kept.filesUnchanged(); same {
			c := *prev
			return &c, nil
		}
	}
	return parse(path, data, "", &lastLoad{kept: kept, read: read})
}

// LoadForExport is Load for a config that is exported for backend rather than run: it is checked by that
// backend's rules whatever its backend line says (`hairpin export routeros` refuses a limit: the router would
// not enforce, and warns about Linux interface names), and the backend's connection section (routeros:) is
// not required, since nothing is sent to the router.
func LoadForExport(path string, backend BackendKind) (*Config, error) {
	data, err := secret.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return parse(path, data, backend, nil)
}

// Defaults is the config every file starts from: what a key left out means. `hairpin down` falls back on it
// when the file is broken or missing (hairpin's own rules are found by name).
func Defaults() *Config {
	return &Config{Backend: BackendLinux, StateDir: DefaultStateDir,
		WAN: WAN{DoubleNAT: DoubleNATAuto, PublicIPEvery: DefaultPublicIPEvery,
			Upstream: Upstream{Mode: UpstreamOff, Lease: DefaultUpstreamLease}},
		Daemon: Daemon{Resync: DefaultResync, Status: DefaultStatusSocket, LogFormat: "text"}}
}

// isName reports whether s is a name of a forward or allow set: 1 to 32 of a-z, 0-9 and '-', neither first nor
// last a '-' (`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`, without a regexp: it is checked for every forward).
func isName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// fastYAML turns parseFast on; the tests compare with it off.
var fastYAML = true

// Parse validates data as a config file named file (the name is only used in messages).
func Parse(file string, data []byte) (*Config, error) { return parse(file, data, "", nil) }

// parse is Parse; export names the backend the config is exported for ("" when it is run), and prev what the
// config's last load read (Reload), which the result keeps when prev is not nil.
func parse(file string, data []byte, export BackendKind, prev *lastLoad) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: file, Line: 1, Col: 1, Key: "(file)", Problem: fmt.Sprintf("the file is %d bytes, more than the limit of %d (%d MiB)", len(data), MaxFileSize, MaxFileSize>>20),
			Hint: "a config of 50,000 forwards is about 3 MB; check that this is the right file"}}
	}
	d := &decoder{file: file, data: data}
	if prev != nil {
		d.prev = *prev
	}
	cfg := Defaults()
	cfg.File = file

	// The document's keys. parseFast hands it each entry as it reads it (rootEntry), so the table comes first.
	var wanNode, lanNode, fwdNode, setsNode, haNode *yaml.Node
	named := map[string]*allowEntries{}
	fields := map[string]field{
		"backend": func(k string, v *yaml.Node) {
			s, _ := d.oneOf(v, k, string(BackendLinux), string(BackendRouterOS))
			cfg.Backend = BackendKind(s)
		},
		"state_dir":     func(k string, v *yaml.Node) { cfg.StateDir, _ = d.str(v, k) },
		"wan":           func(k string, v *yaml.Node) { wanNode = v; d.wan(v, k, &cfg.WAN) },
		"lan":           func(k string, v *yaml.Node) { lanNode = v; d.lan(v, k, &cfg.LAN) },
		"forwards":      func(k string, v *yaml.Node) { fwdNode = v; cfg.Forwards = d.forwards(v, k) },
		"allow_sets":    func(k string, v *yaml.Node) { setsNode = v; named = d.allowSets(v, k) },
		"daemon":        func(k string, v *yaml.Node) { d.daemon(v, k, &cfg.Daemon) },
		"ddns":          func(k string, v *yaml.Node) { cfg.DDNS = d.ddns(v, k) },
		"routeros":      func(k string, v *yaml.Node) { cfg.RouterOS = d.routeros(v, k) },
		"secret_owners": func(k string, v *yaml.Node) { cfg.SecretOwners = d.owners(v, k) },
		"notify":        func(k string, v *yaml.Node) { cfg.Notify = d.notify(v, k) },
		"ha":            func(k string, v *yaml.Node) { haNode = v; cfg.HA = d.ha(v, k) },
	}
	d.rootFields = fields
	var root, streamed *yaml.Node
	fast := false
	if fastYAML {
		root, streamed, fast = parseFast(data, d)
		d.streamed = streamed
	}
	var dec *yaml.Decoder
	if !fast {
		// What forwardItem read before parseFast gave up is read again.
		d = &decoder{file: file, data: data, prev: d.prev}
		root = new(yaml.Node)
		dec = yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(root); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, Errors{{File: file, Line: 1, Col: 1, Key: "(file)", Problem: "the file is empty", Hint: "run `hairpin init` to write a starter config, or start from one in examples/"}}
			}
			return nil, Errors{yamlSyntaxIssue(file, data, err)}
		}
	}
	doc := root.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		// A lone "---" or "~" holds no settings, just like an empty file.
		return nil, Errors{{File: file, Line: 1, Col: 1, Key: "(file)", Problem: "the file is empty", Hint: "run `hairpin init` to write a starter config, or start from one in examples/"}}
	}
	if !fast {
		d.extraDocuments(dec) // parseFast reads no document markers
	}
	d.mapping(doc, "", fields)
	if export != "" {
		cfg.Backend, d.export = export, true
	}
	d.checkInterfaceNames(cfg.Backend)
	d.crossCheck(cfg, doc, wanNode, lanNode, fwdNode)
	d.resolveAllow(cfg, named, setsNode)
	d.checkHA(cfg, haNode)
	for i := range cfg.DDNS {
		cfg.DDNS[i].ConfigDir, cfg.DDNS[i].SecretOwners = filepath.Dir(file), cfg.SecretOwners
	}
	for i := range cfg.Notify {
		cfg.Notify[i].ConfigDir, cfg.Notify[i].SecretOwners = filepath.Dir(file), cfg.SecretOwners
	}
	if cfg.RouterOS != nil {
		cfg.RouterOS.ConfigDir, cfg.RouterOS.SecretOwners = filepath.Dir(file), cfg.SecretOwners
	}
	cfg.Warnings = d.warns.result(file)
	if errs := d.errs.result(file); len(errs) > 0 {
		return nil, errs
	}
	if prev != nil {
		cfg.kept = &keptLoad{config: data, files: d.kept, lookedUp: d.lookedUp}
	}
	return cfg, nil
}

// byPosition sorts issues by line, the config file's first and those in files it names (allow lists) after.
func byPosition(file string, e Errors) {
	sort.SliceStable(e, func(i, j int) bool {
		if e[i].File != e[j].File {
			if e[i].File == file || e[j].File == file {
				return e[i].File == file
			}
			return e[i].File < e[j].File
		}
		if e[i].Line != e[j].Line {
			return e[i].Line < e[j].Line
		}
		return e[i].Col < e[j].Col
	})
}

// extraDocuments reports a second YAML document: it would be ignored silently, and a user who appended settings
// after a "---" would wonder why they have no effect.
func (d *decoder) extraDocuments(dec *yaml.Decoder) {
	var next yaml.Node
	err := dec.Decode(&next)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.errs.add(yamlSyntaxIssue(d.file, d.data, err))
	default:
		d.errorf(&next, "(file)", "keep every setting in one document; remove the \"---\" line", "a second YAML document starts here")
	}
}

func yamlSyntaxIssue(file string, data []byte, err error) Issue {
	// yaml.v3 reports "yaml: line N: message"; keep the line so editors can jump to it.
	var line int
	msg := err.Error()
	if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
		msg = msg[len(fmt.Sprintf("yaml: line %d: ", line)):]
		if contextMarked[msg] && len(data) <= lineSearchMax {
			line = offendingLine(data, line, msg)
		}
	} else {
		line = 1
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	hint := "fix the YAML syntax"
	if tabIndented(data) {
		hint += "; indent with spaces, not tabs"
	}
	return Issue{File: file, Line: line, Col: 1, Key: "(syntax)", Problem: msg, Hint: hint}
}

// contextMarked are the parser errors yaml.v3 reports at the line where the enclosing list or mapping starts
// (libyaml's context mark), not at the line that breaks it: a mis-indented list item is reported on the
// `forwards:` line above.
var contextMarked = map[string]bool{
	"did not find expected key":           true,
	"did not find expected '-' indicator": true,
}

// lineSearchMax bounds offendingLine, which parses the file up to about 20 times: a hand-written config is far
// smaller, and a huge generated one keeps the parser's line.
const lineSearchMax = 256 << 10

// offendingLine finds the first line after from at which the file stops parsing with the same problem: the
// shortest failing prefix, by bisection over line counts (a prefix that fails stays failing as lines are
// added, for these errors).
func offendingLine(data []byte, from int, msg string) int {
	ends := []int{0} // ends[n] is the offset after line n
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	fails := func(n int) bool {
		var node yaml.Node
		err := yaml.Unmarshal(data[:ends[n]], &node)
		return err != nil && strings.HasSuffix(err.Error(), msg)
	}
	lo, hi := from, len(ends)-1 // the prefix of hi lines fails (it is the whole file)
	if lo >= hi || !fails(hi) {
		return from
	}
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// tabIndented reports whether some line is indented with a tab, which YAML forbids.
func tabIndented(data []byte) bool {
	for _, l := range bytes.Split(data, []byte("\n")) {
		rest := bytes.TrimLeft(l, " \t")
		if bytes.IndexByte(l[:len(l)-len(rest)], '\t') >= 0 {
			return true
		}
	}
	return false
}

func (d *decoder) wan(n *yaml.Node, path string, w *WAN) {
	d.mapping(n, path, map[string]field{
		"interface": func(k string, v *yaml.Node) { w.Interface, _ = d.ifname(v, k) },
		"public_ip": func(k string, v *yaml.Node) {
			for i, c := range d.sequence(v, k) {
				key := fmt.Sprintf("%s[%d]", k, i)
				if s, ok := d.str(c, key); ok {
					if err := checkPublicIPSource(s); err != nil {
						d.errorf(c, key, "use http(s)://host/path, stun:host:port or dns:server[:port]", "%v", err)
						continue
					}
					w.PublicIP = append(w.PublicIP, s)
				}
			}
		},
		"double_nat": func(k string, v *yaml.Node) {
			// YAML 1.1 readers turn bare on/off into booleans; accept both spellings.
			if v.Tag == "!!bool" {
				if b, _ := d.boolean(v, k); b {
					w.DoubleNAT = DoubleNATOn
				} else {
					w.DoubleNAT = DoubleNATOff
				}
				return
			}
			s, _ := d.oneOf(v, k, "auto", "on", "off")
			if s != "" {
				w.DoubleNAT = DoubleNAT(s)
			}
		},
		"public_ip_interval": func(k string, v *yaml.Node) {
			if t, ok := d.duration(v, k, 30*time.Second); ok {
				w.PublicIPEvery = t
			}
		},
		"upstream":         func(k string, v *yaml.Node) { d.upstreamMode(v, k, &w.Upstream) },
		"upstream_gateway": func(k string, v *yaml.Node) { d.upstreamGateway(v, k, &w.Upstream) },
		"upstream_lease":   func(k string, v *yaml.Node) { d.upstreamLease(v, k, &w.Upstream) },
		"upstream_on_stop": func(k string, v *yaml.Node) { d.upstreamOnStop(v, k, &w.Upstream) },
		"probe":            func(k string, v *yaml.Node) { w.Probe = d.probe(v, k) },
	})
}

func (d *decoder) lan(n *yaml.Node, path string, l *LAN) {
	d.mapping(n, path, map[string]field{
		"interface": func(k string, v *yaml.Node) { l.Interface, _ = d.ifname(v, k) },
		"subnets": func(k string, v *yaml.Node) {
			for i, c := range d.sequence(v, k) {
				key := fmt.Sprintf("%s[%d]", k, i)
				s, ok := d.str(c, key)
				if !ok {
					continue
				}
				p, err := netip.ParsePrefix(s)
				if err != nil || !p.Addr().Is4() {
					d.errorf(c, key, "write an IPv4 subnet such as 192.168.88.0/24", "%q is not an IPv4 subnet", s)
					continue
				}
				l.Subnets = append(l.Subnets, p.Masked())
			}
		},
	})
}

// ifname reads an interface name; which names are valid depends on the backend (checkInterfaceNames).
func (d *decoder) ifname(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	d.ifnames = append(d.ifnames, ifnameNode{node: n, path: path, name: s})
	return s, true
}

func (d *decoder) daemon(n *yaml.Node, path string, dm *Daemon) {
	var controlNode, statusNode *yaml.Node
	defer func() {
		if !dm.Control || controlNode == nil {
			return
		}
		if !strings.HasPrefix(dm.Status, "/") && dm.ControlTokenFile == "" {
			at := controlNode
			if statusNode != nil {
				at = statusNode
			}
			d.errorf(at, join(path, "control_token_file"), "add `control_token_file: /etc/hairpin/control.token` (one line, mode 0600), or use a unix socket",
				"control over a TCP status listener needs a token")
		}
	}()
	d.mapping(n, path, map[string]field{
		"control": func(k string, v *yaml.Node) {
			controlNode = v
			dm.Control, _ = d.boolean(v, k)
		},
		"control_token_file": func(k string, v *yaml.Node) {
			s, ok := d.str(v, k)
			if ok && !strings.HasPrefix(s, "/") {
				d.errorf(v, k, "give an absolute path such as /etc/hairpin/control.token", "%q is not an absolute path", s)
				return
			}
			dm.ControlTokenFile, dm.ControlTokenLine = s, v.Line
		},
		"resync": func(k string, v *yaml.Node) {
			if t, ok := d.duration(v, k, time.Second); ok {
				dm.Resync = t
			}
		},
		"status": func(k string, v *yaml.Node) {
			statusNode = v
			s, ok := d.str(v, k)
			if !ok {
				return
			}
			if err := checkStatusListen(s); err != nil {
				d.errorf(v, k, "use a unix socket path such as /run/hairpin/hairpin.sock or host:port such as 127.0.0.1:9469", "%v", err)
				return
			}
			if ap, err := netip.ParseAddrPort(s); err == nil && !ap.Addr().IsLoopback() {
				d.warnf(v, k, "status shows your forwards and addresses; keep it on loopback unless you firewall it", "the status listener is reachable from the network")
			}
			dm.Status = s
		},
		"log_format": func(k string, v *yaml.Node) { dm.LogFormat, _ = d.oneOf(v, k, "text", "json") },
		"resolver": func(k string, v *yaml.Node) {
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = d.sequence(v, k)
			}
			for i, c := range items {
				key := k
				if v.Kind == yaml.SequenceNode {
					key = fmt.Sprintf("%s[%d]", k, i)
				}
				s, ok := d.str(c, key)
				if !ok {
					continue
				}
				if a, err := netip.ParseAddr(s); err == nil {
					s = netip.AddrPortFrom(a, 53).String()
				}
				if _, err := netip.ParseAddrPort(s); err != nil {
					d.errorf(c, key, "write a DNS server's IP address, with :PORT if not 53, e.g. 192.0.2.53", "%q is not an IP address", s)
					continue
				}
				dm.Resolver = append(dm.Resolver, s)
			}
		},
	})
}

func checkStatusListen(s string) error {
	if len(s) > 0 && s[0] == '/' {
		return nil
	}
	if _, err := netip.ParseAddrPort(s); err != nil {
		return errfmt.Errorf("%q is neither an absolute socket path nor an IP:port", s)
	}
	return nil
}

// owners reads secret_owners: user names or numeric uids that may own secret files besides root and hairpin's
// own user (say, a secrets manager that writes them as its own user).
func (d *decoder) owners(n *yaml.Node, path string) []int {
	var out []int
	for i, c := range d.sequence(n, path) {
		key := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.str(c, key)
		if !ok {
			continue
		}
		if uid, err := strconv.Atoi(s); err == nil && uid >= 0 {
			out = append(out, uid)
			continue
		}
		d.lookedUp = true
		u, err := user.Lookup(s)
		if err != nil {
			d.errorf(c, key, "give a user name of this machine or a numeric uid", "no user %s", echo(s))
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		out = append(out, uid)
	}
	return out
}
