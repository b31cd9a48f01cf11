package routeros

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestScriptMatchesSchema checks every `/menu ... verb key=value` command of the exported scripts, at the top
// level and inside the updater's source, against the /console/inspect schema of the oldest and the newest
// release: menu, verb, parameter names, enumerated values, and the properties a `find where` compares.
func TestScriptMatchesSchema(t *testing.T) {
	for _, name := range []string{"cameras", "pppoe", "double-nat", "allowlist", "ipv6"} {
		cfg, err := config.Load(filepath.Join("testdata", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		script := exportScript(t, cfg)
		for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
			t.Run(name+"/RouterOS-"+v, func(t *testing.T) {
				c := checkScript(rostest.MustSchema(v), script)
				for _, p := range c.problems {
					t.Error(p)
				}
				// The check must have seen the rules and the updater's inner commands, not skipped them.
				for _, want := range []string{"ip/firewall/nat add", "ip/firewall/mangle add", "ip/firewall/address-list add",
					"ip/firewall/address-list find", "ip/firewall/address-list remove", "ip/address find", "system/script add",
					"system/scheduler add", "ip/firewall/nat move"} {
					if !slices.Contains(c.seen, want) {
						t.Errorf("the check never saw %q (saw %v)", want, c.seen)
					}
				}
				if name != "ipv6" {
					return
				}
				for _, want := range []string{"ipv6/firewall/nat add", "ipv6/firewall/mangle add", "ipv6/firewall/address-list add",
					"ipv6/firewall/address-list find", "ipv6/firewall/address-list remove", "ipv6/address find", "ipv6/firewall/nat move"} {
					if !slices.Contains(c.seen, want) {
						t.Errorf("the check never saw %q (saw %v)", want, c.seen)
					}
				}
			})
		}
	}
}

// TestScriptSchemaCheckCatchesIPv6Mistakes: the IPv6 menus are checked as strictly, with their own words.
func TestScriptSchemaCheckCatchesIPv6Mistakes(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "ipv6.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every copy is broken: a rule on an interface is written twice, by list and by name.
	assertCatches(t, Script(cfg), []mistake{
		{"IPv4's to-addresses", `to-address="fd00::180"`, `to-addresses="fd00::180"`, "unknown parameter to-addresses"},
		{"a chain IPv6 mangle lacks", "/ipv6 firewall mangle add chain=prerouting", "/ipv6 firewall mangle add chain=prerouting connection-nat-state=dstnap", "input does not match any value of connection-nat-state"},
		{"a property /ipv6 address lacks", "/ipv6 address find where interface=", "/ipv6 address find where network=", "no property network"},
		{"no IPv6 forward accept", "/ipv6 firewall filter add chain=forward action=accept", "/ipv6 firewall filter add chain=forward action=passthrough", "the default IPv6 firewall drops every internet caller"},
	}, rostest.Oldest(), rostest.Newest())
}

// mistake is a deliberate break of a good script (every old replaced by new) and the problem the check must
// report for it.
type mistake struct{ name, old, new, want string }

// assertCatches is the negative control of the script check: each broken script fails it on every release.
func assertCatches(t *testing.T, good string, mistakes []mistake, versions ...string) {
	t.Helper()
	for _, m := range mistakes {
		for _, v := range versions {
			t.Run(m.name+"/RouterOS-"+v, func(t *testing.T) {
				if !strings.Contains(good, m.old) {
					t.Fatalf("the script has no %q", m.old)
				}
				p := checkScript(rostest.MustSchema(v), strings.ReplaceAll(good, m.old, m.new)).problems
				if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, m.want) }) {
					t.Errorf("broken script passed; problems %v, want one containing %q", p, m.want)
				}
			})
		}
	}
}

// TestScriptSchemaCheckCatchesMistakes is the negative control: deliberately broken scripts fail the check.
func TestScriptSchemaCheckCatchesMistakes(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "cameras.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := Script(cfg)
	s := rostest.MustSchema(rostest.Newest())
	if p := checkScript(s, good).problems; len(p) != 0 {
		t.Fatalf("the good script fails: %v", p)
	}
	assertCatches(t, good, []mistake{
		{"the old masquerade", "/ip firewall nat add chain=srcnat action=masquerade connection-mark=hairpin-masq",
			"/ip firewall nat add chain=srcnat action=masquerade connection-nat-state=dstnat", "unknown parameter connection-nat-state"},
		{"a misspelt action", "action=dst-nat", "action=dst-nap", "input does not match any value of action"},
		{"place-before in an address list", "/ip firewall address-list add list=$hpList",
			"/ip firewall address-list add place-before=0 list=$hpList", "unknown parameter place-before"},
		{"a reserved variable name", "find where list=$hpList && comment=$hpMark]",
			"find where list=$list && comment=$hpMark]", "variable $list is named like the property list"},
		{"a property that does not exist", "find where interface=", "find where iface=", "no property iface"},
		{"a menu that does not exist", "/ip firewall mangle add", "/ip firewall mangel add", "unknown command"},
		{"a policy that does not exist", "policy=read,write,test dont", "policy=read,write,rest-api dont", "input does not match any value of policy"},
	}, rostest.Newest())
}

// readOnlyProps are properties RouterOS shows (and `find where` compares) but no command sets.
var readOnlyProps = map[string]bool{"dynamic": true, "invalid": true, "bytes": true, "packets": true,
	"actual-interface": true, "run-count": true, "owner": true}

// readOnlyIn are read-only properties of one menu that the script compares, which the schema (commands and
// their parameters) cannot list: what `print` shows for items the router makes itself. They come from
// MikroTik's manual pages of these menus, not from /console/inspect.
var readOnlyIn = map[string]map[string]bool{
	"interface":              {"type": true, "running": true},
	"ipv6/address":           {"deprecated": true},
	"ip/firewall/connection": {"protocol": true, "src-address": true, "dst-address": true, "reply-src-address": true, "reply-dst-address": true},
}

// uncheckedCommands are commands the schema file does not list; none since it holds every command of the
// menus hairpin uses (system/script run, tool fetch included).
var uncheckedCommands = map[string]bool{}

type scriptCheck struct {
	s        *rostest.Schema
	problems []string
	seen     []string
}

func checkScript(s *rostest.Schema, script string) *scriptCheck {
	c := &scriptCheck{s: s}
	var toks []string
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		toks = append(toks, tokenize(line)...)
		toks = append(toks, "\n")
	}
	c.block(toks, "")
	c.flow(script)
	return c
}

// flow checks what the schema cannot: rules every router needs for the script's forwards to work. A default
// IPv6 firewall drops forwarded connections from the WAN that no rule accepts, so IPv6 dst-nat rules need the
// accept of dst-natted connections.
func (c *scriptCheck) flow(script string) {
	var dnat6, accept6 bool
	for _, line := range strings.Split(script, "\n") {
		switch {
		case strings.HasPrefix(line, "/ipv6 firewall nat add chain=dstnat action=dst-nat "):
			dnat6 = true
		case strings.Contains(line, "/ipv6 firewall filter add chain=forward action=accept ") && strings.Contains(line, " connection-nat-state=dstnat"):
			accept6 = true
		}
	}
	if dnat6 && !accept6 {
		c.problem("IPv6 dst-nat rules without /ipv6 firewall filter accept of connection-nat-state=dstnat: the default IPv6 firewall drops every internet caller")
	}
}

func (c *scriptCheck) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// tokenize splits a line into words (a quoted string stays part of its word), and the brackets [ ] { } ( ) ;.
func tokenize(line string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			cur.WriteString(line[i:min(j+1, len(line))])
			i = j
		case ch == ' ' || ch == '\t':
			flush()
		case strings.IndexByte("[]{}();", ch) >= 0:
			flush()
			out = append(out, string(ch))
		default:
			cur.WriteByte(ch)
		}
	}
	flush()
	return out
}

// closing returns the index of the bracket that closes toks[i].
func closing(toks []string, i int) int {
	open, shut := toks[i], map[string]string{"[": "]", "{": "}", "(": ")"}[toks[i]]
	depth := 0
	for j := i; j < len(toks); j++ {
		switch toks[j] {
		case open:
			depth++
		case shut:
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(toks)
}

// block checks a sequence of commands; menu is the menu a bare verb (`[find ...]`) applies to.
func (c *scriptCheck) block(toks []string, menu string) {
	for i := 0; i < len(toks); {
		t := toks[i]
		switch {
		case t == "\n" || t == ";" || t == ")" || t == "]" || t == "}":
			i++
		case t == "[" || t == "{" || t == "(":
			j := closing(toks, i)
			c.block(toks[i+1:min(j, len(toks))], menu)
			i = j + 1
		case strings.HasPrefix(t, "/"):
			i = c.command(toks, i, "")
		case menu != "" && c.s.HasCommand(menu, t):
			i = c.command(toks, i, menu)
		default:
			i++
		}
	}
}

// command checks one command starting at toks[i] and returns the index after it.
func (c *scriptCheck) command(toks []string, i int, menu string) int {
	if menu == "" {
		var path []string
		for ; i < len(toks); i++ {
			path = append(path, strings.Split(strings.Trim(toks[i], "/"), "/")...)
			m := strings.Join(path, "/")
			if i+1 < len(toks) && (c.s.HasMenu(m) && (c.s.HasCommand(m, toks[i+1]) || uncheckedCommands[m+" "+toks[i+1]])) {
				menu = m
				i++
				break
			}
			if len(path) > 4 || i+1 >= len(toks) || toks[i+1] == "\n" || strings.ContainsAny(toks[i+1], "=[") {
				c.problem("unknown command %q", strings.Join(path, " "))
				return i + 1
			}
		}
	}
	verb := toks[i]
	c.seen = append(c.seen, menu+" "+verb)
	if uncheckedCommands[menu+" "+verb] {
		return i + 1
	}
	if !c.s.HasCommand(menu, verb) {
		c.problem("%s: no command %s", menu, verb)
	}
	args := map[string]string{}
	defer func() {
		// Not in the schema but in MikroTik's Scheduler manual: an entry with start-time=startup and an interval
		// other than 0 does not run at startup.
		if menu == "system/scheduler" && verb == "add" && args["start-time"] == "startup" && args["interval"] != "" && args["interval"] != "0" && args["interval"] != "0s" {
			c.problem("system/scheduler add: start-time=startup with interval=%s never runs at startup (the Scheduler manual)", args["interval"])
		}
	}()
	for i++; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t == "\n" || t == ";" || t == "]" || t == "}" || t == ")":
			return i
		case t == "[" || t == "{" || t == "(":
			j := closing(toks, i)
			c.block(toks[i+1:min(j, len(toks))], menu)
			i = j
		case t == "where" && (verb == "find" || verb == "print"):
			j := i + 1
			for j < len(toks) && toks[j] != "\n" && toks[j] != "]" && toks[j] != "}" && toks[j] != ";" {
				j++
			}
			c.where(menu, toks[i+1:j])
			i = j - 1
		default:
			k, v, ok := strings.Cut(t, "=")
			if !ok {
				continue // a positional value: an id, $variable, a property name for get
			}
			args[k] = unquote(v)
			if !c.s.HasParam(menu, verb, k) {
				c.problem("%s %s: unknown parameter %s", menu, verb, k)
				continue
			}
			if v == "" || strings.HasPrefix(v, "$") {
				continue // a block or bracket follows, or a variable
			}
			if msg := c.s.CheckValue(menu, verb, k, unquote(v)); msg != "" {
				c.problem("%s %s: %s (%s)", menu, verb, msg, t)
			}
		}
	}
	return i
}

// where checks the comparisons of a `find where` expression: every name must be a property of the menu, an
// enumerated value one of its choices, and a variable compared to a property must not be named like a
// property: RouterOS would read the item's own property instead (the manual's reserved variable names).
func (c *scriptCheck) where(menu string, toks []string) {
	props := c.s.Properties(menu)
	for _, t := range toks {
		t = strings.TrimLeft(t, "!")
		if t == "" || t == "&&" || t == "||" || t == "and" || t == "or" || strings.ContainsAny(t[:1], "([{)]}") {
			continue
		}
		name, val := t, ""
		if i := strings.IndexAny(t, "=~<>"); i >= 0 {
			name, val = strings.TrimRight(t[:i], "!"), strings.TrimLeft(t[i:], "=~<>")
		}
		if !props[name] && !readOnlyProps[name] && !readOnlyIn[menu][name] {
			c.problem("%s find where: no property %s", menu, name)
			continue
		}
		if v, ok := strings.CutPrefix(val, "$"); ok {
			if props[v] || readOnlyProps[v] || readOnlyIn[menu][v] {
				c.problem("%s find where: variable $%s is named like the property %s, which RouterOS reads instead", menu, v, v)
			}
			continue
		}
		if val != "" && !strings.Contains(t, "~") {
			for _, cmd := range []string{"add", "set"} {
				if c.s.HasParam(menu, cmd, name) {
					if msg := c.s.CheckValue(menu, cmd, name, unquote(val)); msg != "" {
						c.problem("%s find where: %s (%s)", menu, msg, t)
					}
					break
				}
			}
		}
	}
}

// unquote reads a RouterOS string literal (or returns a bare word as it is).
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			if i+2 < len(v) {
				if n, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(n))
					i += 2
					continue
				}
			}
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// TestOldScriptFails is a negative control from history: the export hairpin wrote before the schema check
// (testdata/old-cameras.rsc) fails it on both mistakes a real router would have shown.
func TestOldScriptFails(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "old-cameras.rsc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
		p := checkScript(rostest.MustSchema(v), string(old)).problems
		for _, want := range []string{"ip/firewall/nat add: unknown parameter connection-nat-state", "variable $list is named like the property list"} {
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, want) }) {
				t.Errorf("RouterOS %s: the old script passed %q; problems %v", v, want, p)
			}
		}
	}
}

func TestCheckedReleasesNamed(t *testing.T) {
	if want := rostest.Oldest() + " to " + rostest.Newest(); CheckedReleases != want {
		t.Errorf("CheckedReleases = %q, the schema holds %s", CheckedReleases, want)
	}
}

// TestScriptQuotesInterfaceNames: RouterOS interface names may hold spaces and characters the console reads
// as syntax ($ variables, ? help, quotes); every interpolated value is quoted so the script stays one
// command per line and the schema check still passes.
func TestScriptQuotesInterfaceNames(t *testing.T) {
	y := "backend: routeros\nrouteros: {url: https://192.168.88.1, username: u, password_env: P}\n" +
		"wan: {interface: 'ether1 - uplink \"$isp\"?', double_nat: auto}\nlan: {interface: 'bridge lan'}\n" +
		"forwards:\n  - {name: cam, port: 8090, to: \"192.168.88.180:80\"}\n"
	cfg := parseConfig(t, y)
	script := Script(cfg)
	for _, want := range []string{
		`in-interface="ether1 - uplink \"\$isp\"\?"`,
		`find where interface="ether1 - uplink \"\$isp\"\?" && !disabled`,
		`find where interface="bridge lan" && !disabled`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %s:\n%s", want, script)
		}
	}
	for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
		c := checkScript(rostest.MustSchema(v), script)
		for _, p := range c.problems {
			t.Errorf("RouterOS %s: %s", v, p)
		}
		if !slices.Contains(c.seen, "ip/firewall/nat add") {
			t.Errorf("the check saw no nat add: %v", c.seen)
		}
	}
	if got := unquote(quoteAlways("ether1 - uplink \"$isp\"?\\ caf\u00e9")); got != "ether1 - uplink \"$isp\"?\\ caf\u00e9" {
		t.Errorf("quoteAlways does not round-trip: %q", got)
	}
}

// TestScriptAndRESTAgree: the rules the exported script adds are the rules the REST backend creates.
func TestScriptAndRESTAgree(t *testing.T) {
	f := newFixture(t)
	f.apply(f.desired())
	rest := map[string]map[string]string{}
	for _, path := range []string{rostest.NAT, rostest.Mangle} {
		for _, e := range f.ours(path) {
			props := map[string]string{}
			for k, v := range e {
				switch k {
				case ".id", "bytes", "packets", "dynamic", "invalid", "log", "log-prefix", "disabled", "comment":
					continue
				}
				props[k] = v
			}
			rest[e["comment"]] = props
		}
	}
	script := map[string]map[string]string{}
	for _, line := range strings.Split(Script(f.cfg), "\n") {
		if !strings.HasPrefix(line, "/ip firewall nat add ") && !strings.HasPrefix(line, "/ip firewall mangle add ") {
			continue
		}
		props := map[string]string{}
		for _, tok := range tokenize(line)[4:] {
			k, v, _ := strings.Cut(tok, "=")
			v = unquote(v)
			switch v {
			case "yes":
				v = "true"
			case "no":
				v = "false"
			}
			props[k] = v
		}
		c := props["comment"]
		delete(props, "comment")
		script[c] = props
	}
	// Offline the script cannot tell double NAT, so it also writes the WAN-interface rules (harmless with a
	// public WAN address); those are the only difference.
	for c := range script {
		if _, ok := rest[c]; !ok && !strings.HasPrefix(c, MarkerPrefix+"dnat-wanif:") {
			t.Errorf("the script adds %s, the REST backend does not", c)
		}
	}
	if len(rest) < 10 {
		t.Fatalf("REST created only %d rules", len(rest))
	}
	for c, want := range rest {
		if got := script[c]; !maps.Equal(got, want) {
			t.Errorf("%s: script %v, REST %v", c, got, want)
		}
	}
}
