package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hairpin-nat/hairpin/internal/secret"
)

// fastSeeds are the configs hairpin's users write: the examples, the starter config and the test configs.
func fastSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	files, _ := filepath.Glob("../../examples/*.yaml")
	files = append(files, "testdata/cameras.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds[f] = data
	}
	fwd := []StarterForward{{Name: "front-cam", Port: "8090", To: "192.168.88.180:80"}, {Name: "range", Port: "9000-9003", To: "192.168.88.50"}}
	for _, ddns := range []string{"", "dyndns2", "rfc2136", "cloudflare", "duckdns"} {
		seeds["starter "+ddns] = []byte(Starter{WAN: "eth0", WANWhy: "the default route", LAN: "br-lan", Forwards: fwd, DDNS: ddns}.Text())
	}
	seeds["generated"] = []byte(manyForwardsYAML(20))
	return seeds
}

// fastCases are the shapes parseFast reads (true) and those it leaves to yaml.v3 (false).
var fastCases = []struct {
	in   string
	fast bool
}{
	{"a: b\n", true},
	{"a: b", true},
	{"a:\n  b: c\n  d: [1, 2, x]\n", true},
	{"a:\n- 1\n- 2\nb: {x: y, 'z': \"w\"}\n", true},
	{"a:\n  - name: x\n    port: 8090-8093\n  -\n    name: y\n  - ~\n  -\n", true},
	{"a:\nb:\n  c:\n  d: 1\n", true},
	{"# c\n\n  a: b   # c\n  c: 'it''s'\n  d: \"q\\\"\\\\\\n\\t\"\n", true},
	{"- a\n- b: 1\n  c: [ ]\n- {}\n- [a, b, ]\n", true},
	{"x: -1\ny: 0\nz: 123456789012345678\nw: true\nv: NULL\nu: 10.0.0.0/8\nt: 192.168.1.1\ns: 2001:db8::1\n", true},
	{"a: b#c\nd: e f  g\n\"k\": v\n'k2'  : v\nk3 : v\n", true},
	{"url: http://x:80/y\nl: [http://x:80/y, a b]\n", true},
	{"---\na: b\n", false},
	{"a: b\n---\nc: d\n", false},
	{"a: b\n...\n", false},
	{"a: &x b\nc: *x\n", false},
	{"a: !!str b\n", false},
	{"a: |\n  b\n", false},
	{"a: >\n  b\n", false},
	{"a: b\n  c\n", false},
	{"a: 'b\n  c'\n", false},
	{"a: [b,\n  c]\n", false},
	{"a:\tb\n", false},
	{"a: b\r\n", false},
	{"a: é\n", false},
	{"a: 1.5\n", false},
	{"a: 0x10\n", false},
	{"a: 010\n", false},
	{"a: 0b1\n", false},
	{"a: 1e5\n", false},
	{"id: 0123456789abcdef\n", true},
	{"a: 2024-01-02\n", false},
	{"a: 1_000\n", false},
	{"a: .inf\n", false},
	{"<<: {a: b}\n", false},
	{"? a\n: b\n", false},
	{"a: b: c\n", false},
	{"- - a\n", false},
	{"a: [b: c]\n", false},
	{"a: {b}\n", false},
	{"a: \"\\x41\"\n", false},
	{"", false},
	{"# only a comment\n", false},
	{"a:\n  - b\n  c: d\n", false},
}

// manyBadForwards is a forwards list of n items, each with a problem.
func manyBadForwards(n int) string {
	var b strings.Builder
	b.WriteString("forwards:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: F%d\n    port: %d\n    to: 192.168.88.%d\n    protocl: tcp\n", i, 70000+i, 2+i)
	}
	return b.String()
}

// manyForwardsYAML is a config of n forwards, as a generated one looks.
func manyForwardsYAML(n int) string {
	var b strings.Builder
	b.WriteString("wan:\n  interface: wan0\nlan:\n  interface: lan0\nforwards:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: f%d\n    port: %d\n    to: 192.168.88.%d:%d\n    protocol: tcp\n", i, 1024+i, 2+i%253, 80+i%1000)
	}
	return b.String()
}

func TestParseFast(t *testing.T) {
	for name, data := range fastSeeds(t) {
		t.Run(name, func(t *testing.T) {
			if !checkFast(t, data) {
				t.Errorf("parseFast leaves %s to yaml.v3; configs like it should take the fast path", name)
			}
		})
	}
	for _, c := range fastCases {
		t.Run(c.in, func(t *testing.T) {
			if got := checkFast(t, []byte(c.in)); got != c.fast {
				t.Errorf("parseFast ok = %v, want %v", got, c.fast)
			}
		})
	}
}

// The decoder reads the forwards parseFast streams exactly as it reads a tree: configs, issues and their
// positions, over items whose nodes are reused and items that keep them (allow, limit, to6).
func TestParseFastStreamsForwards(t *testing.T) {
	cases := map[string]string{
		"plain":      manyForwardsYAML(50),
		"indentless": "wan: {interface: eth0}\nlan: {interface: br-lan}\nforwards:\n- name: a\n  port: 1\n  to: 192.168.88.2:80\n- name: b\n  port: 2\n  to: 192.168.88.3\n",
		"issues": "wan: {interface: eth0}\nlan: {interface: br-lan, subnets: [192.168.88.0/24]}\nforwards:\n" +
			"  - name: a\n    port: 8090\n    to: 192.168.88.2:80\n" +
			"  - name: a\n    port: 8090\n    to: 192.168.88.255\n    protocol: tcpx\n" +
			"  - name: c\n    port: 8091-8093\n    to: 10.9.9.9:80-81\n    colour: red\n" +
			"  - ~\n  - name: d\n  -\n    port: 0\n" +
			"  - name: e\n    name: f\n    port: 9000\n    to: 192.168.88.9\n",
		"kept": "wan: {interface: eth0}\nlan: {interface: br-lan}\nbackend: routeros\nforwards:\n" +
			"  - name: a\n    port: 1\n    to: 192.168.88.2\n    allow: [198.51.100.0/24]\n    limit: {new_per_source: 5/minute}\n" +
			"  - name: b\n    port: 2\n    to: 192.168.88.3\n    to6: '[::1:2]:80'\n" +
			"  - name: a\n    port: 1\n    to: 192.168.88.4\n",
		"empty":  "wan: {interface: eth0}\nlan: {interface: br-lan}\nforwards:\n",
		"twice":  "wan: {interface: eth0}\nlan: {interface: br-lan}\nforwards:\n  - {name: a, port: 1, to: 192.168.88.2}\nforwards:\n  - {name: b, port: 2, to: 192.168.88.2}\n",
		"nested": "wan: {interface: eth0}\nlan: {interface: br-lan}\nddns:\n  - provider: duckdns\n    forwards:\n      - x\nforwards:\n  - name: a\n    port: 1\n    to: 192.168.88.2\n",
		"late":   manyForwardsYAML(5) + "daemon:\n\tresync: 5m\n",
		"unknown": "wan: {interface: eth0}\nforwardz: 1\nlan: {interface: br-lan}\nwan: {interface: eth1}\n" +
			"forwards:\n  - {name: a, port: 1, to: 192.168.88.2}\nk1: [a, {b: c}]\nk1:\n  x: y\ndeamon: {}\n",
		// More issues than are listed, unknown keys before and after forwards' own: which are listed, and
		// their hints, do not depend on the order they were found in.
		"many": "wan: {interface: eth0}\nlan: {interface: br-lan}\n" + strings.Repeat("ha_: 1\nforwardz: 2\n", 40) +
			manyBadForwards(60) + strings.Repeat("stat_dir: x\nnotfy: y\n", 40),
	}
	// Each case but these takes the fast path and streams its forwards: a tab is yaml.v3's, a second list is
	// for yaml.v3 to read and the decoder to report, and an empty one has no items.
	notStreamed := map[string]bool{"late": true, "twice": true, "empty": true}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			checkParseSame(t, []byte(in))
			_, streamed, ok := parseFast([]byte(in), &decoder{})
			if streamed := ok && streamed != nil; streamed == notStreamed[name] {
				t.Errorf("parseFast streamed the forwards: %v, want %v", streamed, !notStreamed[name])
			}
		})
	}
}

// FuzzParseFast holds parseFast to yaml.v3: whatever it accepts, yaml.v3 reads as one document with the same
// tree.
func FuzzParseFast(f *testing.F) {
	for _, data := range fastSeeds(f) {
		f.Add(data)
	}
	for _, c := range fastCases {
		f.Add([]byte(c.in))
	}
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	readAllowFile = func(path string, _ int64) ([]byte, error) {
		return nil, fmt.Errorf("fuzz: no file %s", path)
	}
	f.Cleanup(func() { readAllowFile = secret.ReadFile })
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data)
		checkParseSame(t, data)
	})
}

// checkParseSame fails t unless Parse gives the same config, or the same issues, with parseFast and without:
// whatever the fast path reads, streamed forwards included, the validation sees the same.
func checkParseSame(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := Parse("same.yaml", data)
	fastYAML = false
	want, wantErr := Parse("same.yaml", data)
	fastYAML = true
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("issues with parseFast:\n%v\nwith yaml.v3 alone:\n%v\nfor:\n%s", gotErr, wantErr, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config with parseFast:\n%+v\nwith yaml.v3 alone:\n%+v\nfor:\n%s", got, want, data)
	}
}

// checkFast reports whether parseFast read data, and fails t if its tree differs from yaml.v3's.
func checkFast(t *testing.T, data []byte) bool {
	t.Helper()
	got, _, ok := parseFast(data, nil)
	if !ok {
		return false
	}
	var want yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("parseFast read what yaml.v3 refuses (%v):\n%s", err, data)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		t.Fatalf("parseFast read one document where yaml.v3 finds more (%v):\n%s", err, data)
	}
	if diff := nodeDiff(&want, got, "document"); diff != "" {
		t.Fatalf("parseFast's tree differs from yaml.v3's: %s\n%s", diff, data)
	}
	return true
}

// nodeDiff compares what config reads of a node, and its position; comments are not read.
func nodeDiff(want, got *yaml.Node, path string) string {
	if want.Kind != got.Kind || want.Style != got.Style || want.Tag != got.Tag || want.Value != got.Value ||
		want.Line != got.Line || want.Column != got.Column || want.Anchor != got.Anchor || (want.Alias == nil) != (got.Alias == nil) {
		return fmt.Sprintf("%s: yaml.v3 has %s, parseFast %s", path, nodeString(want), nodeString(got))
	}
	if len(want.Content) != len(got.Content) {
		return fmt.Sprintf("%s: yaml.v3 has %d children, parseFast %d", path, len(want.Content), len(got.Content))
	}
	for i := range want.Content {
		if d := nodeDiff(want.Content[i], got.Content[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
			return d
		}
	}
	return ""
}

func nodeString(n *yaml.Node) string {
	return fmt.Sprintf("{kind %d style %d tag %q value %q at %d:%d anchor %q}", n.Kind, n.Style, n.Tag, n.Value, n.Line, n.Column, n.Anchor)
}

func TestIsName(t *testing.T) {
	rule := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	for _, s := range []string{"", "a", "-", "a-", "-a", "a-b", "front-cam", "A", "a_b", "a.b", "0", "9x",
		strings.Repeat("a", 32), strings.Repeat("a", 33), "a--b", "é", "a b"} {
		if got, want := isName(s), rule.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, the rule says %v", s, got, want)
		}
	}
}

// BenchmarkParseForwards is config loading at size: `hairpin apply` of many forwards reads the file first.
func BenchmarkParseForwards(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		data := []byte(manyForwardsYAML(n))
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("bench.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var hostnameRule = regexp.MustCompile(`^(?i:[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)(\.(?i:[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?))+\.?$`)

// FuzzIsHostname holds isHostname to the regexp it replaced.
func FuzzIsHostname(f *testing.F) {
	for _, s := range []string{"h1.example.net", "_acme.example.net.", "a-.b", strings.Repeat("a", 64) + ".b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isHostname(s), hostnameRule.MatchString(s); got != want {
			t.Fatalf("isHostname(%q) = %v, the rule says %v", s, got, want)
		}
	})
}

func TestIsHostname(t *testing.T) {
	rule := hostnameRule
	long := strings.Repeat("a", 63)
	for _, s := range []string{"", ".", "a", "a.", "a.b", "a.b.", "a.b..", ".a.b", "a..b", "A.B", "h1.example.net",
		"_acme.example.net", "a._b", "-a.b", "a-.b", "a-b.c-d", "a_b.c", long + ".b", long + "a.b", "a.b.c.d.e",
		"1.2.3.4", "x@y.z", "é.fr", "a b.c", "a.b/c", "[a].b", "`a.b", "a.{b"} {
		if got, want := isHostname(s), rule.MatchString(s); got != want {
			t.Errorf("isHostname(%q) = %v, the rule says %v", s, got, want)
		}
	}
}

// TestItemKeys: itemKeys builds in one string what the item's path and mappingKeys of it would be.
func TestItemKeys(t *testing.T) {
	keys := func(names ...string) []*yaml.Node {
		var out []*yaml.Node
		for _, n := range names {
			out = append(out, &yaml.Node{Kind: yaml.ScalarNode, Value: n}, &yaml.Node{Kind: yaml.ScalarNode})
		}
		return out
	}
	for _, c := range []struct {
		i       int
		content []*yaml.Node
	}{{0, nil}, {7, keys("name")}, {12, keys("name", "port", "to", "protocol")}, {123456, keys("", "x", "name")}} {
		key, got := itemKeys("forwards", c.i, c.content)
		wantKey := "forwards[" + strconv.Itoa(c.i) + "]"
		if want := mappingKeys(wantKey, c.content); key != wantKey || got != want {
			t.Errorf("itemKeys(%d) = %q, %q; want %q, %q", c.i, key, got, wantKey, want)
		}
	}
}

// TestPlainItemIssues: an item read without its key paths (forwardItem's first reading) and found wrong is read
// again with them, so its issues name the item like any other, and the items around it are kept.
func TestPlainItemIssues(t *testing.T) {
	data := "wan:\n  interface: wan0\nlan:\n  interface: lan0\nforwards:\n" +
		"  - {name: a, port: 8090, to: 192.168.88.2}\n" +
		"  - {name: B, port: 70000, to: 192.168.88.300, protocol: sctp}\n" +
		"  - {name: c, port: 8092, to: 192.168.88.4, name: d}\n" +
		"  - {port: 8093}\n" +
		"  - {name: e, port: 8094-8095, to: '192.168.88.5:80-82'}\n" +
		"  - {name: f, port: 8096, to: 192.168.88.6}\n"
	_, err := Parse("hairpin.yaml", []byte(data))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse = %v, want Errors", err)
	}
	got := errs.Error()
	for _, want := range []string{
		`hairpin.yaml:7:12: forwards[1].name: "B" is not a valid name`,
		`hairpin.yaml:7:21: forwards[1].port: port 70000 is out of range`,
		`hairpin.yaml:7:32: forwards[1].to: "192.168.88.300" is not an IPv4 address`,
		`hairpin.yaml:7:58: forwards[1].protocol: "sctp" is not allowed`,
		`hairpin.yaml:8:45: forwards[2].name: key appears more than once`,
		`hairpin.yaml:9:5: forwards[3].name: required key is missing`,
		`hairpin.yaml:9:5: forwards[3].to: required key is missing`,
		`hairpin.yaml:10:36: forwards[4].to: range 80-82 has 3 ports but the external range has 2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the issues lack %q:\n%s", want, got)
		}
	}
	if n := errs.Count(); n != 8 {
		t.Errorf("%d issues, want 8:\n%s", n, got)
	}
}
