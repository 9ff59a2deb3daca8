package metrics_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// Thresholds in k6's grammar, checked against the totals of a run.
func Example() {
	reg := metrics.NewRegistry()
	var ths metrics.Thresholds
	if err := json.Unmarshal([]byte(`{
		"http_req_duration": ["p(95)<500"],
		"http_req_duration{status:200}": ["max<100"],
		"http_req_failed": [{"threshold": "rate<0.01", "abortOnFail": true}]
	}`), &ths); err != nil {
		panic(err)
	}
	ev, err := metrics.NewEvaluator(ths, reg)
	if err != nil {
		panic(err)
	}
	totals, err := metrics.NewTotals(ev.MetricKeys()...)
	if err != nil {
		panic(err)
	}
	for i := range 100 {
		status, failed := "200", 0.0
		if i%10 == 0 {
			status, failed = "503", 1
		}
		tags := metrics.NewTags("status", status)
		totals.Add(
			metrics.Sample{Metric: reg.Get(metrics.HTTPReqDuration), Value: float64(i), Tags: tags},
			metrics.Sample{Metric: reg.Get(metrics.HTTPReqFailed), Value: failed, Tags: tags},
		)
	}
	// p(95) is within 0.5 % of the exact 94.05: trends keep a histogram.
	totals.View(func(src metrics.SinkSource) {
		for _, v := range ev.Evaluate(src, 10*time.Second, true) {
			fmt.Printf("%s %s: %s (%.4g) abort=%v\n", v.Metric, v.Threshold.Source, v.Status, v.Observed, v.Aborts(10*time.Second))
		}
	})
	// Output:
	// http_req_duration p(95)<500: passed (94.05) abort=false
	// http_req_duration{status:200} max<100: passed (99) abort=false
	// http_req_failed rate<0.01: failed (0.1) abort=true
}

// A bad threshold names the expression, the metric and what is allowed.
func ExampleNewEvaluator() {
	ths, _ := metrics.ParseThresholds(map[string][]string{"http_reqs": {"p(95)<1"}, "nonexistent_metric": {"count>1"}})
	_, err := metrics.NewEvaluator(ths, metrics.NewRegistry())
	fmt.Println(err)
	// Output:
	// thresholds["http_reqs"][0]: "p(95)<1": aggregation "p(95)" is not supported on counter metric "http_reqs"; want one of count, rate
	// thresholds["nonexistent_metric"]: metric "nonexistent_metric" does not exist
}
