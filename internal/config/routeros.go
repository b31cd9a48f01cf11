package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// RouterOS is how to reach a MikroTik router's REST API when backend is routeros.
type RouterOS struct {
	URL          string
	Username     string
	PasswordFile string
	PasswordEnv  string
	// TLSFingerprint pins the router's certificate ("sha256:AB:CD:..."); CAFile trusts a CA instead. With
	// neither, the system's trust store verifies the router (only useful for a router with a public certificate).
	TLSFingerprint string
	CAFile         string
	PollInterval   time.Duration
	// Timeout bounds each request to the router. RouterOS serves REST requests one at a time and a filtered
	// print over an address list of 50,000+ entries takes 8-20 s, so the default (55 s) is long, yet under
	// RouterOS's own 60 s limit, after which the router gives up on the request itself.
	Timeout time.Duration
	// IPCloud reads the public address from /ip/cloud (the router's own detection; needs ddns-enabled on the
	// router): public_address: ip-cloud, the default. It costs one request per poll and is ignored while
	// /ip/cloud has no address. public_address: off (or the older ip_cloud: false) turns it off.
	IPCloud bool
	// PublicAddressSet: public_address was given. An explicit ip-cloud lets `hairpin export routeros` turn IP
	// Cloud on (/ip cloud set ddns-enabled=yes); the default only reads what the router has.
	PublicAddressSet bool
	Line             int
	// ConfigDir is the directory of the config file: a password file that is a symbolic link must stay in it.
	ConfigDir string
	// SecretOwners are users besides root and hairpin's own who may own the password file.
	SecretOwners []int
}

// The values of routeros.public_address: where the public address behind another NAT comes from.
const (
	// PublicAddressIPCloud reads it from /ip cloud, RouterOS's own detection (needs ddns-enabled=yes).
	PublicAddressIPCloud = "ip-cloud"
	// PublicAddressOff reads nothing: the daemon's own detection (wan.public_ip) or an entry of yours in
	// hairpin-wan provides it.
	PublicAddressOff = "off"
)

// DefaultRouterOSTimeout and MaxRouterOSTimeout bound a request to the router (routeros.timeout).
const (
	DefaultRouterOSTimeout = 55 * time.Second
	MaxRouterOSTimeout     = 60 * time.Second
)

// ParseFingerprint decodes a pinned certificate fingerprint: "sha256:" and the 32 bytes of the SHA-256 of the
// certificate in hex, with or without a colon between bytes (both `openssl x509 -fingerprint -sha256` output
// and a bare hex string work).
func ParseFingerprint(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		rest, ok = strings.CutPrefix(s, "SHA256:")
	}
	if !ok {
		return nil, errfmt.Errorf("%q does not start with \"sha256:\"", s)
	}
	raw := rest
	if strings.Contains(rest, ":") {
		parts := strings.Split(rest, ":")
		for _, p := range parts {
			if len(p) != 2 {
				return nil, errfmt.Errorf("%q: separate every byte (two hex digits) with ':'", s)
			}
		}
		raw = strings.Join(parts, "")
	}
	b, err := hex.DecodeString(raw)
	if err != nil {
		return nil, errfmt.Errorf("%q is not hexadecimal", s)
	}
	if len(b) != 32 {
		return nil, errfmt.Errorf("%q has %d bytes; a SHA-256 fingerprint has 32", s, len(b))
	}
	return b, nil
}

// FormatFingerprint writes a fingerprint the way ParseFingerprint and the config expect it.
func FormatFingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "sha256:" + strings.Join(parts, ":")
}

func (d *decoder) routeros(n *yaml.Node, path string) *RouterOS {
	r := &RouterOS{Line: n.Line, PollInterval: 10 * time.Second, Timeout: DefaultRouterOSTimeout, IPCloud: true}
	nodes := map[string]*yaml.Node{}
	str := func(dst *string) field {
		return func(k string, v *yaml.Node) {
			nodes[k[len(path)+1:]] = v
			*dst, _ = d.str(v, k)
		}
	}
	if !d.mapping(n, path, map[string]field{
		"url":             str(&r.URL),
		"username":        str(&r.Username),
		"password_file":   str(&r.PasswordFile),
		"password_env":    str(&r.PasswordEnv),
		"tls_fingerprint": str(&r.TLSFingerprint),
		"ca_file":         str(&r.CAFile),
		"poll_interval": func(k string, v *yaml.Node) {
			if t, ok := d.duration(v, k, time.Second); ok {
				r.PollInterval = t
			}
		},
		"timeout": func(k string, v *yaml.Node) {
			t, ok := d.duration(v, k, time.Second)
			if !ok {
				return
			}
			if t > MaxRouterOSTimeout {
				d.errorf(v, k, "RouterOS ends a REST request after 60 s itself; use at most 60s (the default is 55s)", "%s is longer than the router waits", t)
				return
			}
			r.Timeout = t
		},
		"ip_cloud": func(k string, v *yaml.Node) {
			nodes["ip_cloud"] = v
			if b, ok := d.boolean(v, k); ok {
				r.IPCloud = b
			}
		},
		"public_address": func(k string, v *yaml.Node) {
			nodes["public_address"] = v
			if s, ok := d.oneOf(v, k, PublicAddressIPCloud, PublicAddressOff); ok {
				r.IPCloud, r.PublicAddressSet = s == PublicAddressIPCloud, true
			}
		},
	}) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			d.errorf(n, path, "add url, username and password_file under routeros:", "the routeros section is empty")
		}
		return r
	}
	d.checkRouterOS(r, n, path, nodes)
	return r
}

// checkRouterOS validates the combination of keys; nodes holds the value node of each key that was given.
func (d *decoder) checkRouterOS(r *RouterOS, n *yaml.Node, path string, nodes map[string]*yaml.Node) {
	key := func(k string) string { return path + "." + k }
	if nodes["ip_cloud"] != nil && nodes["public_address"] != nil {
		d.errorf(nodes["ip_cloud"], key("ip_cloud"), "keep public_address (ip-cloud or off) and remove ip_cloud", "ip_cloud and public_address say the same thing twice")
	}
	https := d.checkRouterOSURL(r, n, key("url"), nodes["url"])
	if nodes["username"] == nil {
		d.errorf(n, key("username"), "add `username: hairpin` (a RouterOS user in a group with read, write, api and rest-api policies)", "required key is missing")
	} else if r.Username == "" {
		d.errorf(nodes["username"], key("username"), "name the RouterOS user hairpin logs in as", "the username is empty")
	}
	switch {
	case nodes["password_file"] == nil && nodes["password_env"] == nil:
		d.errorf(n, key("password_file"), "add `password_file: /etc/hairpin/routeros.secret` (mode 0600) or `password_env: HAIRPIN_ROUTEROS_PASSWORD`", "required key is missing")
	case nodes["password_file"] != nil && nodes["password_env"] != nil:
		d.errorf(nodes["password_env"], key("password_env"), "keep one of password_file and password_env", "both password_file and password_env are set")
	case nodes["password_file"] != nil && !strings.HasPrefix(r.PasswordFile, "/"):
		d.errorf(nodes["password_file"], key("password_file"), "give an absolute path such as /etc/hairpin/routeros.secret", "%q is not an absolute path", r.PasswordFile)
	case nodes["password_env"] != nil && !envNameOK(r.PasswordEnv):
		d.errorf(nodes["password_env"], key("password_env"), "name an environment variable such as HAIRPIN_ROUTEROS_PASSWORD", "%q is not a valid environment variable name", r.PasswordEnv)
	}
	fp, ca := nodes["tls_fingerprint"], nodes["ca_file"]
	if fp != nil {
		if _, err := ParseFingerprint(r.TLSFingerprint); err != nil {
			d.errorf(fp, key("tls_fingerprint"), "write sha256: and 32 hex bytes, e.g. sha256:AB:CD:...; `hairpin apply` prints the router's fingerprint when it does not match", "%v", err)
		}
	}
	if ca != nil && !strings.HasPrefix(r.CAFile, "/") {
		d.errorf(ca, key("ca_file"), "give an absolute path to a PEM file", "%q is not an absolute path", r.CAFile)
	}
	if fp != nil && ca != nil {
		d.errorf(ca, key("ca_file"), "pin the certificate with tls_fingerprint or trust a CA with ca_file, not both", "both tls_fingerprint and ca_file are set")
	}
	if !https && (fp != nil || ca != nil) {
		at := fp
		if at == nil {
			at = ca
		}
		d.errorf(at, path, "certificate settings need an https:// url", "tls_fingerprint and ca_file have no effect over http")
	}
}

// checkRouterOSURL reports whether the URL is https (the only scheme that keeps the password private).
func (d *decoder) checkRouterOSURL(r *RouterOS, n *yaml.Node, key string, v *yaml.Node) bool {
	if v == nil {
		d.errorf(n, key, "add `url: https://192.168.88.1` (the router's www-ssl service)", "required key is missing")
		return true
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		d.errorf(v, key, "write https://ROUTER[:PORT], e.g. https://192.168.88.1", "%q is not a URL", r.URL)
		return true
	}
	if u.User != nil {
		d.errorf(v, key, "put the user in username: and the password in password_file:", "the url must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/" && strings.TrimSuffix(u.Path, "/") != "/rest") {
		d.errorf(v, key, "give only scheme, host and port: https://192.168.88.1", "%q has a path, query or fragment", r.URL)
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		d.warnf(v, key, "enable the www-ssl service on the router and use https://", "over http the RouterOS password crosses the network in clear text")
		return false
	default:
		d.errorf(v, key, "use https:// (the router's www-ssl service)", "scheme %q is not supported", u.Scheme)
		return true
	}
}

// isLinuxIfname is the kernel's rule (dev_valid_name): 1 to 15 characters, no whitespace, '/' or ':'
// (`^[^\s/:]{1,15}$`, without a regexp compiled at every start).
func isLinuxIfname(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 15 {
		return false
	}
	return !strings.ContainsAny(s, "\t\n\f\r /:")
}

// linuxStyleRE matches the names Linux gives interfaces (eth0, enp3s0, wlan0, br-lan, br0) and RouterOS does not
// give any of its own: a config written for the Linux backend, exported for a MikroTik unchanged.
var linuxStyleRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(eth[0-9]+|en[ospx][0-9a-f]+\S*|wl(an|p)[0-9]\S*|br-\S+|br[0-9]+)$`)
})

// maxRouterOSIfname bounds a RouterOS interface name; RouterOS itself allows long names with spaces and
// punctuation ("ether1 - uplink").
const maxRouterOSIfname = 255

// checkInterfaceNames validates the interface names by the backend's rules: a Linux name is what the kernel
// accepts; a RouterOS name may hold spaces and punctuation (the script and the REST requests quote it) but no
// control characters.
func (d *decoder) checkInterfaceNames(backend BackendKind) {
	for _, in := range d.ifnames {
		switch {
		case backend == BackendRouterOS && linuxStyleRE().MatchString(in.name):
			d.warnf(in.node, in.path, "give the name as /interface print shows it on the router (ether1, bridge, pppoe-out1)",
				"%s looks like a Linux interface name; RouterOS rules naming it match no packet on a router that has no such interface", echo(in.name))
		case backend == BackendRouterOS:
			if in.name == "" || len(in.name) > maxRouterOSIfname || !utf8.ValidString(in.name) ||
				strings.IndexFunc(in.name, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
				d.errorf(in.node, in.path, fmt.Sprintf("give the name as /interface print shows it: 1 to %d characters, no control characters", maxRouterOSIfname),
					"%s is not a valid RouterOS interface name", echo(in.name))
			}
		case !isLinuxIfname(in.name) || in.name == "." || in.name == "..":
			hint := "interface names are 1 to 15 characters without spaces, '/' or ':'"
			if strings.ContainsAny(in.name, " /:") {
				hint += `; a RouterOS name such as "ether1 - uplink" needs backend: routeros`
			}
			d.errorf(in.node, in.path, hint, "%s is not a valid interface name", echo(in.name))
		}
	}
}

func envNameOK(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
