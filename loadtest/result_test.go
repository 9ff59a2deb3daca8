package loadtest_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

func TestResultMetric(t *testing.T) {
	t.Parallel()
	res := loadtest.Result{Metrics: map[string]loadtest.MetricSummary{
		"http_req_duration":             {Values: map[string]float64{"avg": 12, "med": 10, "p(95)": 40, "p(99.9)": 90, "max": math.NaN()}},
		"http_req_duration{status:200}": {Values: map[string]float64{"p(95)": 30}},
		"http_req_failed":               {Values: map[string]float64{"rate": 0.25}},
		"data_received":                 {Values: map[string]float64{"rate": math.Inf(1)}},
	}}
	cases := []struct {
		name   string
		got    func() (float64, bool)
		want   float64
		wantOK bool
	}{
		{"percentile", func() (float64, bool) { return res.Metric("http_req_duration").Percentile(95) }, 40, true},
		{"fractional percentile", func() (float64, bool) { return res.Metric("http_req_duration").Percentile(99.9) }, 90, true},
		{"median as med", func() (float64, bool) { return res.Metric("http_req_duration").Percentile(50) }, 10, true},
		{"missing percentile", func() (float64, bool) { return res.Metric("http_req_duration").Percentile(90) }, 0, false},
		{"sub-metric", func() (float64, bool) { return res.Metric("http_req_duration{status:200}").Percentile(95) }, 30, true},
		{"rate", func() (float64, bool) { return res.Metric("http_req_failed").Value("rate") }, 0.25, true},
		{"NaN is no value", func() (float64, bool) { return res.Metric("http_req_duration").Value("max") }, math.NaN(), false},
		{"Inf is no value", func() (float64, bool) { return res.Metric("data_received").Value("rate") }, math.Inf(1), false},
		{"missing metric", func() (float64, bool) { return res.Metric("iterations").Value("count") }, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, ok := c.got()
			assert.Equal(t, c.wantOK, ok)
			if ok {
				assert.Equal(t, c.want, got)
			}
		})
	}
}

// TestCrossedMessage: the CLI's error line and an abortOnFail abort say the
// same thing, each metric once and sorted (the CLI's own once listed them
// in verdict order).
func TestCrossedMessage(t *testing.T) {
	t.Parallel()
	verdicts := []metrics.Verdict{
		{Metric: "http_req_failed", Status: metrics.Failed},
		{Metric: "checks", Status: metrics.Passed},
		{Metric: "http_req_duration", Status: metrics.Failed},
		{Metric: "http_req_failed", Status: metrics.Failed},
	}
	assert.Equal(t, "thresholds on metrics 'http_req_duration, http_req_failed' have been crossed", loadtest.CrossedMessage(verdicts))
}
