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
