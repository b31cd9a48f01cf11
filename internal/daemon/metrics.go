package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hairpin-nat/hairpin/internal/ddns"
	"github.com/hairpin-nat/hairpin/internal/lock"
	"github.com/hairpin-nat/hairpin/internal/probe"
	"github.com/hairpin-nat/hairpin/internal/web"
)

// metrics are the daemon's Prometheus metrics, served at /metrics on the status listener in the text format.
// The daemon's own events are counted here (per daemon, so a test can run several in one process); everything
// else is read from Status at scrape time. The exposition is written by hand: the format is a dozen lines of
// rules, and the libraries that write it link net/http for their push code.
type metrics struct {
	d             *Daemon
	wanChanges    counter
	publicChanges counter
	probes        counter

	mu            lock.Mutex
	changes       map[changeKey]uint64
	changeSeconds map[string]*histogram // by kind
}

type changeKey struct{ kind, result string }

// counter is a monotonic count.
type counter struct{ n atomic.Uint64 }

func (c *counter) Inc()        { c.n.Add(1) }
func (c *counter) Get() uint64 { return c.n.Load() }

// histogram counts observations per upper bound of changeBuckets (not cumulated: the exposition does that).
type histogram struct {
	buckets [len(changeBuckets)]uint64
	count   uint64
	sum     float64
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, ub := range changeBuckets {
		if v <= ub {
			h.buckets[i]++
			return
		}
	}
}

// family is one metric family's name, type and help as the exposition's HELP and TYPE lines give them.
type family struct{ name, typ, help string }

var (
	famChanges       = family{"hairpin_rule_changes_total", "counter", "Changes made to the datapath, by kind (full apply or WAN set update) and result."}
	famChangeSeconds = family{"hairpin_rule_change_seconds", "histogram", "Time one change of the datapath took."}
	famWANChanges    = family{"hairpin_wan_address_changes_total", "counter", "WAN address changes seen."}
	famPublicChanges = family{"hairpin_public_address_changes_total", "counter", "Public address changes learned from public_ip sources."}
	famProbes        = family{"hairpin_probes_total", "counter", "Reachability probes asked of the probe server."}
	famPackets       = family{"hairpin_forward_packets_total", "counter", "Packets carried by a forward (both directions)."}
	famBytes         = family{"hairpin_forward_bytes_total", "counter", "Bytes carried by a forward (both directions)."}
	famDropped       = family{"hairpin_forward_dropped_packets_total", "counter", "Packets from the internet a forward's guard dropped, by reason (allowlist or limit)."}
	famInstalled     = family{"hairpin_rules_installed", "gauge", "1 when the last change of the datapath succeeded."}
	famDoubleNAT     = family{"hairpin_double_nat", "gauge", "1 when the router is behind another NAT."}
	famReachability  = family{"hairpin_reachability", "gauge", "The reachability classification: 1 for the current class of each address family."}
	famProbeReach    = family{"hairpin_probe_reachable", "gauge", "1 when the last reachability probe reached the forward from the internet, 0 when not."}
	famProbeTime     = family{"hairpin_probe_timestamp_seconds", "gauge", "When the last reachability probe ended."}
	famUpMappings    = family{"hairpin_upstream_mappings", "gauge", "Ports mapped on the box in front, by state."}
	famUpRequests    = family{"hairpin_upstream_requests_total", "counter", "Requests sent to the box in front (mappings, renewals, checks)."}
	famUpRenewals    = family{"hairpin_upstream_renewals_total", "counter", "Mapping renewals sent to the box in front."}
	famDNS           = family{"hairpin_ddns_state", "gauge", "1 for the state of each dynamic DNS hostname and address family: ok, retry, held, withheld or disabled (cannot run: a secret it could not read)."}
)

// changeBuckets are the histogram's upper bounds: 1 ms doubling to about 8 s.
var changeBuckets = [...]float64{0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192}

func newMetrics(d *Daemon) *metrics {
	return &metrics{d: d, changes: map[changeKey]uint64{}, changeSeconds: map[string]*histogram{}}
}

func (m *metrics) change(kind string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changes[changeKey{kind, result}]++
	h := m.changeSeconds[kind]
	if h == nil {
		h = &histogram{}
		m.changeSeconds[kind] = h
	}
	h.observe(took.Seconds())
}

func (m *metrics) handler() web.Handler {
	return web.HandlerFunc(func(w web.ResponseWriter, r *web.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		st := m.d.Status(ctx)
		var b bytes.Buffer
		m.write(&b, &st)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	})
}

// samples holds the exposition's sample lines by family. Its methods are not inlined: write calls them for
// every metric, and a copy of the formatting at each call grew the router build.
type samples map[family]*bytes.Buffer

//go:noinline
func (out samples) line(f family, name, v string) {
	b := out[f]
	if b == nil {
		b = &bytes.Buffer{}
		out[f] = b
	}
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(v)
	b.WriteByte('\n')
}

//go:noinline
func (out samples) add(f family, name string, v float64) {
	out.line(f, name, strconv.FormatFloat(v, 'g', -1, 64))
}

//go:noinline
func (out samples) count(f family, name string, n uint64) {
	out.line(f, name, strconv.FormatUint(n, 10))
}

// write writes the exposition: families in name order, each with its HELP and TYPE line and only when it has a
// sample, as Prometheus's own client did, so scrapes and dashboards see the same text as before.
func (m *metrics) write(w io.Writer, st *Status) {
	out := samples{}
	add, count := out.add, out.count

	m.mu.Lock()
	keys := make([]changeKey, 0, len(m.changes))
	for k := range m.changes {
		keys = append(keys, k)
	}
	// sort.Slice, not slices.SortedFunc: a pdqsort of its own for changeKey was 9.6 KB of the mipsle build
	// ("Binary size" in internal/ARCHITECTURE.md).
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.kind < b.kind || a.kind == b.kind && a.result < b.result
	})
	for _, k := range keys {
		count(famChanges, famChanges.name+labels("kind", k.kind, "result", k.result), m.changes[k])
	}
	for _, kind := range slices.Sorted(maps.Keys(m.changeSeconds)) {
		h := m.changeSeconds[kind]
		var cum uint64
		for i, ub := range changeBuckets {
			cum += h.buckets[i]
			count(famChangeSeconds, famChangeSeconds.name+"_bucket"+labels("kind", kind, "le", strconv.FormatFloat(ub, 'g', -1, 64)), cum)
		}
		count(famChangeSeconds, famChangeSeconds.name+"_bucket"+labels("kind", kind, "le", "+Inf"), h.count)
		add(famChangeSeconds, famChangeSeconds.name+"_sum"+labels("kind", kind), h.sum)
		count(famChangeSeconds, famChangeSeconds.name+"_count"+labels("kind", kind), h.count)
	}
	m.mu.Unlock()
	count(famWANChanges, famWANChanges.name, m.wanChanges.Get())
	count(famPublicChanges, famPublicChanges.name, m.publicChanges.Get())
	count(famProbes, famProbes.name, m.probes.Get())

	for _, f := range st.Forwards {
		add(famPackets, famPackets.name+labels("forward", f.Name), float64(f.Packets))
		add(famBytes, famBytes.name+labels("forward", f.Name), float64(f.Bytes))
		if f.Allow != nil {
			add(famDropped, famDropped.name+labels("forward", f.Name, "reason", "allowlist"), float64(f.DroppedAllow))
		}
		if f.Limit != "" {
			add(famDropped, famDropped.name+labels("forward", f.Name, "reason", "limit"), float64(f.DroppedLimit))
		}
	}
	add(famInstalled, famInstalled.name, boolFloat(st.Installed))
	add(famDoubleNAT, famDoubleNAT.name, boolFloat(st.DoubleNAT))
	for _, v := range st.Reachability {
		add(famReachability, famReachability.name+labels("class", string(v.Class), "family", v.Family, "upstream", string(v.Upstream)), 1)
	}
	if ps := st.Probe; ps != nil {
		for _, r := range ps.Results {
			add(famProbeReach, famProbeReach.name+labels("forward", r.Forward, "result", r.Result), boolFloat(r.Result == probe.ResultOpen))
		}
		add(famProbeTime, famProbeTime.name, float64(ps.Time.Unix()))
	}
	if up := st.Upstream; up != nil {
		counts := map[string]int{}
		for _, mp := range up.Mappings {
			counts[mp.State]++
		}
		states := make([]string, 0, len(counts))
		for s := range counts {
			states = append(states, s)
		}
		sort.Strings(states)
		for _, s := range states {
			add(famUpMappings, famUpMappings.name+labels("protocol", up.Protocol, "state", s), float64(counts[s]))
		}
		add(famUpRequests, famUpRequests.name, float64(up.Requests))
		add(famUpRenewals, famUpRenewals.name, float64(up.Renewals))
	}

	for _, h := range st.DDNS {
		fam := "ipv4"
		if h.Family != "" {
			fam = h.Family
		}
		add(famDNS, famDNS.name+labels("family", fam, "hostname", h.Hostname, "provider", h.Provider, "state", dnsState(h)), 1)
	}

	fams := make([]family, 0, len(out))
	for f := range out {
		fams = append(fams, f)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	for _, f := range fams {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		_, _ = w.Write(out[f].Bytes())
	}
}

// labels renders name/value pairs (names in sorted order, as the exposition expects) as {a="x",b="y"}.
func labels(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// The text format escapes backslash, double quote and newline in label values, and backslash and newline in
// help text: a forward's name cannot break a scrape.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// dnsState is a hostname's state in one word, for the metric.
func dnsState(h ddns.HostStatus) string {
	switch {
	case h.Disabled != "":
		return "disabled"
	case h.Withheld != "":
		return "withheld"
	case h.Held:
		return "held"
	case !h.NextRetry.IsZero():
		return "retry"
	}
	return "ok"
}
