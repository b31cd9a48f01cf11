package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/secret"
)

// FuzzParse checks that no input panics Parse, that every rejection is a sorted, positioned list of issues, and
// that every accepted config holds the invariants the plan and the backends rely on.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/cameras.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	readAllowFile = func(path string, _ int64) ([]byte, error) {
		return nil, fmt.Errorf("fuzz: no file %s", path)
	}
	f.Cleanup(func() { readAllowFile = secret.ReadFile })
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			checkRejection(t, cfg, err)
			return
		}
		checkAccepted(t, cfg)
	})
}

// parseSeeds are small configs of every section, for the fuzz tests of the parsers.
var parseSeeds = []string{
	"",
	"---\n",
	"wan: {interface: eth0}\nlan: {interface: br-lan}\n",
	"wan: {interface: eth0}\nlan: {interface: br-lan}\nforwards:\n  - {name: a, port: 8090-8093, to: '10.0.0.1:80-83', protocol: both}\n",
	"wan: {interface: eth0}\nlan: {subnets: [10.0.0.0/8]}\nforwards:\n  - {name: a, port: '1', to: 10.0.0.1:65535}\n  - ~\n",
	"wan: &w {interface: eth0}\nlan: *w\n",
	"wan: {interface: eth0, double_nat: on, public_ip: ['stun:x:1']}\nlan: {interface: l}\nforwards: [{name: a, port: 1, to: 1.2.3.4}, {name: a, port: 1, to: 1.2.3.4}]\n",
	"wan:\n\tinterface: eth0\n",
	"a: b\n---\nc: d\n",
	"- [x, {y: z}]\n",
	"wan: {interface: eth0}\nlan: {interface: l}\nforwards:\n  - {name: a, port: 1-4, to: 1.2.3.4, to6: '[::21a:2bff:fe3c:4d5e]:80-83'}\n  - {name: b, port: 5, to: 1.2.3.4, to6: 'fe80::1%eth0'}\n  - {name: c, port: 6, to: 1.2.3.4, to6: '[fd00::1'}\n",
	"wan: {interface: eth0}\nlan: {interface: l}\nnotify:\n  - {url: 'http://10.0.0.1/x', events: [daemon]}\n  - {url_env: X, format: telegram, chat_id: '1'}\n",
	"wan: {interface: eth0}\nlan: {interface: l}\nallow_sets: {a: [x.example.com, 192.0.2.0/24]}\nforwards:\n  - {name: a, port: 1, to: 1.2.3.4, allow: [a, /f, 198.51.100.7], limit: {new_per_source: 5/minute}}\n",
}

func checkRejection(t *testing.T, cfg *Config, err error) {
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %T %v is not a non-empty config.Errors", err, err)
	}
	if cfg != nil {
		t.Fatalf("config returned with errors")
	}
	for _, is := range errs {
		if is.File != "fuzz.yaml" || is.Line < 1 || is.Col < 1 || is.Key == "" || is.Problem == "" {
			t.Fatalf("issue without a position, key or problem: %#v", is)
		}
	}
	if !sort.SliceIsSorted(errs, func(i, j int) bool {
		return errs[i].Line < errs[j].Line || errs[i].Line == errs[j].Line && errs[i].Col < errs[j].Col
	}) {
		t.Fatalf("issues not sorted by position:\n%v", errs)
	}
}

func checkAccepted(t *testing.T, cfg *Config) {
	if cfg.WAN.Interface == "" || (cfg.LAN.Interface == "" && len(cfg.LAN.Subnets) == 0) {
		t.Fatalf("accepted without WAN or LAN: %+v", cfg)
	}
	if cfg.WAN.Interface == cfg.LAN.Interface {
		t.Fatalf("accepted with WAN = LAN = %q", cfg.WAN.Interface)
	}
	for _, p := range cfg.LAN.Subnets {
		if !p.Addr().Is4() || p != p.Masked() {
			t.Fatalf("LAN subnet %v is not a masked IPv4 prefix", p)
		}
	}
	names := map[string]bool{}
	for i, f := range cfg.Forwards {
		if !isName(f.Name) || names[f.Name] {
			t.Fatalf("forward %d has an invalid or duplicate name %q", i, f.Name)
		}
		names[f.Name] = true
		if f.Port.First == 0 || f.Port.First > f.Port.Last || f.ToPort.First == 0 || f.ToPort.First > f.ToPort.Last {
			t.Fatalf("forward %q has ports %v -> %v", f.Name, f.Port, f.ToPort)
		}
		if f.ToPort.Len() != f.Port.Len() && f.ToPort.Len() != 1 {
			t.Fatalf("forward %q maps %d ports onto %d", f.Name, f.Port.Len(), f.ToPort.Len())
		}
		if !isUnicast4(f.To) {
			t.Fatalf("forward %q targets %v", f.Name, f.To)
		}
		if f.Protocol != TCP && f.Protocol != UDP && f.Protocol != Both {
			t.Fatalf("forward %q has protocol %q", f.Name, f.Protocol)
		}
		if f.Line < 1 {
			t.Fatalf("forward %q has no line", f.Name)
		}
		for _, g := range cfg.Forwards[:i] {
			if f.Port.Overlaps(g.Port) && (f.Protocol.Has(TCP) && g.Protocol.Has(TCP) || f.Protocol.Has(UDP) && g.Protocol.Has(UDP)) {
				t.Fatalf("forwards %q and %q overlap", g.Name, f.Name)
			}
		}
	}
	if cfg.Backend != "linux" && cfg.Backend != "routeros" {
		t.Fatalf("backend %q", cfg.Backend)
	}
	for _, w := range cfg.Warnings {
		if w.File != "fuzz.yaml" || w.Line < 1 || w.Col < 1 || w.Key == "" || w.Problem == "" {
			t.Fatalf("warning without a position, key or problem: %#v", w)
		}
	}
}
