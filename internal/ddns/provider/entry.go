package provider

// Entry is one ddns entry of the config: a hostname to keep on the public address. config decodes it; which
// keys apply depends on the provider's Schema, and the provider's Builder checks what needs the secrets.
type Entry struct {
	Provider string
	Hostname string
	Server   string // dyndns2, cloudflare, duckdns: base URL (default: the provider's own); rfc2136: host[:port]
	Username string
	// Secrets are never held in the config itself: a file or an environment variable names them.
	PasswordFile string
	PasswordEnv  string
	TokenFile    string
	TokenEnv     string
	// rfc2136
	Zone           string
	TSIGKey        string
	TSIGAlgorithm  string
	TSIGSecretFile string
	TSIGSecretEnv  string
	TTL            int
	// cloudflare
	ZoneID  string
	Proxied bool
	// dyndns2: how a request carries the IPv6 address beside the IPv4 one, "myip" (myip=V4,V6) or "myipv6"
	// (myip=V4&myipv6=V6). Left out of the config hash when empty.
	IPv6Param string `json:",omitempty"`
	// Family is which records the hostname gets: "" or "ipv4" (A), "ipv6" (AAAA) or "both". Left out of the
	// config hash when empty, so that configs written before it keep their state.
	Family string `json:",omitempty"`
	// PublishAlways sends the address even when the reachability classification says the internet cannot
	// reach it (cgnat, ds-lite); by default such an address is withheld.
	PublishAlways bool
	Line          int
	// ConfigDir is the directory of the config file: a secret file that is a symbolic link must stay in it.
	ConfigDir string `json:"-"`
	// SecretOwners are users besides root and hairpin's own who may own its secret files (top-level
	// secret_owners).
	SecretOwners []int `json:"-"`
}

// Schema says which config keys a provider takes. Each provider package declares its own; config checks
// every entry against it, so adding a provider touches its own folder and one line of the providers list.
type Schema struct {
	Name string
	// Required keys must be given.
	Required []string
	// Secrets are file/env alternatives of which exactly one must be given.
	Secrets [][2]string
	// Optional keys may be given.
	Optional []string
	// HTTPServer: server is an http(s) URL; otherwise host[:port].
	HTTPServer bool
	// Values lists the allowed values of keys that take one of a few (rfc2136's tsig_algorithm).
	Values map[string][]string
	// AAAA says the provider publishes IPv6 addresses (family: ipv6 or both).
	AAAA bool
	// AAAARequired lists keys an entry needs to publish IPv6 addresses.
	AAAARequired []string
	// NoIPv6Alone, when set, is why the provider cannot publish the AAAA record without the A record (family
	// ipv6 is refused; both is fine).
	NoIPv6Alone string
	// Hostname checks the hostname where the provider has its own rule, returning the problem and the fix;
	// nil: a fully qualified name.
	Hostname func(hostname string) (problem, fix string)
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
