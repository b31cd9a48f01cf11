package routeros

import (
	"log/slog"
	"net/url"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
	"github.com/hairpin-nat/hairpin/internal/ddns/providers/dyndns2"
	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// DNSName is the name of the script `hairpin export routeros` writes for the config's dyndns2 entries: the
// router updates their A records itself, from the same WAN events as the updater.
const DNSName = "hairpin-ddns"

// markDDNS marks the DNS script and the address-list entries it keeps its state in.
const markDDNS = MarkerPrefix + "ddns"

// DNSWait is how long the DNS script waits after the provider answers 911 or dnserr (its trouble, not ours):
// the engine's own pause for them.
const DNSWait = "30m"

// DNSUpdate is one ddns entry the router can update itself: a dyndns2 server over https, the A record only.
type DNSUpdate struct {
	// Entry is the entry's index in the config's ddns list.
	Entry    int
	Hostname string
	// URL is the update endpoint (https://server/nic/update), ending in the "?" or "&" the script's query
	// follows.
	URL      string
	Username string
	Password string
}

// DNSUpdates reads the config's ddns entries that the router can update itself (dnsEndpoint), with their
// passwords, which the script holds.
func DNSUpdates(cfg *config.Config, logger *slog.Logger) ([]DNSUpdate, error) {
	var out []DNSUpdate
	for i, e := range cfg.DDNS {
		endpoint, reason := dnsEndpoint(e)
		if reason != "" {
			continue
		}
		s := e.Settings.(*dyndns2.Settings)
		pw, err := readSecret(s.PasswordFile, s.PasswordEnv, e.ConfigDir, e.SecretOwners, logger)
		if err != nil {
			return nil, errfmt.Errorf("ddns[%d] (%s): %w", i, e.Hostname, err)
		}
		out = append(out, DNSUpdate{Entry: i, Hostname: e.Hostname, URL: endpoint, Username: s.Username, Password: pw})
	}
	return out, nil
}

// dnsEndpoint returns the update URL of a ddns entry the router can update itself, or why it cannot: only a
// dyndns2 server (and the presets built on it: noip, dynu, ...) over https, and only the A record (a request with myip alone
// would make the provider delete or move an AAAA record the daemon publishes).
func dnsEndpoint(e provider.Entry) (endpoint, reason string) {
	s, ok := e.Settings.(*dyndns2.Settings)
	if !ok {
		return "", "provider " + e.Provider + " does not speak dyndns2"
	}
	if e.Family == "ipv6" || e.Family == "both" {
		return "", "the router's script updates the A record only (family " + e.Family + " needs the daemon's paired request)"
	}
	server := s.Server
	if server == "" {
		server = dyndns2.DefaultServer
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", "its server is not an https:// URL, and the router's request carries the password"
	}
	if u.Path == "" || u.Path == "/" {
		u = u.JoinPath("nic", "update")
	}
	// The script appends hostname=...&myip=...: after the server's own query (OVH's ?system=dyndns) if any.
	if u.RawQuery == "" {
		return u.String() + "?", ""
	}
	return u.String() + "&", ""
}

// writeDNS writes the DNS script for dns and a comment for every other ddns entry. The script keeps its state
// where a user can see and clear it: list hairpin-ddns-N holds the address entry N last published, and
// hairpin-ddns-N-wait (with a timeout) or hairpin-ddns-N-stop say it waits or stopped. Address lists, unlike a
// :global, survive a reboot and show in Winbox.
func writeDNS(w func(string, ...any), cfg *config.Config, dns []DNSUpdate) {
	given := map[int]bool{}
	for _, u := range dns {
		given[u.Entry] = true
	}
	for i, e := range cfg.DDNS {
		_, reason := dnsEndpoint(e)
		if reason == "" && !given[i] {
			reason = "its password was not read"
		}
		if reason != "" {
			w("# ddns[%d] (%s, provider %s) is not updated by the router: %s. Run hairpin's daemon", i, e.Hostname, e.Provider, reason)
			w("# for it (hairpin run with this config), or update it yourself.")
		}
	}
	if len(cfg.DDNS) > len(dns) {
		w("")
	}
	if len(dns) == 0 {
		return
	}
	w("# %s updates the A record of the dyndns2 entries from the router itself (/tool fetch over https,", DNSName)
	w("# checking the server's certificate), run by %s after every WAN event. Like hairpin's daemon it sends", UpdaterName)
	w("# nothing while the address is what it last published, stops for good on an answer that says the request")
	w("# itself is wrong (badauth, nohost, abuse and the others: fix it, then remove the entry from list")
	w("# hairpin-ddns-N-stop), waits %s after 911 or dnserr, and never publishes a private address.", DNSWait)
	w("# THE PASSWORDS ARE IN THIS SCRIPT: every router user whose group has the read policy can read them, and so")
	w("# can anyone with a backup or an /export of the router. Use a DNS password that opens nothing else.")
	w("/system script add name=%s comment=%s policy=read,write,test dont-require-permissions=no source={", DNSName, quote(markDDNS))
	w("  :local update do={")
	w("    :local lst (%s . $hpN)", quoteAlways(dnsListPrefix))
	w("    :local stop ($lst . \"-stop\")")
	w("    :local pause ($lst . \"-wait\")")
	w("    :if ([:len [/ip firewall address-list find where list=$stop]] > 0) do={ :return \"stopped\" }")
	w("    :if ([:len [/ip firewall address-list find where list=$pause]] > 0) do={ :return \"waiting\" }")
	w("    :if ([:len [/ip firewall address-list find where list=$lst && address=$hpAddr]] > 0) do={ :return \"unchanged\" }")
	w("    :local url ($hpURL . \"hostname=\" . $hpHost . \"&myip=\" . $hpAddr)")
	w("    :local body \"\"")
	w("    :do {")
	w("      :set body ([/tool fetch url=$url user=$hpUser password=$hpPass check-certificate=yes http-header-field=%s output=user as-value]->\"data\")", quoteAlways("User-Agent: hairpin-routeros/1"))
	w("    } on-error={")
	w("      :log warning (\"hairpin-ddns: \" . $hpHost . \": the update did not get through; the next WAN event tries again\")")
	w("      :return \"error\"")
	w("    }")
	w("    :local code [:tostr $body]")
	w("    :if ([:typeof [:find $code \" \"]] = \"num\") do={ :set code [:pick $code 0 [:find $code \" \"]] }")
	w("    :if ([:typeof [:find $code \"\\n\"]] = \"num\") do={ :set code [:pick $code 0 [:find $code \"\\n\"]] }")
	w("    :if ($code = \"good\" || $code = \"nochg\") do={")
	w("      /ip firewall address-list remove [find where list=$lst]")
	w("      /ip firewall address-list add list=$lst address=$hpAddr comment=%s", quote(markDDNS))
	w("      :log info (\"hairpin-ddns: \" . $hpHost . \" points at \" . $hpAddr)")
	w("      :return $code")
	w("    }")
	w("    :if ($code = \"911\" || $code = \"dnserr\") do={")
	w("      /ip firewall address-list add list=$pause address=$hpAddr timeout=%s comment=%s", DNSWait, quote(markDDNS))
	w("      :log warning (\"hairpin-ddns: \" . $hpHost . \": the provider answered \" . $code . \" (its own trouble); waiting %s\")", DNSWait)
	w("      :return $code")
	w("    }")
	w("    /ip firewall address-list add list=$stop address=$hpAddr comment=%s", quote(markDDNS))
	w("    :log error (\"hairpin-ddns: \" . $hpHost . \": the provider answered \" . $code . \"; no more updates until you fix the entry and remove list \" . $lst . \"-stop\")")
	w("    :return $code")
	w("  }")
	w("  # The public address: the WAN's own, or behind another NAT the one IP Cloud detected; never a private one.")
	w("  :local pub \"\"")
	w("  :foreach i in=[/ip address find where interface=%s && !disabled && !invalid] do={", quoteAlways(cfg.WAN.Interface))
	w("    :if ($pub = \"\") do={ :local a [:tostr [/ip address get $i address]]; :set pub [:pick $a 0 [:find $a \"/\"]] }")
	w("  }")
	w("  :local private do={ :return ($hpIP in 10.0.0.0/8 || $hpIP in 172.16.0.0/12 || $hpIP in 192.168.0.0/16 || $hpIP in 100.64.0.0/10) }")
	w("  :if ($pub != \"\" && [$private hpIP=[:toip $pub]]) do={")
	w("    :set pub \"\"")
	w("    :do { :set pub [:tostr [/ip cloud get public-address]] } on-error={}")
	w("  }")
	w("  :if ($pub = \"\" || [$private hpIP=[:toip $pub]]) do={")
	w("    :log warning %s", quoteAlways("hairpin-ddns: no public address to publish ("+cfg.WAN.Interface+" has none or a private one and IP Cloud has none)"))
	w("  } else={")
	for _, u := range dns {
		w("    $update hpN=%d hpHost=%s hpURL=%s hpUser=%s hpPass=%s hpAddr=$pub", u.Entry, quoteAlways(u.Hostname), quoteAlways(u.URL), quoteAlways(u.Username), quoteAlways(u.Password))
	}
	w("  }")
	w("}")
	w("")
}

// writeRunDNS is the updater's last line: the DNS script runs after every WAN event, when the export made it.
func writeRunDNS(w func(string, ...any)) {
	w("  :if ([:len [/system script find where name=%s && comment=%s]] > 0) do={ /system script run %s }", quoteAlways(DNSName), quoteAlways(markDDNS), DNSName)
}

// dnsListPrefix starts the names of the address lists the DNS script keeps its state in: hairpin-ddns-N,
// hairpin-ddns-N-wait and hairpin-ddns-N-stop for entry N.
const dnsListPrefix = "hairpin-ddns-"
