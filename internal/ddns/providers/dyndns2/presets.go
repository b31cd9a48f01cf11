package dyndns2

import (
	"github.com/hairpin-nat/hairpin/internal/config/ddnsconf"
	"github.com/hairpin-nat/hairpin/internal/ddns/provider"
)

// preset is a provider that speaks dyndns2 at its own server, as its documentation (Doc) describes.
type preset struct {
	name, server string
	// ipv6Param is how the provider takes the AAAA address beside the IPv4 one ("myip": a comma list,
	// "myipv6": a parameter of its own); empty where the provider documents no IPv6 in its dyndns2 endpoint.
	ipv6Param string
	doc       string
	user      string // what the provider calls the username, for the example
}

// presets are the dyndns2 providers, each with the server, auth and IPv6 spelling its documentation gives.
var presets = []preset{
	{"noip", "https://dynupdate.no-ip.com/nic/update", "myipv6", "https://www.noip.com/integrate/request", "me@example.net"},
	{"dynu", "https://api.dynu.com/nic/update", "myipv6", "https://www.dynu.com/DynamicDNS/IP-Update-Protocol", "me"},
	{"dnsomatic", "https://updates.dnsomatic.com/nic/update", "", "https://www.dnsomatic.com/docs/api", "me"},
	{"dyn", "https://members.dyndns.org/nic/update", "", "https://help.dyn.com/remote-access-api/", "me"},
	{"changeip", "https://nic.changeip.com/nic/update", "", "https://www.changeip.com/accounts/knowledgebase.php?action=displayarticle&id=34", "me"},
	{"he", "https://dyn.dns.he.net/nic/update", "", "https://dns.he.net/docs.html", "home.example.net"},
	{"ovh-dynhost", "https://www.ovh.com/nic/update?system=dyndns", "", "https://help.ovhcloud.com/csm/en-dns-dynhost", "example.net-home"},
	{"strato", "https://dyndns.strato.com/nic/update", "myip", "https://www.strato.de/faq/domains/so-einfach-richten-sie-dyndns-fuer-ihre-domains-ein/", "example.net"},
	{"infomaniak", "https://infomaniak.com/nic/update", "", "https://www.infomaniak.com/en/support/faq/2376/dyndns-updating-a-dynamic-dns-via-the-api", "me"},
	{"desec-dyndns", "https://update.dedyn.io/nic/update", "myipv6", "https://desec.readthedocs.io/en/latest/dyndns/update-api.html", "home.dedyn.io"},
	{"nsupdate.info", "https://ipv4.nsupdate.info/nic/update", "", "https://nsupdate.readthedocs.io/en/latest/user.html", "home.nsupdate.info"},
	{"spdyn", "https://update.spdyn.de/nic/update", "", "https://wiki.securepoint.de/SPDyn/Variablen", "home.spdyn.de"},
	{"selfhost", "https://carol.selfhost.de/nic/update", "", "https://www.selfhost.de/cgi-bin/selfhost?p=document&name=api", "me"},
	{"ipv64", "https://ipv64.net/nic/update", "", "https://ipv64.net/dyndns_updater_api", "none"},
	{"all-inkl", "https://dyndns.kasserver.com/nic/update", "", "https://all-inkl.com/wichtig/anleitungen/kas/tools/dyndns-zugaenge/", "dyn0000000"},
	{"loopia", "https://dyndns.loopia.se/nic/update", "", "https://support.loopia.com/wiki/about-dynamic-dns-dyndns/", "me@loopia.se"},
	{"easydns", "https://members.easydns.com/dyn/dyndns.php", "", "https://kb.easydns.com/knowledge/dynamic-dns/", "me"},
	{"domain-offensive", "https://ddns.do.de/nic/update", "", "https://www.do.de/wiki/dyndns-einrichten/", "DDNS-K00000-00000"},
	{"dynv6", "https://dynv6.com/nic/update", "", "https://dynv6.com/docs/apis", "none"},
}

// Presets returns the dyndns2 presets as providers.
func Presets() []provider.Def {
	out := make([]provider.Def, len(presets))
	for i, p := range presets {
		out[i] = p.def()
	}
	return out
}

func (p preset) def() provider.Def {
	c := ddnsconf.Provider{Name: p.name, Keys: []string{"server", "username", "password_file", "password_env"}, AAAA: p.ipv6Param != ""}
	if c.AAAA {
		c.NoIPv6Alone = Def.Config.NoIPv6Alone
	}
	d := provider.Def{Kind: provider.KindPreset, Contract: provider.FromDocs, Doc: p.doc, Config: c,
		Example: "provider: " + p.name + "\nhostname: home.example.net\nusername: " + p.user + "\npassword_file: /etc/hairpin/" + p.name + ".secret"}
	return provider.Define(d, func(k provider.Keys, e provider.Entry) *Settings {
		s := &Settings{Server: p.server, IPv6Param: ""}
		ddnsconf.Require(k, e.Provider, "username")
		s.PasswordFile, s.PasswordEnv = ddnsconf.Secret(k, "password_file", "password_env")
		s.Username, _ = k.String("username")
		if srv := ddnsconf.HTTPURL(k, "server"); srv != "" {
			s.Server = srv
		}
		if e.Family != "" {
			s.IPv6Param = p.ipv6Param
		}
		return s
	}, New)
}
