// Package ddnsconf is what the config file and the dynamic-DNS providers share about a ddns entry: the keys
// every entry has (Entry), the reader through which a provider decodes its own keys into its own settings with
// line-numbered issues (Keys), and the table of providers config checks entries against (Register).
//
// It imports only the standard library. config imports it, and the provider packages fill its table when the
// provider registry (internal/ddns/providers) is linked in, so config itself holds no provider code: adding a
// provider touches the provider's folder and its line in the registry.
package ddnsconf

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Entry is one ddns entry of the config: a hostname to keep on the public address.
type Entry struct {
	Provider string
	Hostname string
	// Family is which records the hostname gets: "" or "ipv4" (A), "ipv6" (AAAA) or "both".
	Family string `json:",omitempty"`
	// PublishAlways sends the address even when the reachability classification says the internet cannot
	// reach it (cgnat, ds-lite); by default such an address is withheld.
	PublishAlways bool
	// Settings are the provider's own keys, as its Decode returned them: a pointer to the provider's type.
	Settings any `json:"-"`
	Line     int
	// ConfigDir is the directory of the config file: a secret file that is a symbolic link must stay in it.
	ConfigDir string `json:"-"`
	// SecretOwners are users besides root and hairpin's own who may own its secret files (top-level
	// secret_owners).
	SecretOwners []int `json:"-"`
}

// Families lists what e publishes: "ipv4", "ipv6" or both, in that order.
func (e Entry) Families() []string {
	switch e.Family {
	case "ipv6":
		return []string{"ipv6"}
	case "both":
		return []string{"ipv4", "ipv6"}
	}
	return []string{"ipv4"}
}

// Keys is one entry's mapping as its provider reads it. A value of the wrong type is reported where it stands
// and read as absent. Issues about a key not given point at the entry.
type Keys interface {
	// Given reports whether the entry has key.
	Given(key string) bool
	String(key string) (string, bool)
	// Int reads a whole number from min to max.
	Int(key string, min, max int) (int, bool)
	Bool(key string) (bool, bool)
	// OneOf reads a string that must be one of values.
	OneOf(key string, values ...string) (string, bool)
	// Map reads a mapping of strings to strings (HTTP headers).
	Map(key string) (map[string]string, bool)
	// Errorf reports a problem that makes the config unusable; Warnf one that does not.
	Errorf(key, hint, format string, args ...any)
	Warnf(key, hint, format string, args ...any)
}

// Provider is what config knows of a provider: its name, the keys it takes and how it decodes them.
type Provider struct {
	Name string
	// Keys are every key the provider takes besides provider, hostname, family and publish; any other is
	// reported as not applying to it.
	Keys []string
	// AAAA says the provider publishes IPv6 addresses (family: ipv6 or both).
	AAAA bool
	// NoIPv6Alone, when set, is why the provider cannot publish the AAAA record without the A record (family
	// ipv6 is refused; both is fine).
	NoIPv6Alone string
	// Hostname checks the hostname where the provider has its own rule, returning the problem and the fix;
	// nil: a fully qualified name.
	Hostname func(hostname string) (problem, fix string)
	// Decode reads the provider's keys of e (whose common keys are already read) and returns its settings.
	Decode func(k Keys, e Entry) any
}

var (
	mu         sync.RWMutex
	registered []Provider
)

// Register adds providers to the table config checks entries against; the provider registry calls it once
// when the program starts. A name registered twice keeps its first registration.
func Register(ps ...Provider) {
	mu.Lock()
	defer mu.Unlock()
	for _, p := range ps {
		if !slices.ContainsFunc(registered, func(q Provider) bool { return q.Name == p.Name }) {
			registered = append(registered, p)
		}
	}
}

// All returns the registered providers in registration order.
func All() []Provider {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Clone(registered)
}

// Lookup finds a registered provider by name.
func Lookup(name string) (Provider, bool) {
	for _, p := range All() {
		if p.Name == name {
			return p, true
		}
	}
	return Provider{}, false
}

// Require reports key as missing when the entry lacks it.
func Require(k Keys, provider, key string) {
	if !k.Given(key) {
		k.Errorf(key, "provider "+provider+" needs it", "required key is missing")
	}
}

// Secret reads a secret's two alternatives, a file (mode 600) or an environment variable: exactly one must be
// given. The secret itself is read when the provider is built, never by config.
func Secret(k Keys, fileKey, envKey string) (file, env string) {
	switch {
	case !k.Given(fileKey) && !k.Given(envKey):
		k.Errorf(fileKey, fmt.Sprintf("name a file with %s (mode 600) or an environment variable with %s", fileKey, envKey), "the secret is missing")
	case k.Given(fileKey) && k.Given(envKey):
		k.Errorf(envKey, "keep one of them", "%s and %s are both given", fileKey, envKey)
	}
	file, _ = k.String(fileKey)
	env, _ = k.String(envKey)
	return file, env
}

// HTTPURL reads key as an http(s) base URL; plain http draws a warning, since credentials then cross the
// network in clear.
func HTTPURL(k Keys, key string) string {
	s, ok := k.String(key)
	if !ok || s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		k.Errorf(key, "write a URL such as https://members.dyndns.org", "%q is not an http(s) URL", s)
		return s
	}
	if u.User != nil {
		k.Errorf(key, "use username and password_file instead", "the URL must not carry credentials")
		return s
	}
	if u.Scheme == "http" {
		k.Warnf(key, "use https unless the server is on a network you trust", "plain http sends the credentials unencrypted")
	}
	return s
}

// Endpoint reads key as an API's base URL: https, or plain http only to a loopback address (a local test
// server or a proxy on the router itself), since the credentials travel with every request.
func Endpoint(k Keys, key string) string {
	s, ok := k.String(key)
	if !ok || s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		k.Errorf(key, "write a URL such as https://api.example.net/v1", "%q is not an https URL", s)
		return s
	}
	if u.User != nil {
		k.Errorf(key, "give the credentials in their own keys", "the URL must not carry credentials")
		return s
	}
	if u.Scheme == "http" && !Loopback(u.Hostname()) {
		k.Errorf(key, "use https, or http only to 127.0.0.1, ::1 or localhost", "plain http to %s would send the credentials unencrypted", u.Hostname())
	}
	return s
}

// Loopback reports whether host is a loopback address or localhost.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HostPort reads key as host or host:port.
func HostPort(k Keys, key string) string {
	s, ok := k.String(key)
	if !ok || s == "" {
		return s
	}
	if err := checkHostPort(s); err != nil {
		k.Errorf(key, "write the server as host or host:port, e.g. 192.0.2.53:53", "%v", err)
	}
	return s
}

func checkHostPort(s string) error {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		host = h
		var p int
		if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 1 || p > 65535 || fmt.Sprint(p) != port {
			return errfmt.Errorf("%q has a bad port", s)
		}
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return errfmt.Errorf("%q is not a host or host:port", s)
	}
	return nil
}
