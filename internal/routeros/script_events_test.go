package routeros

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// TestScriptHooksWANEvents: the export hooks the WAN's own events (the DHCP client's script, the PPP
// profiles' on-up), runs the updater at startup with interval 0, and the schema check sees every one of
// those commands on both releases, for a DHCP WAN and a PPPoE WAN.
func TestScriptHooksWANEvents(t *testing.T) {
	for _, tt := range []struct{ name, wan string }{{"cameras", "ether1"}, {"pppoe", "pppoe-out1"}} {
		cfg, err := config.Load(filepath.Join("testdata", tt.name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		script := Script(cfg)
		for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
			t.Run(tt.name+"/RouterOS-"+v, func(t *testing.T) {
				s := rostest.MustSchema(v)
				c := checkScript(s, script)
				for _, p := range c.problems {
					t.Error(p)
				}
				for _, want := range []string{"ip/dhcp-client find", "ip/dhcp-client get", "ip/dhcp-client set", "ppp/profile find",
					"ppp/profile get", "ppp/profile set", "interface find", "system/scheduler add", "system/script run", "system/script find"} {
					if !slices.Contains(c.seen, want) {
						t.Errorf("the check never saw %q", want)
					}
				}
				// The hook runs on the router inside the user's script: it is checked as a script of its own.
				hook := hookText(tt.wan)
				hc := checkScript(s, hook)
				for _, p := range hc.problems {
					t.Errorf("hook: %s", p)
				}
				if !slices.Contains(hc.seen, "system/script run") {
					t.Errorf("the hook check saw %v", hc.seen)
				}
			})
		}
		if !strings.Contains(script, "start-time=startup interval=0 ") {
			t.Errorf("%s: no startup entry with interval 0", tt.name)
		}
		if strings.Contains(script, "interval=1m") {
			t.Errorf("%s: still polls every minute", tt.name)
		}
	}
}

// TestScriptEventChecksCatchMistakes are the negative controls of the event items: each broken script fails
// the check with the reason.
func TestScriptEventChecksCatchMistakes(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "cameras.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := Script(cfg)
	assertCatches(t, good, []mistake{
		{"a startup entry with an interval", "start-time=startup interval=0 ", "start-time=startup interval=1m ", "never runs at startup"},
		{"PPP's on-up on a DHCP client", "/ip dhcp-client set $c script=", "/ip dhcp-client set $c on-up=", "unknown parameter on-up"},
		{"a DHCP script on a PPP profile", "/ppp profile set $p on-up=", "/ppp profile set $p script=", "unknown parameter script"},
		{"a property PPP profiles lack", "/ppp profile find where on-up~", "/ppp profile find where on-down-script~", "no property on-down-script"},
	}, rostest.Oldest(), rostest.Newest())
}

// TestScriptGuardsAndEmptyWAN: the import stops on a foreign script of the updater's name before it changes
// anything, and the updater changes nothing when the WAN has no address (it used to remove every entry).
func TestScriptGuardsAndEmptyWAN(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "ipv6.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	script := Script(cfg)
	guard := strings.Index(script, ":if ([:len [/system script find where name=\"hairpin-update\" && comment!=\"HAIRPIN:v1:updater\"]] > 0) do={ :error ")
	first := strings.Index(script, "\n/system scheduler remove")
	if guard < 0 || first < 0 || guard > first {
		t.Errorf("the guard against a foreign hairpin-update (at %d) must come before the first change (at %d)", guard, first)
	}
	for _, want := range []string{
		":if ([:len $wan] = 0) do={\n    :log warning \"hairpin: ether1 has no IPv4 address; hairpin-wan keeps its entries\"\n  } else={\n    $sync hpList=\"hairpin-wan\"",
		":if ([:len $wan6] > 0) do={ $sync6 ",
		"!invalid && !deprecated] do={",
		":log info (\"hairpin: added \" . $a . \" to \" . $hpList)",
		":log info (\"hairpin: removed \" . $a . \" from \" . $hpList)",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q", want)
		}
	}
}

// TestCutHook: hairpin down cuts exactly the hook out of a user's script, wherever it sits.
func TestCutHook(t *testing.T) {
	h := hookText("ether1")
	for _, tt := range []struct{ in, want string }{
		{h, ""},
		{":log info a\n" + h, ":log info a\n"},
		{":log info a\n" + h + ":log info b\n", ":log info a\n:log info b\n"},
		{":log info a", ":log info a"},
	} {
		got, _ := cutHook(tt.in)
		if got != tt.want {
			t.Errorf("cutHook(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestScriptConnCleanup: the optional command the export prints (commented) to drop connections tracked before
// the rules is one both releases take; a property the connection table lacks is caught (negative control).
func TestScriptConnCleanup(t *testing.T) {
	cfg, err := config.Load(filepath.Join("testdata", "double-nat.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	for _, line := range strings.Split(Script(cfg), "\n") {
		if c, ok := strings.CutPrefix(line, "#   /ip firewall connection remove"); ok {
			cmd = "/ip firewall connection remove" + c
		}
	}
	if cmd != `/ip firewall connection remove [find where dst-address~":(8090|27015|7000|7001)\$"]` {
		t.Fatalf("cleanup command %q", cmd)
	}
	for _, v := range []string{rostest.Oldest(), rostest.Newest()} {
		s := rostest.MustSchema(v)
		c := checkScript(s, cmd)
		if len(c.problems) != 0 || !slices.Contains(c.seen, "ip/firewall/connection remove") || !slices.Contains(c.seen, "ip/firewall/connection find") {
			t.Errorf("RouterOS %s: problems %v, saw %v", v, c.problems, c.seen)
		}
		if p := checkScript(s, strings.Replace(cmd, "dst-address~", "dst-port~", 1)).problems; len(p) == 0 {
			t.Errorf("RouterOS %s: a property the connection table lacks passed", v)
		}
	}
}

// FuzzCutHook: the scripts hairpin down reads come from the router (the user's own text around the hook).
// Cutting never panics, only ever shortens, and cuts exactly the hook out of any text around it.
func FuzzCutHook(f *testing.F) {
	f.Add(":log info a\n", "")
	f.Add("", ":log info b\n")
	f.Add(hookBegin, hookEnd)
	f.Fuzz(func(t *testing.T, before, after string) {
		if got, ok := cutHook(before + after); ok && len(got) >= len(before+after) {
			t.Fatalf("cutHook(%q) did not shorten it", before+after)
		}
		if strings.Contains(before, hookBegin) {
			return
		}
		if got, ok := cutHook(before + hookText("ether1") + after); !ok || got != before+after {
			t.Fatalf("cutHook around %q / %q = %q, %v", before, after, got, ok)
		}
	})
}
