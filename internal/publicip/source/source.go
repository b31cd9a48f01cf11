// Package source parses the entries of wan.public_ip (http(s)://..., stun:host[:port], dns:server[:port][/name]).
// It imports nothing beyond the standard library, so that config can check the entries with the very parser
// the discoverer uses without pulling in the STUN and DNS clients.
package source

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// DefaultDNSName is the name whose A record an OpenDNS-style resolver answers with the asker's address.
const DefaultDNSName = "myip.opendns.com"

// Source is one parsed public_ip entry.
type Source struct {
	Raw  string // as configured, with any URL password redacted, for logs and answers
	Kind string // "http", "stun" or "dns"
	URL  string // http
	Addr string // stun and dns: host:port
	Name string // dns: the fully qualified name to look up
}

// Parse reads one public_ip entry (the STUN port defaults to 3478, the DNS port to 53, the DNS name to
// myip.opendns.com). Errors name the entry and what is wrong, without a prefix: the config's error and the
// discoverer's each say where it came from.
func Parse(s string) (Source, error) {
	switch {
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Source{}, errfmt.Errorf("%q is not a valid URL", redact(s))
		}
		return Source{Raw: u.Redacted(), Kind: "http", URL: s}, nil
	case strings.HasPrefix(s, "stun:"):
		addr, err := hostPort(strings.TrimPrefix(s, "stun:"), "3478")
		if err != nil {
			return Source{}, errfmt.Errorf("%q: %w", s, err)
		}
		return Source{Raw: s, Kind: "stun", Addr: addr}, nil
	case strings.HasPrefix(s, "dns:"):
		server, name, ok := strings.Cut(strings.TrimPrefix(s, "dns:"), "/")
		if !ok || name == "" {
			name = DefaultDNSName
		}
		if !isDomainName(name) {
			return Source{}, errfmt.Errorf("%q: %q is not a domain name", s, name)
		}
		addr, err := hostPort(server, "53")
		if err != nil {
			return Source{}, errfmt.Errorf("%q: %w", s, err)
		}
		return Source{Raw: s, Kind: "dns", Addr: addr, Name: fqdn(name)}, nil
	}
	return Source{}, errfmt.Errorf("%q has an unknown scheme", redact(s))
}

// redact hides a URL's password in messages about an entry that did not parse as a URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// hostPort checks host[:port] (port 1-65535, default def) and returns host:port.
func hostPort(s, def string) (string, error) {
	if s == "" {
		return "", errors.New("no host given")
	}
	if !strings.Contains(s, ":") {
		s = net.JoinHostPort(s, def)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "", errfmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", errfmt.Errorf("%q is not host:port (the port is a number from 1 to 65535)", s)
	}
	return net.JoinHostPort(host, port), nil
}

// isFQDN reports whether s ends in a dot that is not escaped by the backslashes before it. The count runs from
// the start of the last other character, in bytes, as the DNS library counts it (a multibyte character before
// the backslashes tips the parity, as there).
func isFQDN(s string) bool {
	if !strings.HasSuffix(s, ".") {
		return false
	}
	rest := s[:len(s)-1]
	if rest == "" || rest[len(rest)-1] != '\\' {
		return true
	}
	i := strings.LastIndexFunc(rest, func(r rune) bool { return r != '\\' })
	return (len(rest)-i)%2 != 0
}

func fqdn(s string) string {
	if isFQDN(s) {
		return s
	}
	return s + "."
}

// isDomainName accepts what a DNS message can carry as a name in presentation format: labels of at most 63
// octets (an escape, \X or \DDD, is one), no empty label except the root, at most 255 octets in all. It judges
// exactly as miekg/dns does (source_test.go holds the two side by side), and internal/dnswire, which the
// discoverer writes the query with, writes every name it accepts (publicip's FuzzDNSSourceName).
func isDomainName(s string) bool {
	const maxWire = 256 // the library's bound, counted with the length octet of each label
	if s == "" {
		return false
	}
	s = fqdn(s)
	wire, begin := 0, 0
	wasDot, escape := false, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escape = !escape
			if wire+1 > maxWire {
				return false
			}
			skip := 1
			if ddd(s[i+1:]) {
				skip = 3
			}
			i += skip
			begin += skip
			wasDot = false
		case '.':
			escape = false
			if (i == 0 && len(s) > 1) || wasDot {
				return false
			}
			wasDot = true
			label := i - begin
			if label > 63 {
				return false
			}
			if wire += 1 + label; wire > maxWire {
				return false
			}
			begin = i + 1
		default:
			escape, wasDot = false, false
		}
	}
	return !escape
}

func ddd(s string) bool {
	return len(s) >= 3 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2])
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
