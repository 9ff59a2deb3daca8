package anomaly_test

import (
	"fmt"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
)

// A run whose HTTP failure rate was 12 %: the seed's error-rate rule fires
// at high severity.
func ExampleAnalyze() {
	res := loadtest.Result{
		Status:   loadtest.StatusPassed,
		Duration: time.Minute,
		Metrics: map[string]loadtest.MetricSummary{
			"http_req_failed": {Values: map[string]float64{"rate": 0.12, "passes": 120, "fails": 880}},
		},
	}
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	for _, f := range rep.Findings {
		fmt.Println(f.Severity, f.Kind, f.Message)
	}
	fmt.Println(rep.Severity)
	// Output:
	// high error_rate 12 % of HTTP requests failed (120 of 1000), above the 10 % limit.
	// high
}

// Otava's sample: metric2 drops 12.9 % at its seventh run.
func ExampleChangePoints() {
	series := []float64{10.43, 10.23, 10.29, 10.91, 10.34, 10.69, 9.23, 9.11, 9.13, 9.03}
	for _, cp := range anomaly.ChangePoints(series, anomaly.ChangePointOptions{}) {
		fmt.Printf("at %d: %.2f → %.2f (%.1f %%)\n", cp.Index, cp.MeanBefore, cp.MeanAfter, 100*cp.Change())
	}
	// Output:
	// at 6: 10.48 → 9.12 (-12.9 %)
}

// The per-second timeline of `loadlens demo`: the VUs ramp from 0 to 40 in
// 20 s against a target that serves 8 requests at a time. Throughput stops
// growing at about 10 VUs while latency triples: one finding, the knee and
// k6 Cloud's throughput-limit insight together.
func ExampleAnalyze_throughputLimit() {
	vus := []float64{0, 1, 3, 5, 8, 9, 12, 13, 16, 18, 20, 21, 24, 25, 28, 30, 31, 33, 35, 37, 39, 40, 40, 40, 40, 0}
	rps := []float64{29, 169, 318, 453, 594, 715, 736, 740, 738, 744, 744, 736, 736, 744, 736, 733, 758, 746, 730, 762, 753, 741, 750, 753, 741, 111}
	p95 := []float64{17.9, 16.2, 14.9, 15.5, 15.5, 16.4, 20.4, 22.3, 28.6, 32.2, 32.8, 33.5, 36.6, 43.3, 44.2, 45.9, 46.4, 54.2, 56.0, 53.3, 56.0, 56.0, 55.5, 55.5, 56.0, 55.2}
	res := loadtest.Result{
		Status:   loadtest.StatusPassed,
		Duration: time.Duration(len(vus)) * time.Second,
		Timeline: loadtest.Timeline{Step: time.Second, Series: []loadtest.Series{
			{Name: loadtest.SeriesVUs, Values: vus},
			{Name: loadtest.SeriesRequests, Values: rps},
			{Name: loadtest.SeriesLatencyP95, Values: p95},
		}},
	}
	rep := anomaly.Analyze(res, nil, anomaly.Options{})
	for _, f := range rep.Findings {
		fmt.Println(f.Kind, f.Method, f.Start)
		fmt.Println(f.Message)
	}
	// Output:
	// throughput_limit kneedle+plateau 6s
	// Throughput stopped growing at ≈10 VUs (~740 req/s) while the VUs rose to 40 and p95 rose from 16 ms to 56 ms: the target is saturated.
}

// The issue's first example: one endpoint of two goes from 5 ms to 200 ms
// at 8 s of a 20 s run at 10 VUs. The screen names it, and says what
// requests per second did at the same load.
func ExampleAnalyze_stepOnOneEndpoint() {
	const n = 20
	series := func(name, endpoint string, f func(i int) float64) loadtest.Series {
		s := loadtest.Series{Name: name, Values: make([]float64, n)}
		if endpoint != "" {
			s.Tags = map[string]string{"name": endpoint}
		}
		for i := range n {
			s.Values[i] = f(i)
		}
		return s
	}
	slow := func(i int) float64 {
		if i >= 8 {
			return 200 + float64(i%3)
		}
		return 5 + float64(i%3)/10
	}
	fast := func(i int) float64 { return 5 + float64(i%2)/10 }
	rps := func(i int) float64 {
		if i >= 8 {
			return 40
		}
		return 1300
	}
	half := func(i int) float64 { return rps(i) / 2 }
	res := loadtest.Result{
		Status:   loadtest.StatusPassed,
		Duration: n * time.Second,
		Timeline: loadtest.Timeline{Step: time.Second, Series: []loadtest.Series{
			series(loadtest.SeriesVUs, "", func(int) float64 { return 10 }),
			series(loadtest.SeriesRequests, "", rps),
			series(loadtest.SeriesLatencyP95, "", slow),
			series(loadtest.SeriesRequests, "GET /fast", half),
			series(loadtest.SeriesLatencyP95, "GET /fast", fast),
			series(loadtest.SeriesRequests, "GET /slow", half),
			series(loadtest.SeriesLatencyP95, "GET /slow", slow),
		}},
	}
	for _, f := range anomaly.Analyze(res, nil, anomaly.Options{}).Findings {
		fmt.Println(f.Severity, f.Kind, f.Tags["name"], f.Start, f.End)
		fmt.Println(f.Message)
	}
	// Output:
	// high latency_shift GET /slow 8s 20s
	// The p95 latency of GET /slow rose 39× (5.1 ms → 201 ms) at 8.0 s and stayed up to the end of the run; requests/s of GET /slow fell from 650 to 20 at a steady 10 VUs.
}
