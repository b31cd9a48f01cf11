package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus metrics, served at /metrics on the status listener. They live on a
// registry of their own so a test can run several daemons in one process.
type metrics struct {
	reg           *prometheus.Registry
	changes       *prometheus.CounterVec
	changeSeconds *prometheus.HistogramVec
	wanChanges    prometheus.Counter
	publicChanges prometheus.Counter
	probes        prometheus.Counter
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hairpin_rule_changes_total",
			Help: "Changes made to the datapath, by kind (full apply or WAN set update) and result.",
		}, []string{"kind", "result"}),
		changeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hairpin_rule_change_seconds",
			Help:    "Time one change of the datapath took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"}),
		wanChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hairpin_wan_address_changes_total", Help: "WAN address changes seen.",
		}),
		publicChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hairpin_public_address_changes_total", Help: "Public address changes learned from public_ip sources.",
		}),
		probes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hairpin_probes_total", Help: "Reachability probes asked of the probe server.",
		}),
	}
	m.reg.MustRegister(m.changes, m.changeSeconds, m.wanChanges, m.publicChanges, m.probes, forwardCollector{d}, reachCollector{d})
	return m
}

func (m *metrics) change(kind string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.changes.WithLabelValues(kind, result).Inc()
	m.changeSeconds.WithLabelValues(kind).Observe(took.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	fwdPackets = prometheus.NewDesc("hairpin_forward_packets_total", "Packets carried by a forward (both directions).", []string{"forward"}, nil)
	fwdBytes   = prometheus.NewDesc("hairpin_forward_bytes_total", "Bytes carried by a forward (both directions).", []string{"forward"}, nil)
	fwdDropped = prometheus.NewDesc("hairpin_forward_dropped_packets_total", "Packets from the internet a forward's guard dropped, by reason (allowlist or limit).", []string{"forward", "reason"}, nil)
	installed  = prometheus.NewDesc("hairpin_rules_installed", "1 when the last change of the datapath succeeded.", nil, nil)
	doubleNAT  = prometheus.NewDesc("hairpin_double_nat", "1 when the router is behind another NAT.", nil, nil)
	reachable  = prometheus.NewDesc("hairpin_reachability", "The reachability classification: 1 for the current class of each address family.",
		[]string{"family", "class", "upstream"}, nil)
)

// forwardCollector reads the per-forward counters from the backend at scrape time.
type forwardCollector struct{ d *Daemon }

func (c forwardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fwdPackets
	ch <- fwdBytes
	ch <- fwdDropped
	ch <- installed
	ch <- doubleNAT
	ch <- reachable
}

func (c forwardCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := c.d.Status(ctx)
	for _, f := range st.Forwards {
		ch <- prometheus.MustNewConstMetric(fwdPackets, prometheus.CounterValue, float64(f.Packets), f.Name)
		ch <- prometheus.MustNewConstMetric(fwdBytes, prometheus.CounterValue, float64(f.Bytes), f.Name)
		if f.Allow != nil {
			ch <- prometheus.MustNewConstMetric(fwdDropped, prometheus.CounterValue, float64(f.DroppedAllow), f.Name, "allowlist")
		}
		if f.Limit != "" {
			ch <- prometheus.MustNewConstMetric(fwdDropped, prometheus.CounterValue, float64(f.DroppedLimit), f.Name, "limit")
		}
	}
	ch <- prometheus.MustNewConstMetric(installed, prometheus.GaugeValue, boolFloat(st.Installed))
	ch <- prometheus.MustNewConstMetric(doubleNAT, prometheus.GaugeValue, boolFloat(st.DoubleNAT))
	for _, v := range st.Reachability {
		ch <- prometheus.MustNewConstMetric(reachable, prometheus.GaugeValue, 1, v.Family, string(v.Class), string(v.Upstream))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
