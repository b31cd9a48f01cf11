package lab

import (
	"os"
	"strings"
	"testing"
)

// The configs docs/ha.md shows are the ones the lab and the namespace tests run, with the lab's paths put
// where a router keeps them.
const (
	docConntrackdDir = "/var/lib/conntrackd"
	docConntrackConf = "/etc/conntrackd/conntrackd.conf"
	docNotify        = "/etc/keepalived/conntrackd-notify.sh"
)

func TestDocsShowTheLabsConfigs(t *testing.T) {
	data, err := os.ReadFile("../../docs/ha.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	topo := &Topology{WANIf: "wan0", LANIf: "lan0", HA: &HA{SyncIf: "sync0"}}
	for name, want := range map[string]string{
		"keepalived.conf of router A":           topo.KeepalivedConf(0, docNotify, false),
		"keepalived.conf of router B, own WANs": topo.KeepalivedConf(1, docNotify, true),
		"conntrackd.conf of router A":           topo.ConntrackdConf(0, docConntrackdDir),
		"the notify script":                     ConntrackdNotify(docConntrackConf),
		"firewall":                              "  " + strings.ReplaceAll(strings.TrimSuffix(routerFirewall, "\n"), "\n", "\n  "),
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(doc, want) {
				t.Errorf("docs/ha.md does not show the lab's %s:\n%s", name, want)
			}
		})
	}
}
