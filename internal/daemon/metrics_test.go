package daemon

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/reach"
	"github.com/hairpin-nat/hairpin/internal/upstream"
)

// fullStatus has a sample of every metric family /metrics can serve.
func fullStatus() *Status {
	return &Status{
		Installed: true,
		DoubleNAT: true,
		Forwards: []ForwardStatus{
			{Name: "front-cam", Packets: 12, Bytes: 3400},
			{Name: `odd "name" \ here`, Packets: 1, Bytes: 60, Allow: []string{"office"}, DroppedAllow: 5, Limit: "10/second", DroppedLimit: 2},
		},
		Reachability: []reach.Verdict{{Family: "ipv4", Class: "cgnat", Upstream: "pcp"}, {Family: "ipv6", Class: "open"}},
		Probe:        &ProbeStatus{Time: time.Unix(1700000000, 0), Results: []ForwardProbed{{Forward: "front-cam", Result: "open"}, {Forward: "nas", Result: "refused"}}},
		Upstream: &upstream.Status{Protocol: "pcp", Requests: 7, Renewals: 3,
			Mappings: []upstream.MappingStatus{{State: "mapped"}, {State: "mapped"}, {State: "failed"}}},
		DDNS: []ddns.HostStatus{{Hostname: "home.example.net", Provider: "dyndns2"},
			{Hostname: "cams.example.net", Provider: "duckdns", Family: "ipv6", Disabled: "token_file: no such file"}},
	}
}

// wantFamilies is the contract of /metrics: every family's name and type, as Prometheus's own client served
// them before the daemon wrote its own exposition. Dashboards and alerts depend on it.
var wantFamilies = []string{
	"hairpin_ddns_state gauge",
	"hairpin_double_nat gauge",
	"hairpin_forward_bytes_total counter",
	"hairpin_forward_dropped_packets_total counter",
	"hairpin_forward_packets_total counter",
	"hairpin_probe_reachable gauge",
	"hairpin_probe_timestamp_seconds gauge",
	"hairpin_probes_total counter",
	"hairpin_public_address_changes_total counter",
	"hairpin_reachability gauge",
	"hairpin_rule_change_seconds histogram",
	"hairpin_rule_changes_total counter",
	"hairpin_rules_installed gauge",
	"hairpin_upstream_mappings gauge",
	"hairpin_upstream_renewals_total counter",
	"hairpin_upstream_requests_total counter",
	"hairpin_wan_address_changes_total counter",
}

func TestMetricsExposition(t *testing.T) {
	m := newMetrics(nil)
	m.change("full", 3*time.Millisecond, nil)
	m.change("wan_set", 200*time.Microsecond, nil)
	m.change("full", 20*time.Second, errors.New("refused"))
	m.wanChanges.Inc()
	var b bytes.Buffer
	m.write(&b, fullStatus())
	text := b.String()

	var fams []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+ \S+)$`).FindAllStringSubmatch(text, -1) {
		fams = append(fams, m[1])
	}
	if !slices.Equal(fams, wantFamilies) {
		t.Errorf("families:\n%s\nwant:\n%s", strings.Join(fams, "\n"), strings.Join(wantFamilies, "\n"))
	}
	for _, want := range []string{
		`hairpin_rule_changes_total{kind="full",result="error"} 1`,
		`hairpin_rule_changes_total{kind="full",result="ok"} 1`,
		`hairpin_rule_change_seconds_bucket{kind="full",le="0.004"} 1`,
		`hairpin_rule_change_seconds_bucket{kind="full",le="+Inf"} 2`,
		`hairpin_rule_change_seconds_count{kind="wan_set"} 1`,
		`hairpin_forward_dropped_packets_total{forward="odd \"name\" \\ here",reason="allowlist"} 5`,
		`hairpin_forward_dropped_packets_total{forward="odd \"name\" \\ here",reason="limit"} 2`,
		`hairpin_reachability{class="cgnat",family="ipv4",upstream="pcp"} 1`,
		`hairpin_probe_reachable{forward="nas",result="refused"} 0`,
		`hairpin_probe_timestamp_seconds 1.7e+09`,
		`hairpin_upstream_mappings{protocol="pcp",state="mapped"} 2`,
		"hairpin_wan_address_changes_total 1",
		"hairpin_public_address_changes_total 0",
		`hairpin_ddns_state{family="ipv4",hostname="home.example.net",provider="dyndns2",state="ok"} 1`,
		`hairpin_ddns_state{family="ipv6",hostname="cams.example.net",provider="duckdns",state="disabled"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, `forward="front-cam",reason=`) {
		t.Errorf("a forward without allow or limit has a dropped counter:\n%s", text)
	}
	promtool(t, text, "")

	// Negative control: promtool does refuse a family without its TYPE line.
	broken := strings.Replace(text, "# TYPE hairpin_rule_change_seconds histogram\n", "", 1)
	promtool(t, broken, "hairpin_rule_change_seconds")
}

// promtool runs Prometheus's own `promtool check metrics` (its parser and linter) on text; wantErr names what it
// must complain about, or "" for a clean pass.
func promtool(t *testing.T, text, wantErr string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is missing (Debian package prometheus): run ./scripts/deps-test.sh")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, text)
	case wantErr != "" && (err == nil || !strings.Contains(string(out), wantErr)):
		t.Errorf("promtool accepted a broken exposition (%v): %s", err, out)
	}
}
