package nft

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

func TestParseCountSet(t *testing.T) {
	tests := []struct {
		name    string
		data    string // or testdata file name
		want    map[uint16]backend.Counter
		wantErr string
	}{
		// Captured from nft 1.0.6 (`nft -j list set ip hairpin count_tcp`) after two connections to 8090.
		{"elements with counters", "count-tcp.json", map[uint16]backend.Counter{8090: {Packets: 2, Bytes: 120}, 8091: {}}, ""},
		// A set declared without "counter" lists bare values.
		{"bare values", "count-bare.json", map[uint16]backend.Counter{53: {}}, ""},
		{"empty set", "count-empty.json", map[uint16]backend.Counter{}, ""},
		{"big counters", `{"nftables":[{"set":{"name":"count_udp","elem":[{"elem":{"val":65535,"counter":{"packets":18446744073709551615,"bytes":9007199254740993}}}]}}]}`,
			map[uint16]backend.Counter{65535: {Packets: 18446744073709551615, Bytes: 9007199254740993}}, ""},
		{"mixed shapes", `{"nftables":[{"metainfo":{}},{"set":{"elem":[1,{"elem":{"val":2,"counter":{"packets":1,"bytes":2}}}]}},{"table":{}}]}`,
			map[uint16]backend.Counter{1: {}, 2: {Packets: 1, Bytes: 2}}, ""},
		{"no nftables key", `{}`, map[uint16]backend.Counter{}, ""},
		{"not JSON", `Error: No such file or directory`, nil, "parsing nft counters"},
		{"port out of range", `{"nftables":[{"set":{"elem":[70000]}}]}`, nil, "parsing nft counter element 70000"},
		{"element of another shape", `{"nftables":[{"set":{"elem":[{"range":[1,2]}]}}]}`, nil, ""},
		{"string element", `{"nftables":[{"set":{"elem":["http"]}}]}`, nil, `parsing nft counter element "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if strings.HasSuffix(tt.data, ".json") {
				var err error
				if data, err = os.ReadFile("testdata/" + tt.data); err != nil {
					t.Fatal(err)
				}
			}
			got, err := parseCountSet(data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if tt.want == nil {
				return // only: no panic
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseCountSet = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseCountSet(f *testing.F) {
	for _, name := range []string{"count-tcp.json", "count-bare.json", "count-empty.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"nftables":[{"set":{"elem":[null, 0, {"elem":null}]}}]}`))
	f.Add([]byte(`{"nftables":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseCountSet(data)
		if err != nil {
			if got != nil {
				t.Fatalf("counters returned with error %v", err)
			}
			return
		}
		if got == nil {
			t.Fatal("nil map without an error")
		}
		// Whatever parsed must be what encoding/json itself sees in the input.
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q accepted", data)
		}
	})
}

func TestMergeElements(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"run of one set merged",
			[]string{
				"add element ip hairpin count_tcp { 8090 }",
				"add element ip hairpin count_tcp { 8091 }",
				"add element ip hairpin count_tcp { 8092 }",
			},
			[]string{"add element ip hairpin count_tcp { 8090, 8091, 8092 }"}},
		{"map elements merged",
			[]string{
				"add element ip hairpin fwd_dnat { tcp . 8090 : 192.168.88.180 . 80 }",
				"add element ip hairpin fwd_dnat { tcp . 8091 : 192.168.88.181 . 80 }",
			},
			[]string{"add element ip hairpin fwd_dnat { tcp . 8090 : 192.168.88.180 . 80, tcp . 8091 : 192.168.88.181 . 80 }"}},
		{"different sets split",
			[]string{
				"add element ip hairpin count_tcp { 8090 }",
				"add element ip hairpin count_udp { 53 }",
				"add element ip hairpin count_udp { 54 }",
				"add element ip hairpin count_tcp { 8091 }",
			},
			[]string{
				"add element ip hairpin count_tcp { 8090 }",
				"add element ip hairpin count_udp { 53, 54 }",
				"add element ip hairpin count_tcp { 8091 }",
			}},
		{"other lines kept in order and break runs",
			[]string{
				"add table ip hairpin { comment \"managed by hairpin\" ; }",
				"add set ip hairpin wan_addrs { type ipv4_addr ; }",
				"flush set ip hairpin wan_addrs",
				"add element ip hairpin wan_addrs { 203.0.113.7 }",
				"add element ip hairpin wan_addrs { 198.51.100.1 }",
				"delete element ip hairpin count_tcp { 8092 }",
				"delete element ip hairpin count_tcp { 8093 }",
				"add element ip hairpin wan_addrs { 192.0.2.1 }",
				"add rule ip hairpin prerouting ip daddr @wan_addrs jump dnat_forwards",
			},
			[]string{
				"add table ip hairpin { comment \"managed by hairpin\" ; }",
				"add set ip hairpin wan_addrs { type ipv4_addr ; }",
				"flush set ip hairpin wan_addrs",
				"add element ip hairpin wan_addrs { 203.0.113.7, 198.51.100.1 }",
				// Only "add element" lines are merged.
				"delete element ip hairpin count_tcp { 8092 }",
				"delete element ip hairpin count_tcp { 8093 }",
				"add element ip hairpin wan_addrs { 192.0.2.1 }",
				"add rule ip hairpin prerouting ip daddr @wan_addrs jump dnat_forwards",
			}},
		{"elements with comments merged",
			[]string{
				`add element ip hairpin s { 1 comment "a" }`,
				`add element ip hairpin s { 2 comment "b" }`,
			},
			[]string{`add element ip hairpin s { 1 comment "a", 2 comment "b" }`}},
		{"element lines with nested braces untouched",
			[]string{
				"add element ip hairpin s { 1 }",
				"add element ip hairpin v { tcp : goto { x } }",
				"add element ip hairpin v { tcp : goto { y } }",
				"add element ip hairpin s { 2 }",
			},
			[]string{
				"add element ip hairpin s { 1 }",
				"add element ip hairpin v { tcp : goto { x } }",
				"add element ip hairpin v { tcp : goto { y } }",
				"add element ip hairpin s { 2 }",
			}},
		{"element lines of odd shape untouched",
			[]string{"add element ip hairpin s 1", "add element ip hairpin s { 2 } # x"},
			[]string{"add element ip hairpin s 1", "add element ip hairpin s { 2 } # x"}},
		{"no element lines", []string{"add table ip hairpin", "delete table ip hairpin"}, []string{"add table ip hairpin", "delete table ip hairpin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeElements(strings.Join(tt.in, "\n") + "\n")
			want := strings.Join(tt.want, "\n") + "\n"
			if got != want {
				t.Errorf("mergeElements:\n%s", lineDiff(want, got))
			}
		})
	}
}

// The merged script of a full apply holds exactly the statements of the transaction, one element block per
// run, in the same order.
func TestMergeElementsOnABuild(t *testing.T) {
	b, fake := NewFake()
	apply(t, b, camerasPlan(t))
	script := fake.LastTransaction.String()
	merged := mergeElements(script)
	golden(t, "cameras-merged.golden", merged)
	if n, m := strings.Count(script, "\n"), strings.Count(merged, "\n"); m >= n {
		t.Errorf("merging did not shorten the script: %d lines -> %d", n, m)
	}
	// Splitting the merged blocks again gives back the original lines.
	var split []string
	for _, line := range strings.Split(strings.TrimRight(merged, "\n"), "\n") {
		prefix, elems, ok := splitElementLine(line)
		if !ok {
			split = append(split, line)
			continue
		}
		for _, e := range strings.Split(elems, ", ") {
			split = append(split, prefix+" { "+e+" }")
		}
	}
	if got := strings.Join(split, "\n") + "\n"; got != script {
		t.Errorf("merged script does not split back into the transaction:\n%s", lineDiff(script, got))
	}
}

func TestFirstLines(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"one", 3, "one"},
		{"a\nb\nc\nd", 2, "a | b"},
		{"a\nb", 2, "a | b"},
		{"", 1, ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := firstLines(tt.in, tt.n); got != tt.want {
				t.Errorf("firstLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}
