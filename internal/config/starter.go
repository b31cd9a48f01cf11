package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Starter is what `hairpin init` writes: the interfaces it chose and why, the forwards it was given, an entry
// for the DNS provider named, and every other section as commented examples.
type Starter struct {
	WAN, WANWhy string
	LAN, LANWhy string
	Forwards    []StarterForward
	// DDNS is a provider name, or "" for none.
	DDNS string
	// DDNSExample is the provider's example entry (YAML keys, one a line), written for providers without a
	// starter of their own here.
	DDNSExample string
}

// StarterForward is one --forward NAME=PORT:HOST:PORT.
type StarterForward struct {
	Name, Port, To string
}

// ParseForwardFlag reads NAME=PORT:HOST[:PORT] (the external port, the target address and its port, which
// defaults to the external one). The values are checked again by Load when the file is read.
func ParseForwardFlag(s string) (StarterForward, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return StarterForward{}, errfmt.Errorf("--forward %q: write NAME=PORT:HOST:PORT, e.g. front-cam=8090:192.168.88.180:80", s)
	}
	port, to, ok := strings.Cut(rest, ":")
	if !ok || to == "" {
		return StarterForward{}, errfmt.Errorf("--forward %q: write NAME=PORT:HOST:PORT, e.g. front-cam=8090:192.168.88.180:80", s)
	}
	if !validName(name) {
		return StarterForward{}, errfmt.Errorf("--forward %q: the name must be 1-32 of a-z, 0-9 and '-'", s)
	}
	first, last, isRange := strings.Cut(port, "-")
	for _, p := range []string{first, last} {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil && (p != "" || isRange) {
			return StarterForward{}, errfmt.Errorf("--forward %q: %q is not a port or a range like 8090-8093", s, port)
		}
	}
	return StarterForward{Name: name, Port: port, To: to}, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ddnsStarters are the entries init writes for --ddns, with the keys each provider needs.
var ddnsStarters = map[string]string{
	"dyndns2": `  - provider: dyndns2                 # DynDNS, No-IP, Dynu and the many that speak its protocol
    server: https://members.dyndns.org # your provider's update server
    hostname: home.example.net         # the name your bookmarks use
    username: me
    password_file: /etc/hairpin/ddns.secret   # one line, chmod 600 (or password_env: VARIABLE)
`,
	"rfc2136": `  - provider: rfc2136                 # DNS UPDATE with TSIG (BIND, Knot, PowerDNS)
    server: 192.0.2.53:53
    zone: example.net
    hostname: home.example.net
    tsig_key: hairpin-key
    tsig_secret_file: /etc/hairpin/tsig.secret   # tsig-keygen's output, or the bare base64 secret
`,
	"cloudflare": `  - provider: cloudflare              # API token with Zone.DNS edit
    zone_id: 0123456789abcdef0123456789abcdef
    hostname: home.example.net
    token_file: /etc/hairpin/cloudflare.token     # one line, chmod 600 (or token_env: VARIABLE)
`,
	"duckdns": `  - provider: duckdns
    hostname: myhome.duckdns.org
    token_file: /etc/hairpin/duckdns.token        # one line, chmod 600 (or token_env: VARIABLE)
`,
}

// Text is the file. It passes Load once the DNS entry's placeholders are filled in.
func (s Starter) Text() string {
	var b strings.Builder
	b.WriteString(`# hairpin's config, written by hairpin init. Check it with: hairpin check
# Every key: docs/configuration.md. More examples: examples/ in the release.

# The router's interfaces. The WAN's addresses are where the forwards answer; the LAN's subnets are the
# clients that get hairpin NAT.
wan:
`)
	fmt.Fprintf(&b, "  interface: %s", s.WAN)
	if s.WANWhy != "" {
		fmt.Fprintf(&b, "   # %s", s.WANWhy)
	}
	b.WriteString(`
  # double_nat: auto          # behind an ISP box: learn the public address and forward it too
  # upstream: auto            # and ask the box to forward the ports (PCP, NAT-PMP, UPnP); docs/reachability.md
lan:
`)
	fmt.Fprintf(&b, "  interface: %s", s.LAN)
	if s.LANWhy != "" {
		fmt.Fprintf(&b, "   # %s", s.LANWhy)
	}
	b.WriteString("\n\n# What to forward: external port -> a host on the LAN and its port.\n")
	if len(s.Forwards) == 0 {
		b.WriteString(`forwards:
  # - name: front-cam          # 1-32 of a-z, 0-9 and '-'
  #   port: 8090               # the external port, or a range "8090-8093"
  #   to: 192.168.88.180:80    # the LAN host and its port
  #   protocol: tcp            # tcp (default), udp or both
`)
	} else {
		b.WriteString("forwards:\n")
		for _, f := range s.Forwards {
			fmt.Fprintf(&b, "  - name: %s\n    port: %s\n    to: %s\n", f.Name, quotePort(f.Port), f.To)
		}
		b.WriteString(`  # Also: protocol: udp|both, allow: [prefixes, hostnames] (who may reach it from the internet), limit:
  # {new_per_source: 10/minute}, to6: an IPv6 target. docs/allowlists.md, docs/ipv6.md.
`)
	}
	b.WriteString("\n# Dynamic DNS: keep a hostname pointing at the public address. docs/ddns.md lists the providers.\n")
	if e, ok := ddnsStarters[s.DDNS]; ok {
		b.WriteString("ddns:\n" + e)
	} else if s.DDNSExample != "" {
		b.WriteString("ddns:   # docs/ddns-providers.md has this provider's keys\n  - " + strings.ReplaceAll(strings.TrimSpace(s.DDNSExample), "\n", "\n    ") + "\n")
	} else if s.DDNS != "" {
		fmt.Fprintf(&b, "ddns:\n  - provider: %s   # its keys: docs/ddns.md\n    hostname: home.example.net\n", s.DDNS)
	} else {
		b.WriteString("# ddns:\n" + commentOut(ddnsStarters["dyndns2"]))
	}
	b.WriteString(`
# The daemon. The status listener serves hairpin status, /metrics and the status page at /.
# daemon:
#   status: /run/hairpin/hairpin.sock   # or the router's LAN address, e.g. 192.168.88.1:9469, for a browser
#   resync: 5m
# state_dir: /var/lib/hairpin

# A MikroTik instead of this machine: backend: routeros and a routeros: section. docs/routeros.md.
`)
	return b.String()
}

func quotePort(p string) string {
	if strings.Contains(p, "-") {
		return strconv.Quote(p)
	}
	return p
}

func commentOut(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("#" + l)
		}
	}
	return b.String()
}
