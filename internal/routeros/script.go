package routeros

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// propOrder is the order properties are written in the script, as RouterOS's own export does: what the rule
// is, what it matches, what it does.
var propOrder = []string{"chain", "action", "in-interface", "dst-address-type", "src-address-list", "dst-address-list",
	"connection-nat-state", "protocol", "dst-port", "to-addresses", "to-ports"}

// UpdaterName is the name of the script and scheduler entry Script creates.
const UpdaterName = "hairpin-update"

// Script writes a RouterOS v7 script that sets up what the config describes without the daemon: the address
// lists, the forwards, the masquerade, and an updater script with a scheduler entry that keeps the WAN
// address list equal to the WAN interface's addresses (at startup and every minute). It uses the same
// markers as the REST backend, so running it again (or `hairpin down`) replaces or removes exactly what it
// added.
func Script(cfg *config.Config) string {
	d, _ := plan.Build(cfg, plan.Observed{}, plan.Options{})
	// Offline there is no address to decide double NAT by. The WAN-interface rules only match packets that
	// arrive on the WAN for the router itself, so with a public address on the WAN they duplicate the
	// address-list rules harmlessly; only double_nat: off leaves them out.
	d.DoubleNAT = cfg.WAN.DoubleNAT != config.DoubleNATOff
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# hairpin: port forwards with hairpin NAT for RouterOS v7, generated from %s by `hairpin export routeros`.", filepath.Base(cfg.File))
	w("# Paste it into a terminal, or upload it and run /import file-name=hairpin.rsc. Running it again replaces")
	w("# what it added. Everything it creates has a comment starting with %s; nothing else is changed,", MarkerPrefix)
	w("# including rules of your own that mention hairpin in their comment.")
	w("")
	w("/ip firewall nat remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ip firewall address-list remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/system scheduler remove [find where comment=\"%s\"]", markUpdater)
	w("/system script remove [find where comment=\"%s\"]", markUpdater)
	w("")
	if len(cfg.LAN.Subnets) > 0 {
		w("# The LAN subnets: source and destination of the hairpin masquerade.")
		for _, p := range d.LANNets {
			w("/ip firewall address-list add list=%s address=%s comment=\"%s\"", ListLAN, canonAddr(p.String()), markLAN)
		}
	} else {
		w("# The LAN subnets (list %s) come from %s's addresses: the updater below fills the list.", ListLAN, cfg.LAN.Interface)
	}
	w("")
	w("# One dst-nat rule per forward and protocol, matching list %s (the WAN addresses, kept by the updater).", ListWAN)
	wanifNoted := false
	for _, it := range natItems(d) {
		if it.key == markMasq {
			w("")
			w("# Hairpin masquerade: LAN clients reaching a forward through the WAN address get the answers from the")
			w("# router, as they expect, not straight from the server. Only flows a dst-nat rule rewrote are touched.")
		} else if strings.HasPrefix(it.key, MarkerPrefix+"dnat-wanif:") && !wanifNoted {
			wanifNoted = true
			w("")
			w("# Behind another NAT (double_nat: %s) the upstream box forwards to the router's own WAN address, which may", cfg.WAN.DoubleNAT)
			w("# change before the updater runs: these match packets arriving on %s for the router itself.", cfg.WAN.Interface)
		}
		w("/ip firewall nat add %s comment=\"%s\"", renderProps(it.props), it.key)
	}
	w("")
	w("# Put the forwards above the first rule of yours that would take their packets first. Your rules keep their")
	w("# order; NAT exemptions (action=accept) stay above hairpin's rules.")
	w("{")
	w("  :local first [/ip firewall nat find where chain=dstnat && !dynamic && !(comment~\"^%s\") && (action=\"dst-nat\" || action=\"netmap\" || action=\"redirect\")]", MarkerPrefix)
	w("  :if ([:len $first] > 0) do={ /ip firewall nat move [find where chain=dstnat && comment~\"^%s\"] destination=[:pick $first 0] }", MarkerPrefix)
	if d.Masquerade {
		w("  :set first [/ip firewall nat find where chain=srcnat && !dynamic && !(comment~\"^%s\") && (action=\"masquerade\" || action=\"src-nat\" || action=\"netmap\" || action=\"same\")]", MarkerPrefix)
		w("  :if ([:len $first] > 0) do={ /ip firewall nat move [find where comment=\"%s\"] destination=[:pick $first 0] }", markMasq)
	}
	w("}")
	w("")
	writeUpdater(w, cfg)
	return b.String()
}

// writeUpdater writes the updater script, its scheduler entry and a first run.
func writeUpdater(w func(string, ...any), cfg *config.Config) {
	w("# %s keeps list %s equal to %s's IPv4 addresses.", UpdaterName, ListWAN, cfg.WAN.Interface)
	w("/system script add name=%s comment=\"%s\" policy=read,write,test dont-require-permissions=no source={", UpdaterName, markUpdater)
	w("  # :local, not :global: every value is read fresh on each run and forgotten after it, so no address from an")
	w("  # earlier run (or from DNS, which may still hold the old one) can end up in the rules.")
	w("  :local sync do={")
	w("    :foreach id in=[/ip firewall address-list find where list=$list && comment=$mark] do={")
	w("      :if ([:len [:find $want [:tostr [/ip firewall address-list get $id address]]]] = 0) do={ /ip firewall address-list remove $id }")
	w("    }")
	w("    :foreach a in=$want do={")
	w("      :if ([:len [/ip firewall address-list find where list=$list && comment=$mark && address=$a]] = 0) do={")
	w("        /ip firewall address-list add list=$list address=$a comment=$mark")
	w("      }")
	w("    }")
	w("  }")
	w("  :local wan [:toarray \"\"]")
	w("  :foreach id in=[/ip address find where interface=\"%s\" && !disabled && !invalid] do={", cfg.WAN.Interface)
	w("    :local a [:tostr [/ip address get $id address]]")
	w("    :set wan ($wan, [:pick $a 0 [:find $a \"/\"]])")
	w("  }")
	if cfg.WAN.DoubleNAT != config.DoubleNATOff && (cfg.RouterOS == nil || cfg.RouterOS.IPCloud) {
		w("  # Behind another NAT, LAN clients use the public address: add the one /ip cloud detected (when enabled).")
		w("  :do {")
		w("    :local pub [:tostr [/ip cloud get public-address]]")
		w("    :if ([:len $pub] > 0 && [:len [:find $wan $pub]] = 0) do={ :set wan ($wan, $pub) }")
		w("  } on-error={}")
	}
	w("  $sync list=\"%s\" mark=\"%s\" want=$wan", ListWAN, markWAN)
	if len(cfg.LAN.Subnets) == 0 {
		w("  :local lan [:toarray \"\"]")
		w("  :foreach id in=[/ip address find where interface=\"%s\" && !disabled && !invalid] do={", cfg.LAN.Interface)
		w("    :local a [:tostr [/ip address get $id address]]")
		w("    :set lan ($lan, ([:tostr [/ip address get $id network]] . [:pick $a [:find $a \"/\"] [:len $a]]))")
		w("  }")
		w("  $sync list=\"%s\" mark=\"%s\" want=$lan", ListLAN, markLAN)
	}
	w("}")
	w("/system scheduler add name=%s comment=\"%s\" start-time=startup interval=1m policy=read,write,test on-event=\"/system script run %s\"", UpdaterName, markUpdater, UpdaterName)
	w("/system script run %s", UpdaterName)
}

func renderProps(p Entry) string {
	var parts []string
	for _, k := range propOrder {
		if v, ok := p[k]; ok {
			parts = append(parts, k+"="+quote(v))
		}
	}
	return strings.Join(parts, " ")
}

// quote writes a value for the RouterOS console: bare when it is plain, else in double quotes with \, " and $
// escaped.
func quote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-/_:,", r))
	}) < 0 {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(v) + `"`
}
