package routeros

import (
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestProplistCoversSchema keeps the .proplist of the rule reads equal to every setting a rule can have in the
// oldest and newest release: a matcher missing from it would hide a user's edit of one of hairpin's rules.
func TestProplistCoversSchema(t *testing.T) {
	for _, tt := range []struct{ menu, props string }{{"ip/firewall/nat", natProps}, {"ip/firewall/mangle", mangleProps},
		{"ipv6/firewall/nat", natProps6}, {"ipv6/firewall/mangle", mangleProps6}, {"ipv6/firewall/filter", filterProps6}} {
		have := map[string]bool{}
		for _, p := range strings.Split(tt.props, ",") {
			have[p] = true
		}
		for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
			for _, p := range rostest.MustSchema(v).Params(tt.menu, "add") {
				if p != "copy-from" && p != "place-before" && !have[p] {
					t.Errorf("RouterOS %s %s: .proplist lacks %s", v, tt.menu, p)
				}
			}
		}
		for _, p := range []string{".id", "dynamic", "comment", "chain", "action", "disabled"} {
			if !have[p] {
				t.Errorf("%s .proplist lacks %s", tt.menu, p)
			}
		}
	}
}
