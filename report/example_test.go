package report_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
)

// exampleRun is a finished run as loadtest.Run returns it, cut down.
func exampleRun(p95 float64, start time.Time) loadtest.Result {
	th, _ := metrics.ParseThreshold("p(95)<200")
	status, verdict := loadtest.StatusPassed, metrics.Passed
	if p95 >= 200 {
		status, verdict = loadtest.StatusThresholdsFailed, metrics.Failed
	}
	return loadtest.Result{
		Name: "checkout", Start: start, Duration: time.Minute, Status: status,
		Metrics: map[string]loadtest.MetricSummary{
			"http_req_duration": {Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{"p(95)": p95}},
		},
		Thresholds: []metrics.Verdict{{Metric: "http_req_duration", Threshold: th, Status: verdict, Observed: p95}},
		RootGroup:  loadtest.Group{Checks: []loadtest.Check{{Name: "status is 200", Passes: 98, Fails: 2}}},
	}
}

// The three writers of one run: the versioned JSON document, the HTML page
// and JUnit XML.
func Example() {
	res := exampleRun(250, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	in := report.Input{Result: res, Analysis: anomaly.Analyze(res, nil, anomaly.Options{})}

	var doc, page, junit bytes.Buffer
	if err := report.WriteJSON(&doc, in); err != nil {
		panic(err)
	}
	if err := report.WriteHTML(&page, in); err != nil {
		panic(err)
	}
	if err := report.WriteJUnit(&junit, in); err != nil {
		panic(err)
	}
	back, _ := report.ReadJSON(&doc)
	fmt.Println(back.Result.Status, strings.Contains(page.String(), `id="thresholds"`))
	fmt.Println(strings.Contains(junit.String(), `<failure message="http_req_duration: p(95) = 250ms, threshold p(95)&lt;200"`))
	// Output:
	// thresholds_failed true
	// true
}

// Comparing a run with the history's baseline, as `loadlens compare`
// prints it.
func ExampleCompare() {
	day := 24 * time.Hour
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	history := []loadtest.Result{exampleRun(120, now.Add(-2*day)), exampleRun(260, now.Add(-day))}
	cur := exampleRun(180, now)

	base, ok := report.Baseline(history, cur) // the latest passed run
	if !ok {
		return
	}
	c := report.Compare(report.Run{Result: base}, report.Run{Result: cur}, report.CompareOptions{})
	_ = c.WriteText(os.Stdout)
	// Output:
	// Base:    checkout, started 2026-01-08T00:00:00Z, 1m0s, passed
	// Current: checkout, started 2026-01-10T00:00:00Z, 1m0s, passed
	// Outcome: worse (noise floor 5 %, alpha 0.05)
	//
	// METRIC       BASE    CURRENT  DELTA   CHANGE   P-VALUE  OUTCOME
	// latency p95  120 ms  180 ms   +60 ms  +50.0 %  –        worse
	//
	// New findings (0):
	// Resolved findings (0):
}
