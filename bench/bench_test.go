package bench

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

// The benchmarks themselves need root and namespaces and run only through `make bench`; these tests cover
// the arithmetic and the generated configs and rulesets.

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("median modified its input: %v", tt.in)
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestPairAndVerdict(t *testing.T) {
	base := Row{Variant: "floor", Samples: []float64{10, 20, 0}}
	tests := []struct {
		name    string
		samples []float64
		target  Target
		ratio   float64
		verdict string
	}{
		// Round ratios 0.9, 1.0 (the zero baseline round is skipped): median 0.95.
		{"at the bound", []float64{9, 20, 5}, Target{">=", 0.95}, 0.95, "PASS"},
		{"below", []float64{8, 18, 5}, Target{">=", 0.95}, 0.85, "FAIL"},
		{"upper bound", []float64{15, 40, 5}, Target{"<=", 1.5}, 1.75, "FAIL"},
		{"no target", []float64{10, 20, 5}, Target{}, 1, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Row{Variant: "x", Samples: tt.samples, Target: tt.target}
			pair(&r, base)
			if r.Baseline != "floor" || math.Abs(r.ratio()-tt.ratio) > 1e-9 || r.Verdict() != tt.verdict {
				t.Errorf("got baseline %q ratio %v verdict %s, want floor %v %s", r.Baseline, r.ratio(), r.Verdict(), tt.ratio, tt.verdict)
			}
		})
	}
	if v := base.Verdict(); v != "-" {
		t.Errorf("a baseline's verdict is %q", v)
	}
}

func TestOrderAlternates(t *testing.T) {
	v := []int{1, 2, 3}
	if got := Order(0, v); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("round 0: %v", got)
	}
	if got := Order(1, v); !slices.Equal(got, []int{3, 2, 1}) {
		t.Errorf("round 1: %v", got)
	}
	if !slices.Equal(v, []int{1, 2, 3}) {
		t.Errorf("Order modified its input: %v", v)
	}
}

func TestRotate(t *testing.T) {
	v := []int{1, 2, 3}
	want := [][]int{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}}
	for round, w := range want {
		if got := rotate(round, v); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", round, got, w)
		}
	}
	if !slices.Equal(v, []int{1, 2, 3}) {
		t.Errorf("rotate modified its input: %v", v)
	}
}

func TestWriteTable(t *testing.T) {
	base := Row{Bench: "b", Variant: "floor", Samples: []float64{10, 12}, Unit: "Gbit/s"}
	r := Row{Bench: "b", Variant: "hairpin", Note: "apply", Samples: []float64{10, 11}, Unit: "Gbit/s", Target: Target{">=", 0.95}}
	pair(&r, base)
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Row{base, r}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"BENCHMARK", "hairpin (apply)", "10.5", "10.0..12.0 (2)", "0.958x", "floor", ">= 0.95x", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestManyForwards(t *testing.T) {
	lan := netip.MustParsePrefix("192.168.88.0/24")
	target := netip.MustParseAddrPort("192.168.88.180:9000")
	fwds := manyForwards(600, lan, target, 0, 599)
	seen := map[int]bool{}
	for i, f := range fwds {
		if f.Port != firstPort+i || seen[f.Port] {
			t.Fatalf("forward %d has port %d", i, f.Port)
		}
		seen[f.Port] = true
		if !lan.Contains(f.To) || f.To == netip.MustParseAddr("192.168.88.0") || f.To == netip.MustParseAddr("192.168.88.1") ||
			f.To == netip.MustParseAddr("192.168.88.255") {
			t.Fatalf("forward %d goes to %s", i, f.To)
		}
	}
	for _, i := range []int{0, 599} {
		if got := netip.AddrPortFrom(fwds[i].To, uint16(fwds[i].ToPort)); got != target {
			t.Errorf("forward %d goes to %s, want the server %s", i, got, target)
		}
	}
}

// The generated config must be one hairpin accepts without warnings, or the apply benchmark would time an
// error.
func TestHairpinConfigValid(t *testing.T) {
	fwds := manyForwards(300, netip.MustParsePrefix("192.168.88.0/24"), netip.MustParseAddrPort("192.168.88.180:80"))
	cfg, err := config.Parse("bench.yaml", []byte(hairpinConfig("wan0", "lan0", fwds)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Forwards) != 300 || len(cfg.Warnings) != 0 {
		t.Fatalf("%d forwards, warnings %v", len(cfg.Forwards), cfg.Warnings)
	}
	last := cfg.Forwards[299]
	if last.Port.First != firstPort+299 || last.To != fwds[299].To || int(last.ToPort.First) != fwds[299].ToPort {
		t.Errorf("last forward parsed as %+v, want %+v", last, fwds[299])
	}
}

func TestRulesets(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.10")
	lan := netip.MustParsePrefix("192.168.88.0/24")
	fwds := []fwd{{1024, netip.MustParseAddr("192.168.88.2"), 80}, {1025, netip.MustParseAddr("192.168.88.3"), 81}}
	tests := []struct {
		name, got string
		want      []string
		count     map[string]int
	}{
		{"floor map", floorMap(fwds), []string{
			"add map ip floor fwd_dnat { type inet_proto . inet_service : ipv4_addr . inet_service ; }",
			"add element ip floor fwd_dnat { tcp . 1024 : 192.168.88.2 . 80, tcp . 1025 : 192.168.88.3 . 81 }\n",
		}, map[string]int{"add element": 1}},
		{"rule list", ruleList(public, fwds, lan), []string{
			"ip daddr 203.0.113.10 tcp dport 1024 dnat to 192.168.88.2:80\n",
			"ip daddr 203.0.113.10 tcp dport 1025 dnat to 192.168.88.3:81\n",
			"ct status dnat ip saddr 192.168.88.0/24 masquerade",
		}, map[string]int{"dnat to": 2, "masquerade": 1}},
		{"floor nat", floorNAT(public, 5201, netip.MustParseAddrPort("192.168.88.180:5201"), lan), []string{
			"ip daddr 203.0.113.10 tcp dport 5201 dnat to 192.168.88.180:5201;",
		}, map[string]int{"dnat to": 1, "masquerade": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(tt.got, w) {
					t.Errorf("lacks %q:\n%s", w, tt.got)
				}
			}
			for s, n := range tt.count {
				if c := strings.Count(tt.got, s); c != n {
					t.Errorf("%d times %q, want %d", c, s, n)
				}
			}
		})
	}
}

func TestParseIperf(t *testing.T) {
	tests := []struct {
		name, in string
		want     float64
		err      string
	}{
		{"ok", `{"start":{},"end":{"sum_sent":{"bits_per_second":2e9},"sum_received":{"bits_per_second":1.5e9}}}`, 1.5e9, ""},
		{"error", `{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`, 0, "Connection refused"},
		{"nothing received", `{"end":{"sum_received":{"bits_per_second":0}}}`, 0, "no received data"},
		{"not json", `iperf3: error`, 0, "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIperf([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestForwardChains(t *testing.T) {
	in := `{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "hairpin"}},
{"chain": {"family": "ip", "table": "hairpin", "name": "dnat_forwards"}},
{"chain": {"family": "ip", "table": "hairpin", "name": "prerouting", "type": "nat", "hook": "prerouting", "prio": -100}},
{"chain": {"family": "ip", "table": "hairpin", "name": "forward", "type": "filter", "hook": "forward", "prio": -5}},
{"map": {"family": "ip", "name": "fwd_dnat", "elem": [[{"concat": ["tcp", 1024]}, {"concat": ["192.168.88.2", 80]}]]}}]}`
	got, err := forwardChains([]byte(in))
	if err != nil || !slices.Equal(got, []string{"forward"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := forwardChains([]byte("Error: no such table")); err == nil {
		t.Error("no error for text that is not JSON")
	}
}
