package routeros

import (
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// propOrder is the order properties are written in the script, as RouterOS's own export does: what the rule
// is, what it matches, what it does.
var propOrder = []string{"chain", "action", "in-interface", "in-interface-list", "dst-address-type", "src-address-list", "dst-address-list",
	"connection-nat-state", "connection-mark", "protocol", "dst-port", "to-addresses", "to-address", "to-ports", "new-connection-mark",
	"passthrough"}

// UpdaterName is the name of the script and scheduler entry Script creates.
const UpdaterName = "hairpin-update"

// CheckedReleases are the RouterOS releases whose command schema (/console/inspect) the script and the REST
// requests are checked against in the tests; no real router is part of them.
const CheckedReleases = "7.9 to 7.24rc3"

// Script writes a RouterOS v7 script that sets up what the config describes without the daemon: the address
// lists, the forwards, the hairpin mark and masquerade, and an updater script that keeps the WAN address list
// equal to the WAN interface's addresses, run by the WAN's own events (writeHooks). It uses
// the same markers as the REST backend, so running it again (or `hairpin down`) replaces or removes exactly
// what it added.
//
// dns are the ddns entries the router updates itself (DNSUpdates reads them with their passwords); the
// script says of every other ddns entry that hairpin's daemon has to update it.
func Script(cfg *config.Config, dns ...DNSUpdate) string {
	d, _ := plan.Build(cfg, plan.Observed{}, PlanOptions)
	// Offline there is no address to decide double NAT by. The WAN-interface rules only match packets that
	// arrive on the WAN for the router itself, so with a public address on the WAN they duplicate the
	// address-list rules harmlessly; only double_nat: off leaves them out.
	d.DoubleNAT = cfg.WAN.DoubleNAT != config.DoubleNATOff
	var b strings.Builder
	w := func(format string, args ...any) { line(&b, format, args...) }

	w("# hairpin: port forwards with hairpin NAT for RouterOS v7, generated from %s by `hairpin export routeros`.", filepath.Base(cfg.File))
	w("# Paste it into a terminal, or upload it and run /import file-name=hairpin.rsc. Running it again replaces")
	w("# what it added. Everything it creates has a comment starting with %s; nothing else is changed,", MarkerPrefix)
	w("# including rules of your own that mention hairpin in their comment.")
	w("# Checked against the command schema of RouterOS %s (/console/inspect); not tried on a real router.", CheckedReleases)
	if len(dns) > 0 {
		w("# It holds the password of %d dynamic-DNS account(s) in script %s: keep this file private, and see", len(dns), DNSName)
		w("# the script's comment for who on the router can read it.")
	}
	w("")
	writeGuards(w)
	w("")
	w("# The updater and its hooks go first, so it cannot run halfway through and add entries back.")
	w("/system scheduler remove [find where comment=\"%s\"]", markUpdater)
	w("/system script remove [find where comment=\"%s\" || comment=\"%s\"]", markUpdater, markDDNS)
	writeUnhook(w)
	w("/ip firewall mangle remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ip firewall nat remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ip firewall address-list remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ipv6 firewall filter remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ipv6 firewall mangle remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ipv6 firewall nat remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("/ipv6 firewall address-list remove [find where comment~\"^%s\"]", MarkerPrefix)
	w("")
	if len(cfg.LAN.Subnets) > 0 {
		w("# The LAN subnets: source and destination of the hairpin masquerade.")
		for _, p := range d.LANNets {
			w("/ip firewall address-list add list=%s address=%s comment=%s", ListLAN, canonAddr(p.String()), quote(markLAN))
		}
	} else {
		w("# The LAN subnets (list %s) come from %s's addresses: the updater below fills the list.", ListLAN, cfg.LAN.Interface)
	}
	for _, l := range allowLists(d) {
		w("")
		w("# Who may reach %s from the internet (the LAN always may). A hostname is resolved by the router itself,", l.forward)
		w("# which adds its addresses to the list as dynamic entries and follows them.")
		for _, a := range l.entries {
			w("/ip firewall address-list add list=%s address=%s comment=%s", quote(l.name), quote(a), quote(l.mark))
		}
	}
	w("")
	w("# One dst-nat rule per forward and protocol, matching list %s (the WAN addresses, kept by the updater).", ListWAN)
	outNoted, wanifNoted := false, false
	for _, it := range natItems(d) {
		switch {
		case it.key == markMasq:
			w("")
			w("# Hairpin masquerade: LAN clients reaching a forward through the public address get the answers from")
			w("# the router, as they expect, not straight from the server. Only connections the mangle rule below")
			w("# marked are touched: internet callers keep their address, plain LAN-to-LAN traffic is left alone.")
		case strings.HasPrefix(it.key, MarkerPrefix+"dnat-out:") && !outNoted:
			outNoted = true
			w("")
			w("# The same for the router's own connections to the public address (output chain).")
		case strings.HasPrefix(it.key, MarkerPrefix+"dnat-lan:"):
			w("# The LAN reaches %s whatever its allow list says (hairpin):", forwardOf(it.key))
		case strings.HasPrefix(it.key, MarkerPrefix+"dnat-wanif:") && !wanifNoted:
			wanifNoted = true
			w("")
			w("# Behind another NAT (double_nat: %s) the upstream box forwards to the router's own WAN address, which may", cfg.WAN.DoubleNAT)
			w("# change before the updater runs: these match packets arriving on %s for the router itself.", cfg.WAN.Interface)
		}
		writeAdd(w, cfg, "/ip firewall nat", it)
	}
	for i, it := range mangleItems(d) {
		if i == 0 {
			w("")
			w("# Mark hairpinned connections for the masquerade above: from the LAN to the public address on a forward's")
			w("# port, before dst-nat rewrites the destination, so a dst-nat rule of yours (a DNS redirect to a LAN")
			w("# server) is never masqueraded; connections you marked already keep your mark. They go first in")
			w("# prerouting (below), where a rule of yours that ends mangle processing cannot keep them from marking.")
		}
		writeAdd(w, cfg, "/ip firewall mangle", it)
	}
	w("")
	w("# Put the forwards above the first rule of yours that would take their packets first, and the marks first in")
	w("# prerouting. Your rules keep their order; NAT exemptions (action=accept) stay above hairpin's rules.")
	w("{")
	writeMoveForwards(w, "/ip")
	if d.Masquerade {
		w("  :set first [/ip firewall nat find where chain=srcnat && !dynamic && !(comment~\"^%s\") && (action=\"masquerade\" || action=\"src-nat\" || action=\"netmap\" || action=\"same\")]", MarkerPrefix)
		w("  :if ([:len $first] > 0) do={ /ip firewall nat move [find where comment=\"%s\"] destination=[:pick $first 0] }", markMasq)
		writeMoveMarks(w, "/ip")
	}
	w("}")
	w("")
	v6 := writeIPv6(w, cfg, d)
	if c := connCleanup(d); c != "" {
		w("# Connections the router tracked before these rules keep their old translation until they end (a LAN")
		w("# client's stuck UDP stream, say). To drop the ones to the forwards' ports now (connections to those ports")
		w("# elsewhere are dropped once too, and reconnect), run:")
		w("#   %s", c)
		w("")
	}
	writePublicAddress(w, cfg)
	writeDNS(w, cfg, dns)
	writeUpdater(w, cfg, v6, len(dns) > 0)
	return b.String()
}

// writeIPv6 writes the /ipv6 firewall rules of the forwards with a literal to6 and reports whether there
// were any. The list of the router's global addresses they match is the updater's to fill.
func writeIPv6(w func(string, ...any), cfg *config.Config, d *plan.Desired) bool {
	nat := natItems6(d, cfg.LAN.Interface)
	if len(nat) == 0 {
		return false
	}
	w("# IPv6: the forwards with a literal to6, on the router's global IPv6 addresses (list %s in /ipv6 firewall", ListWAN)
	w("# address-list, kept by the updater). A to6 written as an interface identifier is not forwarded on RouterOS:")
	w("# following the LAN prefix would take a script of its own.")
	for _, it := range nat {
		if it.key == markMasq {
			w("# Hairpin masquerade of the connections the mangle rule below marked.")
		}
		writeAdd(w, cfg, "/ipv6 firewall nat", it)
	}
	for i, it := range mangleItems6(d, cfg.LAN.Interface) {
		if i == 0 {
			w("# Mark LAN clients' connections to the router's global addresses on a forward's port that carry no mark of")
			w("# yours (before dst-nat; first in prerouting).")
		}
		writeAdd(w, cfg, "/ipv6 firewall mangle", it)
	}
	for _, it := range filterItems6(d, cfg.WAN.Interface) {
		w("# Let internet callers through to the IPv6 forwards: RouterOS's default IPv6 forward chain has no \"not")
		w("# DSTNATed\" exception and ends by dropping what does not come from the LAN. This accept goes right before")
		w("# that final drop (below), after your own more specific drops.")
		writeAdd(w, cfg, "/ipv6 firewall filter", it)
	}
	w("{")
	writeMoveForwards(w, "/ipv6")
	writeMoveMarks(w, "/ipv6")
	w("  :local rules [/ipv6 firewall filter find where chain=forward && !dynamic && !disabled && !(comment~\"^%s\")]", MarkerPrefix)
	w("  :if ([:len $rules] > 0) do={")
	w("    :local last [:pick $rules ([:len $rules] - 1)]")
	w("    :local act [/ipv6 firewall filter get $last action]")
	w("    :if ($act = \"drop\" || $act = \"reject\") do={ /ipv6 firewall filter move [find where comment=%s] destination=$last }", quoteAlways(markAccept))
	w("  }")
	w("}")
	w("")
	return true
}

// writeMoveForwards writes, inside a script block, the moves that put hairpin's dst-nat rules of family menu
// ("/ip", "/ipv6") above the first dst-nat, netmap or redirect rule of the user's, in dstnat and in output.
// It declares the block's local $first.
func writeMoveForwards(w func(string, ...any), menu string) {
	w("  :local first [%s firewall nat find where chain=dstnat && !dynamic && !(comment~\"^%s\") && (action=\"dst-nat\" || action=\"netmap\" || action=\"redirect\")]", menu, MarkerPrefix)
	w("  :if ([:len $first] > 0) do={ %s firewall nat move [find where chain=dstnat && comment~\"^%s\"] destination=[:pick $first 0] }", menu, MarkerPrefix)
	w("  :set first [%s firewall nat find where chain=output && !dynamic && !(comment~\"^%s\") && (action=\"dst-nat\" || action=\"netmap\" || action=\"redirect\")]", menu, MarkerPrefix)
	w("  :if ([:len $first] > 0) do={ %s firewall nat move [find where chain=output && comment~\"^%s\"] destination=[:pick $first 0] }", menu, MarkerPrefix)
}

// writeMoveMarks writes, after writeMoveForwards, the move that puts hairpin's mark rules of family menu first
// in prerouting.
func writeMoveMarks(w func(string, ...any), menu string) {
	w("  :set first [%s firewall mangle find where chain=prerouting && !dynamic && !(comment~\"^%s\")]", menu, MarkerPrefix)
	w("  :if ([:len $first] > 0) do={ %s firewall mangle move [find where chain=prerouting && comment~\"^%s\"] destination=[:pick $first 0] }", menu, MarkerPrefix)
}

// Names of the scheduler entries Script creates: one run at startup (interval 0: MikroTik's Scheduler manual
// says an entry with another interval does not run at startup) and a slow fallback for WANs that raise no
// event the script can hook (a static address, a public address behind another NAT).
const (
	startupName  = "hairpin-startup"
	fallbackName = "hairpin-fallback"
	// FallbackInterval is how often the fallback entry runs the updater.
	FallbackInterval = "10m"
)

// The hook Script appends to the WAN's DHCP client script or to the PPP profiles' on-up script. It sits
// between two marker lines, so running the export again (or `hairpin down`) cuts out exactly it and keeps
// everything of the user's script around it.
const (
	hookBegin = "# " + MarkerPrefix + "hook"
	hookEnd   = "# " + MarkerPrefix + "hook-end"
)

// hookText is the hook for a WAN interface: it runs the updater when the event is the WAN's ($interface is
// set by both the DHCP client and PPP for their scripts).
func hookText(wan string) string {
	return hookBegin + "\n:if ([:tostr $interface] = " + quoteAlways(wan) + ") do={ :do { /system script run " + UpdaterName +
		" } on-error={ :log warning \"hairpin: " + UpdaterName + " failed\" } }\n" + hookEnd + "\n"
}

// cutHook returns s without hairpin's hook (the lines from hookBegin to hookEnd) and whether it had one: what
// the export's unhook does on the router, for `hairpin down`.
func cutHook(s string) (string, bool) {
	b := strings.Index(s, hookBegin)
	if b < 0 {
		return s, false
	}
	e := strings.Index(s[b:], hookEnd)
	if e < 0 {
		return s, false
	}
	end := min(b+e+len(hookEnd)+1, len(s))
	return s[:b] + s[end:], true
}

// writeGuards stops the import before it changes anything when a script or scheduler entry of the names
// Script uses exists without hairpin's marker: it is the user's, and /system script add would fail on it
// halfway through the import.
func writeGuards(w func(string, ...any)) {
	w("# A script or scheduler entry of yours with one of hairpin's names stops the import here, before anything")
	w("# changes: rename yours (hairpin never changes what it did not create).")
	w(":if ([:len [/system script find where name=%s && comment!=%s]] > 0) do={ :error %s }", quoteAlways(UpdaterName), quoteAlways(markUpdater),
		quoteAlways("hairpin: a script named "+UpdaterName+" exists that hairpin did not create; rename it and run the import again"))
	w(":if ([:len [/system script find where name=%s && comment!=%s]] > 0) do={ :error %s }", quoteAlways(DNSName), quoteAlways(markDDNS),
		quoteAlways("hairpin: a script named "+DNSName+" exists that hairpin did not create; rename it and run the import again"))
	w(":if ([:len [/system scheduler find where (name=%s || name=%s) && comment!=%s]] > 0) do={ :error %s }", quoteAlways(startupName), quoteAlways(fallbackName),
		quoteAlways(markUpdater), quoteAlways("hairpin: a scheduler entry named "+startupName+" or "+fallbackName+" exists that hairpin did not create; rename it and run the import again"))
}

// writeUnhook cuts hairpin's hook out of every DHCP client script and PPP on-up script that holds it.
func writeUnhook(w func(string, ...any)) {
	w("{")
	w("  :local unhook do={")
	w("    :local b [:find $hpText %s]", quoteAlways(hookBegin))
	w("    :local e [:find $hpText %s]", quoteAlways(hookEnd))
	w("    :if ([:typeof $b] != \"num\" || [:typeof $e] != \"num\") do={ :return $hpText }")
	w("    :return ([:pick $hpText 0 $b] . [:pick $hpText ($e + %d) [:len $hpText]])", len(hookEnd)+1)
	w("  }")
	w("  :foreach c in=[/ip dhcp-client find where script~%s] do={ /ip dhcp-client set $c script=[$unhook hpText=[/ip dhcp-client get $c script]] }", quoteAlways(hookBegin))
	w("  :foreach c in=[/ppp profile find where on-up~%s] do={ /ppp profile set $c on-up=[$unhook hpText=[/ppp profile get $c on-up]] }", quoteAlways(hookBegin))
	w("}")
}

// writeUpdater writes the updater script, the hooks that run it on the WAN's own events, its scheduler
// entries and a first run. Its variables are named unlike any property of the menus it searches: in
// `find where list=$list` RouterOS reads `list` as the entry's own property, so the comparison is always true
// (the manual's reserved variable names).
func writeUpdater(w func(string, ...any), cfg *config.Config, v6, dns bool) {
	cloud := doubleNATCloud(cfg)
	w("# %s keeps list %s equal to %s's IPv4 addresses.", UpdaterName, ListWAN, cfg.WAN.Interface)
	if v6 {
		w("# With IPv6 forwards it also keeps the /ipv6 list %s equal to its global IPv6 addresses (or, when it has", ListWAN)
		w("# none, to %s's: an ISP may route the delegated prefix to a WAN with a link-local address only).", cfg.LAN.Interface)
	}
	w("# A WAN without an address (down, between leases) changes nothing: the list keeps the last address. Every")
	w("# change is logged (topic script, info: \"hairpin: ...\").")
	w("/system script add name=%s comment=%s policy=read,write,test dont-require-permissions=no source={", UpdaterName, quote(markUpdater))
	w("  # :local, not :global: every value is read fresh on each run and forgotten after it, so no address from an")
	w("  # earlier run (or from DNS, which may still hold the old one) can end up in the rules.")
	w("  :local sync do={")
	w("    :foreach i in=[/ip firewall address-list find where list=$hpList && comment=$hpMark] do={")
	w("      :local a [:tostr [/ip firewall address-list get $i address]]")
	w("      :if ([:len [:find $hpWant $a]] = 0) do={")
	w("        /ip firewall address-list remove $i")
	w("        :log info (\"hairpin: removed \" . $a . \" from \" . $hpList)")
	w("      }")
	w("    }")
	w("    # An entry of your own with the same address already provides it (RouterOS refuses a duplicate).")
	w("    :foreach a in=$hpWant do={")
	w("      :if ([:len [/ip firewall address-list find where list=$hpList && address=$a]] = 0) do={")
	w("        /ip firewall address-list add list=$hpList address=$a comment=$hpMark")
	w("        :log info (\"hairpin: added \" . $a . \" to \" . $hpList)")
	w("      }")
	w("    }")
	w("  }")
	w("  :local wan [:toarray \"\"]")
	w("  :foreach i in=[/ip address find where interface=%s && !disabled && !invalid] do={", quoteAlways(cfg.WAN.Interface))
	w("    :local a [:tostr [/ip address get $i address]]")
	w("    :set wan ($wan, [:pick $a 0 [:find $a \"/\"]])")
	w("  }")
	w("  :if ([:len $wan] = 0) do={")
	w("    :log warning %s", quoteAlways("hairpin: "+cfg.WAN.Interface+" has no IPv4 address; "+ListWAN+" keeps its entries"))
	w("  } else={")
	if cloud {
		w("    # Behind another NAT, LAN clients use the public address: add the one /ip cloud detected. It needs")
		w("    # /ip cloud set ddns-enabled=yes; without it a private WAN address is all the list gets, and it says so.")
		w("    :local pub \"\"")
		w("    :do { :set pub [:tostr [/ip cloud get public-address]] } on-error={}")
		w("    :if ([:len $pub] > 0 && [:len [:find $wan $pub]] = 0) do={ :set wan ($wan, $pub) }")
		w("    :local first [:pick $wan 0]")
		w("    :if ([:len $pub] = 0 && ($first in 10.0.0.0/8 || $first in 172.16.0.0/12 || $first in 192.168.0.0/16 || $first in 100.64.0.0/10)) do={")
		w("      :log warning %s", quoteAlways("hairpin: the WAN address is private and /ip cloud has no public address: LAN clients using the public name reach the upstream box, not your forwards; run /ip cloud set ddns-enabled=yes or add the public address to "+ListWAN+" yourself"))
		w("    }")
	}
	w("    $sync hpList=%s hpMark=%s hpWant=$wan", quoteAlways(ListWAN), quoteAlways(markWAN))
	w("  }")
	if len(cfg.LAN.Subnets) == 0 {
		w("  :local lan [:toarray \"\"]")
		w("  :foreach i in=[/ip address find where interface=%s && !disabled && !invalid] do={", quoteAlways(cfg.LAN.Interface))
		w("    :local a [:tostr [/ip address get $i address]]")
		w("    :set lan ($lan, ([:tostr [/ip address get $i network]] . [:pick $a [:find $a \"/\"] [:len $a]]))")
		w("  }")
		w("  :if ([:len $lan] > 0) do={ $sync hpList=%s hpMark=%s hpWant=$lan }", quoteAlways(ListLAN), quoteAlways(markLAN))
	}
	if v6 {
		writeUpdater6(w, cfg)
	}
	if dns {
		writeRunDNS(w)
	}
	w("}")
	writeHooks(w, cfg, cloud)
	w("/system script run %s", UpdaterName)
}

// writeHooks makes the router run the updater on its own events, chosen at import by what the router has: the
// WAN's DHCP client (its script runs on every lease change), else, for a PPP WAN (PPPoE and the other PPP
// clients), every PPP profile's on-up (the hook checks $interface, so connections of a PPP server do not
// count). A profile's address-list is not used: on a profile that also serves a PPP server it would put the
// remote peers' addresses in the list. A scheduler entry runs the updater at startup (interval 0), and a slow
// one covers WANs with no event to hook (a static address) and the public address /ip cloud detects behind
// another NAT, which no local event announces.
func writeHooks(w func(string, ...any), cfg *config.Config, cloud bool) {
	run := quoteAlways("/system script run " + UpdaterName)
	w("")
	w("# Run %s when %s's address changes: from its DHCP client's script (appended between marker lines;", UpdaterName, cfg.WAN.Interface)
	w("# your own script stays as it is), or for a PPP WAN from the PPP profiles' on-up; at startup; and every %s", FallbackInterval)
	w("# when neither event exists%s.", map[bool]string{true: " or another NAT is in front (the public address changes unseen)", false: ""}[cloud])
	w("{")
	w("  :local hook %s", quoteAlways(hookText(cfg.WAN.Interface)))
	w("  :local append do={")
	w("    :local t [:tostr $hpText]")
	w("    :if ([:len $t] > 0 && [:pick $t ([:len $t] - 1)] != \"\\n\") do={ :set t ($t . \"\\n\") }")
	w("    :return ($t . $hpHook)")
	w("  }")
	w("  :local hooked false")
	w("  :foreach c in=[/ip dhcp-client find where interface=%s] do={", quoteAlways(cfg.WAN.Interface))
	w("    /ip dhcp-client set $c script=[$append hpText=[/ip dhcp-client get $c script] hpHook=$hook]")
	w("    :set hooked true")
	w("    :log info %s", quoteAlways("hairpin: the DHCP client of "+cfg.WAN.Interface+" runs "+UpdaterName+" on every lease change"))
	w("  }")
	w("  :if (!$hooked && [:len [/interface find where name=%s && type~%s]] > 0) do={", quoteAlways(cfg.WAN.Interface), quoteAlways("^(pppoe|pptp|l2tp|sstp|ovpn)-out$"))
	w("    :foreach p in=[/ppp profile find] do={")
	w("      /ppp profile set $p on-up=[$append hpText=[/ppp profile get $p on-up] hpHook=$hook]")
	w("    }")
	w("    :set hooked true")
	w("    :log info %s", quoteAlways("hairpin: the PPP profiles' on-up runs "+UpdaterName+" when "+cfg.WAN.Interface+" comes up"))
	w("  }")
	w("  /system scheduler add name=%s comment=%s start-time=startup interval=0 policy=read,write,test on-event=%s", startupName, quote(markUpdater), run)
	if cloud {
		w("  /system scheduler add name=%s comment=%s interval=%s policy=read,write,test on-event=%s", fallbackName, quote(markUpdater), FallbackInterval, run)
	} else {
		w("  :if (!$hooked) do={")
		w("    /system scheduler add name=%s comment=%s interval=%s policy=read,write,test on-event=%s", fallbackName, quote(markUpdater), FallbackInterval, run)
		w("    :log info %s", quoteAlways("hairpin: no DHCP client or PPP on "+cfg.WAN.Interface+"; "+UpdaterName+" runs every "+FallbackInterval))
		w("  }")
	}
	w("}")
}

// maxCleanupPorts bounds the ports connCleanup's regular expression lists.
const maxCleanupPorts = 64

// connCleanup returns the command that removes the tracked connections to the forwards' external ports, or
// "" when there are too many ports to list (a range of more than maxCleanupPorts).
func connCleanup(d *plan.Desired) string {
	var ports []string
	seen := map[string]bool{}
	for _, r := range d.Rules {
		if r.Port.Len() > maxCleanupPorts {
			return ""
		}
		for p := r.Port.First; ; p++ {
			if s := strconv.Itoa(int(p)); !seen[s] {
				seen[s] = true
				ports = append(ports, s)
			}
			if p == r.Port.Last {
				break
			}
		}
	}
	if len(ports) == 0 || len(ports) > maxCleanupPorts {
		return ""
	}
	return "/ip firewall connection remove [find where dst-address~" + quoteAlways(":("+strings.Join(ports, "|")+")$") + "]"
}

// writePublicAddress says where the public address behind another NAT comes from, and turns IP Cloud on only
// when the config asks for it (routeros.public_address: ip-cloud): it makes the router report to MikroTik's
// servers, which is the user's choice.
func writePublicAddress(w func(string, ...any), cfg *config.Config) {
	if cfg.WAN.DoubleNAT == config.DoubleNATOff {
		return
	}
	switch {
	case !doubleNATCloud(cfg):
		w("# Behind another NAT LAN clients use the public address; with routeros.public_address: off nothing here")
		w("# finds it: add it to list %s yourself (/ip firewall address-list add list=%s address=PUBLIC).", ListWAN, ListWAN)
	case cfg.RouterOS != nil && cfg.RouterOS.PublicAddressSet:
		w("# routeros.public_address: ip-cloud: behind another NAT the updater reads the public address from IP Cloud,")
		w("# RouterOS's own detection, which this turns on. It makes the router report to MikroTik's cloud servers")
		w("# and gives it a name under sn.mynetname.net.")
		w("/ip cloud set ddns-enabled=yes")
	default:
		w("# Behind another NAT LAN clients use the public address, which the updater reads from IP Cloud (/ip cloud).")
		w("# IP Cloud is off on a new router and this script does not turn it on (it reports to MikroTik's servers):")
		w("# run /ip cloud set ddns-enabled=yes yourself, or set routeros.public_address: ip-cloud to have the export")
		w("# do it, or add the public address to list %s yourself. Without any of them the updater logs a warning", ListWAN)
		w("# while the WAN address is private.")
	}
	w("")
}

// doubleNATCloud reports whether the updater adds the public address /ip cloud detects: behind a possible
// second NAT, unless routeros.public_address is off.
func doubleNATCloud(cfg *config.Config) bool {
	return cfg.WAN.DoubleNAT != config.DoubleNATOff && (cfg.RouterOS == nil || cfg.RouterOS.IPCloud)
}

// writeUpdater6 writes the updater's IPv6 part. RouterOS may show an IPv6 list entry with its /128, so
// entries are compared without it, and an add that the router refuses as a duplicate is not an error.
func writeUpdater6(w func(string, ...any), cfg *config.Config) {
	w("  :local sync6 do={")
	w("    :foreach i in=[/ipv6 firewall address-list find where list=$hpList && comment=$hpMark] do={")
	w("      :local e [:tostr [/ipv6 firewall address-list get $i address]]")
	w("      :if ([:typeof [:find $e \"/\"]] = \"num\") do={ :set e [:pick $e 0 [:find $e \"/\"]] }")
	w("      :if ([:len [:find $hpWant $e]] = 0) do={")
	w("        /ipv6 firewall address-list remove $i")
	w("        :log info (\"hairpin: removed \" . $e . \" from /ipv6 \" . $hpList)")
	w("      }")
	w("    }")
	w("    :foreach a in=$hpWant do={")
	w("      :local a128 ($a . \"/128\")")
	w("      :if ([:len [/ipv6 firewall address-list find where list=$hpList && (address=$a || address=$a128)]] = 0) do={")
	w("        :do {")
	w("          /ipv6 firewall address-list add list=$hpList address=$a comment=$hpMark")
	w("          :log info (\"hairpin: added \" . $a . \" to /ipv6 \" . $hpList)")
	w("        } on-error={}")
	w("      }")
	w("    }")
	w("  }")
	w("  # Global addresses only: not link-local (fe80::/10) nor ULA (fc00::/7).")
	w("  :local global6 do={")
	w("    :local out [:toarray \"\"]")
	w("    # A deprecated address is on its way out (the prefix moved): new connections must not be sent to it.")
	w("    :foreach i in=[/ipv6 address find where interface=$hpIface && !disabled && !invalid && !deprecated] do={")
	w("      :local a [:tostr [/ipv6 address get $i address]]")
	w("      :set a [:pick $a 0 [:find $a \"/\"]]")
	w("      :local p [:pick $a 0 2]")
	w("      :if ($p != \"fe\" && $p != \"fd\" && $p != \"fc\") do={ :set out ($out, $a) }")
	w("    }")
	w("    :return $out")
	w("  }")
	w("  :local wan6 [$global6 hpIface=%s]", quoteAlways(cfg.WAN.Interface))
	w("  :if ([:len $wan6] = 0) do={ :set wan6 [$global6 hpIface=%s] }", quoteAlways(cfg.LAN.Interface))
	w("  :if ([:len $wan6] > 0) do={ $sync6 hpList=%s hpMark=%s hpWant=$wan6 }", quoteAlways(ListWAN), quoteAlways(markWAN))
}

// writeAdd writes the add command of one item. An item that matches the WAN or LAN interface by name matches
// the default configuration's interface list instead when, at import, the interface is in it (the REST
// backend's withLists).
func writeAdd(w func(string, ...any), cfg *config.Config, menu string, it item) {
	iface := it.props["in-interface"]
	list := map[string]string{cfg.WAN.Interface: IfListWAN, cfg.LAN.Interface: IfListLAN}[iface]
	if iface == "" || list == "" {
		w("%s add %s comment=%s", menu, renderProps(it.props), quote(it.key))
		return
	}
	byList := item{key: it.key, props: maps.Clone(it.props)}
	useLists([]item{byList}, map[string]string{iface: list})
	w(":if ([:len [/interface list member find where list=%s && interface=%s && !disabled]] > 0) do={ %s add %s comment=%s } else={ %s add %s comment=%s }",
		quoteAlways(list), quoteAlways(iface), menu, renderProps(byList.props), quote(it.key), menu, renderProps(it.props), quote(it.key))
}

func renderProps(p Entry) string {
	var parts []string
	for _, k := range propOrder {
		v, ok := p[k]
		if !ok {
			continue
		}
		switch v {
		case "true":
			v = "yes"
		case "false":
			v = "no"
		}
		parts = append(parts, k+"="+quote(v))
	}
	return strings.Join(parts, " ")
}

// quote writes a value for the RouterOS console: bare when it is plain, else in double quotes (quoteAlways).
func quote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-/_,", r))
	}) < 0 {
		return v
	}
	return quoteAlways(v)
}

// quoteAlways writes a RouterOS string literal: in double quotes, with \, ", $ and ? escaped (the console
// reads $ as a variable and ? as a request for help) and bytes outside printable ASCII as \XX.
func quoteAlways(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' || c == '"' || c == '$' || c == '?':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// line writes one formatted line of a script. Not inlined: Script and SetupScript call it from a few hundred
// places, and an inlined copy at each would grow the router build by ~5 KB.
//
//go:noinline
func line(b *strings.Builder, format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
