package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hairpin-nat/hairpin/internal/probe"
)

var (
	probeReachable = prometheus.NewDesc("hairpin_probe_reachable", "1 when the last reachability probe reached the forward from the internet, 0 when not.",
		[]string{"forward", "result"}, nil)
	probeAge = prometheus.NewDesc("hairpin_probe_timestamp_seconds", "When the last reachability probe ended.", nil, nil)
	upMaps   = prometheus.NewDesc("hairpin_upstream_mappings", "Ports mapped on the box in front, by state.", []string{"protocol", "state"}, nil)
	upReqs   = prometheus.NewDesc("hairpin_upstream_requests_total", "Requests sent to the box in front (mappings, renewals, checks).", nil, nil)
	upRenew  = prometheus.NewDesc("hairpin_upstream_renewals_total", "Mapping renewals sent to the box in front.", nil, nil)
)

// reachCollector serves the probe's and the upstream mapper's state at scrape time.
type reachCollector struct{ d *Daemon }

func (c reachCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{probeReachable, probeAge, upMaps, upReqs, upRenew} {
		ch <- d
	}
}

func (c reachCollector) Collect(ch chan<- prometheus.Metric) {
	c.d.mu.Lock()
	ps := c.d.probeSt
	up := c.d.up
	c.d.mu.Unlock()
	if ps != nil {
		for _, r := range ps.Results {
			ch <- prometheus.MustNewConstMetric(probeReachable, prometheus.GaugeValue, boolFloat(r.Result == probe.ResultOpen), r.Forward, r.Result)
		}
		ch <- prometheus.MustNewConstMetric(probeAge, prometheus.GaugeValue, float64(ps.Time.Unix()))
	}
	if up != nil {
		st := up.m.Status()
		counts := map[string]int{}
		for _, m := range st.Mappings {
			counts[m.State]++
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(upMaps, prometheus.GaugeValue, float64(n), st.Protocol, state)
		}
		ch <- prometheus.MustNewConstMetric(upReqs, prometheus.CounterValue, float64(st.Requests))
		ch <- prometheus.MustNewConstMetric(upRenew, prometheus.CounterValue, float64(st.Renewals))
	}
}
