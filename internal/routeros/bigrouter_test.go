package routeros

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/routeros/rostest"
)

// bigRouter is a router with 100,000 foreign address-list entries (blocklists) and 5,000 foreign NAT rules.
func bigRouter(f *fixture) {
	f.r.AddMany(rostest.AddrList, 100_000, func(i int) rostest.Entry {
		return rostest.Entry{"list": fmt.Sprintf("blocklist-%d", i%4), "address": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			"comment": "spamhaus drop", "timeout": "1d", "creation-time": "2026-11-29 12:00:00"}
	})
	f.r.AddMany(rostest.NAT, 5_000, func(i int) rostest.Entry {
		return rostest.Entry{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": fmt.Sprint(20000 + i),
			"dst-address": "203.0.113.7", "in-interface": "ether1", "to-addresses": fmt.Sprintf("192.168.88.%d", 2+i%200),
			"to-ports": "80", "comment": fmt.Sprintf("customer %d", i), "bytes": "123456789", "packets": "123456"}
	})
}

// BenchmarkReconcileBigRouter measures a reconcile of the four cameras against a router holding 100,000
// foreign address-list entries and 5,000 foreign NAT rules, next to the same reconcile on an empty router
// (the baseline of the ratios), and what reading the NAT table without .proplist would cost.
//
//	go test -run '^$' -bench BigRouter -benchtime 5x ./internal/routeros/
func BenchmarkReconcileBigRouter(b *testing.B) {
	for _, size := range []string{"empty", "big"} {
		b.Run(size, func(b *testing.B) {
			f := newFixture(b)
			if size == "big" {
				bigRouter(f)
			}
			d := f.desired()
			var fresh, unchanged result
			for b.Loop() {
				if err := f.b.Down(ctx); err != nil {
					b.Fatal(err)
				}
				fresh = measure(b, f, func() error { return f.b.Apply(ctx, d) })
				unchanged = measure(b, f, func() error { return f.b.Apply(ctx, d) })
			}
			b.ReportMetric(float64(fresh.requests), "fresh-requests")
			b.ReportMetric(float64(fresh.bytes), "fresh-bytes-read")
			b.ReportMetric(float64(fresh.elapsed.Microseconds())/1000, "fresh-ms")
			b.ReportMetric(float64(unchanged.requests), "unchanged-requests")
			b.ReportMetric(float64(unchanged.bytes), "unchanged-bytes-read")
			b.ReportMetric(float64(unchanged.elapsed.Microseconds())/1000, "unchanged-ms")
			if size == "big" {
				// What the NAT read would download without .proplist (counters and state included).
				f.r.ResetCounts()
				if _, err := f.b.c.do(ctx, "GET", pathNAT, nil, nil); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(f.r.BytesServed()), "nat-read-without-proplist-bytes")
				f.r.ResetCounts()
				if _, err := f.b.readTable(ctx, pathNAT, url.Values{".proplist": {natProps}}); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(f.r.BytesServed()), "nat-read-with-proplist-bytes")
				// What reading the address lists whole (instead of hairpin's two by name) would download.
				f.r.ResetCounts()
				if _, err := f.b.c.do(ctx, "GET", pathAddrList, url.Values{".proplist": {".id,list,address,comment,disabled"}}, nil); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(f.r.BytesServed()), "all-lists-read-bytes")
			}
		})
	}
}

type result struct {
	requests int
	bytes    int64
	elapsed  time.Duration
}

func measure(b *testing.B, f *fixture, fn func() error) result {
	b.Helper()
	f.r.ResetCounts()
	start := time.Now()
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	reads, writes := f.r.Counts()
	return result{requests: reads + writes, bytes: f.r.BytesServed(), elapsed: el}
}

// TestBigRouterReconcile checks the big router's reconcile is right and cheap in requests (never in time):
// hairpin never downloads the foreign address lists.
func TestBigRouterReconcile(t *testing.T) {
	f := newFixture(t)
	bigRouter(f)
	d := f.desired()
	f.r.ResetCounts()
	if err := f.b.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	reads, writes := f.r.Counts()
	if reads != 3 || writes != 12 {
		t.Errorf("fresh apply on a big router: %d reads, %d writes (%v)", reads, writes, f.r.Requests())
	}
	// The address lists' read must not carry the 100,000 foreign entries: a few hundred bytes per entry
	// would be tens of megabytes. The NAT table is read whole (placement needs it), without counters.
	if got := f.r.BytesServed(); got > 3<<20 {
		t.Errorf("fresh apply read %d bytes", got)
	}
	if got := f.r.ReadsWithoutProplist(); len(got) != 0 {
		t.Errorf("reads without .proplist: %v", got)
	}
}
