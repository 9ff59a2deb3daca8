package loadtest

import (
	"testing"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// BenchmarkCollectorAdd is the dispatcher's work for one request of the
// c=50 plan: the nine samples k6http emits, a check and the iteration's
// four, in batches of 64 as VUs hand them over. ns/op is per request.
func BenchmarkCollectorAdd(b *testing.B) {
	reg, err := Plan{}.registry()
	if err != nil {
		b.Fatal(err)
	}
	totals, err := metrics.NewTotals(metrics.DefaultSubmetrics()...)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	c := newCollector(start, reg, totals)
	tags := metrics.NewTags("scenario", "default", "group", "", "name", "http://127.0.0.1/", "url", "http://127.0.0.1/",
		"method", "GET", "status", "200", "proto", "HTTP/1.1", "expected_response", "true")
	vuTags := metrics.NewTags("scenario", "default", "group", "")
	checkTags := vuTags.With("check", "status is 2xx/3xx")
	var request []metrics.Sample
	for _, name := range []string{metrics.HTTPReqs, metrics.HTTPReqDuration, metrics.HTTPReqBlocked, metrics.HTTPReqConnecting,
		metrics.HTTPReqTLSHandshaking, metrics.HTTPReqSending, metrics.HTTPReqWaiting, metrics.HTTPReqReceiving, metrics.HTTPReqFailed} {
		request = append(request, metrics.Sample{Metric: reg.Get(name), Value: 0.2, Tags: tags})
	}
	request = append(request, metrics.Sample{Metric: reg.Get(metrics.Checks), Value: 1, Tags: checkTags})
	for _, name := range []string{metrics.DataSent, metrics.DataReceived, metrics.Iterations, metrics.IterationDuration} {
		request = append(request, metrics.Sample{Metric: reg.Get(name), Value: 80, Tags: vuTags})
	}
	perBatch := 64 / len(request)
	batch := make([]metrics.Sample, 0, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := start.Add(time.Duration(i) * 20 * time.Microsecond) // 50 000 requests a second
		for _, s := range request {
			s.Time = now
			batch = append(batch, s)
		}
		if i++; i%perBatch == 0 {
			c.add(batch)
			batch = batch[:0]
		}
	}
}
