package rostest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// commandsJSON is the output of /console/inspect on 60 RouterOS v7 releases (7.9 to 7.24rc3) for the menus
// hairpin touches or may touch (the firewall of both families, addresses, /ip cloud, the DHCP client and PPP
// profiles whose events hairpin hooks, connection tracking, scripts, schedulers, users, groups, certificates,
// services, and the /tool fetch command), as collected by github.com/tikoci/restraml and merged by
// github.com/DamirManyapov/routeros-lsp (MIT). It is the routers' own word on which commands and parameters
// exist in which release and which values an enumerated parameter takes; where MikroTik's prose manual
// disagrees, this is what a router accepts.
//
//go:embed testdata/commands.json
var commandsJSON []byte

// Schema is the command schema of one RouterOS release.
type Schema struct {
	// Version is the release, e.g. "7.9".
	Version string
	menus   map[string]map[string]map[string][]string // menu -> command -> parameter -> choices (nil: free)
}

type rawSchema struct {
	Versions []string `json:"versions"`
	Menus    map[string]map[string]struct {
		Versions string `json:"versions"`
		Args     map[string]struct {
			Versions string   `json:"versions"`
			Choices  []string `json:"choices"`
		} `json:"args"`
	} `json:"menus"`
}

var loadRaw = sync.OnceValues(func() (*rawSchema, error) {
	var raw rawSchema
	if err := json.Unmarshal(commandsJSON, &raw); err != nil {
		return nil, fmt.Errorf("rostest: testdata/commands.json: %w", err)
	}
	return &raw, nil
})

// Versions lists the releases the schema covers, oldest first.
func Versions() []string {
	raw, err := loadRaw()
	if err != nil {
		panic(err)
	}
	return slices.Clone(raw.Versions)
}

// Oldest and Newest are the first and last release of the schema: tests run against both.
func Oldest() string { v := Versions(); return v[0] }

// Newest is the last release in the schema.
func Newest() string { v := Versions(); return v[len(v)-1] }

// LoadSchema returns the schema of one release named in Versions.
func LoadSchema(version string) (*Schema, error) {
	raw, err := loadRaw()
	if err != nil {
		return nil, err
	}
	idx := slices.Index(raw.Versions, version)
	if idx < 0 {
		return nil, fmt.Errorf("rostest: RouterOS %s is not in the schema (it has %s to %s)", version, raw.Versions[0], raw.Versions[len(raw.Versions)-1])
	}
	in := func(spec string) bool { return inVersions(raw.Versions, spec, idx) }
	s := &Schema{Version: version, menus: map[string]map[string]map[string][]string{}}
	for menu, cmds := range raw.Menus {
		mc := map[string]map[string][]string{}
		for name, c := range cmds {
			if !in(c.Versions) {
				continue
			}
			args := map[string][]string{}
			for a, av := range c.Args {
				if in(av.Versions) {
					args[a] = av.Choices
				}
			}
			mc[name] = args
		}
		s.menus[menu] = mc
	}
	return s, nil
}

// MustSchema is LoadSchema for tests: it panics on a release the schema does not hold.
func MustSchema(version string) *Schema {
	s, err := LoadSchema(version)
	if err != nil {
		panic(err)
	}
	return s
}

// inVersions reports whether release number idx of all is in spec: "all", or releases and ranges such as
// "7.9-7.15.3, 7.16".
func inVersions(all []string, spec string, idx int) bool {
	if spec == "all" {
		return true
	}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, b := slices.Index(all, lo), slices.Index(all, hi)
		if a >= 0 && b >= 0 && a <= idx && idx <= b {
			return true
		}
	}
	return false
}

// HasMenu reports whether the release has the menu ("ip/firewall/nat", without a leading slash).
func (s *Schema) HasMenu(menu string) bool { _, ok := s.menus[menu]; return ok }

// HasCommand reports whether the menu has the command in this release.
func (s *Schema) HasCommand(menu, cmd string) bool {
	_, ok := s.menus[menu][cmd]
	return ok
}

// Params returns the parameter names of a command, sorted.
func (s *Schema) Params(menu, cmd string) []string {
	var out []string
	for k := range s.menus[menu][cmd] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// HasParam reports whether the command takes the parameter in this release.
func (s *Schema) HasParam(menu, cmd, param string) bool {
	_, ok := s.menus[menu][cmd][param]
	return ok
}

// Properties returns every parameter any command of the menu takes: the names a `find where` can compare.
func (s *Schema) Properties(menu string) map[string]bool {
	out := map[string]bool{}
	for _, args := range s.menus[menu] {
		for k := range args {
			out[k] = true
		}
	}
	return out
}

// openChoices are parameters whose listed choices are only what the inspected router offered for completion
// (its interfaces, a special value next to free text such as no-mark or startup, user-defined chains), not a
// closed set: any value is accepted for them.
var openChoices = map[string]bool{
	"chain": true, "jump-target": true, "in-interface": true, "out-interface": true, "interface": true,
	"in-interface-list": true, "out-interface-list": true, "in-bridge-port": true, "out-bridge-port": true,
	"in-bridge-port-list": true, "out-bridge-port-list": true, "connection-mark": true, "new-connection-mark": true,
	"packet-mark": true, "new-packet-mark": true, "routing-mark": true, "new-routing-mark": true, "vrf": true,
	"start-time": true, "ddns-enabled": true, "ddns-update-interval": true, "certificate": true, "mtu": true,
	"address-list-timeout": true, "new-mss": true, "new-dscp": true, "new-ttl": true, "new-priority": true,
	"ttl": true, "ipsec-policy": true, "per-connection-classifier": true, "numbers": true,
	// The groups the inspected router had (full, read, write); a group the user adds is as good.
	"group": true,
	// The interface lists the inspected router had (an interface list member's list).
	"list": true,
}

// prefixChoices are parameters whose choices are the kinds of a "KIND:value" entry, in a comma-separated
// list: a certificate's subject-alt-name=IP:192.168.88.1,DNS:router.lan.
var prefixChoices = map[string]bool{"subject-alt-name": true}

// multiValued are enumerated parameters that take a comma-separated set of their choices.
var multiValued = map[string]bool{"connection-state": true, "connection-nat-state": true, "policy": true,
	"tcp-flags": true, "days": true, "key-usage": true, "subject-alt-name": true}

// IsBoolean reports whether a parameter is a yes/no switch (RouterOS also takes true/false over REST).
func (s *Schema) IsBoolean(menu, cmd, param string) bool {
	return slices.Equal(s.menus[menu][cmd][param], []string{"no", "yes"})
}

// IsEnum reports whether a parameter's value must be one of its choices (or a !negated, comma-separated
// list of them).
func (s *Schema) IsEnum(menu, cmd, param string) bool {
	c := s.menus[menu][cmd][param]
	return len(c) > 0 && !openChoices[param]
}

// CheckValue returns the router's complaint about a value of a parameter, or "" (the wording for a bad
// boolean is the simulator's; the enumeration wording is the router's). Booleans take yes, no,
// true and false; enumerated parameters take one of their choices, negated with a leading '!', and sets
// take a comma-separated list (connection-state=established,related); protocol also takes a number.
func (s *Schema) CheckValue(menu, cmd, param, value string) string {
	if s.IsBoolean(menu, cmd, param) {
		switch value {
		case "yes", "no", "true", "false":
			return ""
		}
		return "value of " + param + " must be yes or no"
	}
	if !s.IsEnum(menu, cmd, param) {
		return ""
	}
	choices := s.menus[menu][cmd][param]
	v := strings.TrimPrefix(value, "!")
	if v == "" {
		return "input does not match any value of " + param
	}
	parts := []string{v}
	if multiValued[param] {
		parts = strings.Split(v, ",")
	}
	for _, part := range parts {
		if prefixChoices[param] {
			kind, rest, ok := strings.Cut(part, ":")
			if !ok || rest == "" || !slices.Contains(choices, kind) {
				return "input does not match any value of " + param
			}
			continue
		}
		if slices.Contains(choices, part) {
			continue
		}
		if param == "protocol" {
			if n, err := strconv.Atoi(part); err == nil && n >= 0 && n <= 255 {
				continue
			}
		}
		return "input does not match any value of " + param
	}
	return ""
}

// CheckArgs returns the router's complaint about a command with these parameters, or "": a parameter the
// command does not take in this release is "unknown parameter NAME", a value outside the choices is
// "input does not match any value of NAME". Names starting with '.' are the API's own (.id, .proplist,
// .query) and are left to the caller.
func (s *Schema) CheckArgs(menu, cmd string, args map[string]string) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, ".") {
			continue
		}
		if !s.HasParam(menu, cmd, k) {
			return "unknown parameter " + k
		}
		if msg := s.CheckValue(menu, cmd, k, args[k]); msg != "" {
			return msg
		}
	}
	return ""
}
