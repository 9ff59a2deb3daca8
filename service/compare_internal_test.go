package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/store"
)

// TestCompareRunsIsReportCompare: the API's verdicts are report.Compare's,
// so the CLI and the API agree on a pair of runs. An error rate from 1 %
// to 1.3 % is 30 % worse and above the 0.1 % absolute floor: worse for
// both (the API's own floor of 0.5 % once called it unchanged).
func TestCompareRunsIsReportCompare(t *testing.T) {
	t.Parallel()
	result := func(start time.Time, failed, p95 float64) *loadtest.Result {
		return &loadtest.Result{Name: "checkout", Start: start, Status: loadtest.StatusPassed, Metrics: map[string]loadtest.MetricSummary{
			"http_req_failed":   {Values: map[string]float64{"rate": failed}},
			"http_req_duration": {Values: map[string]float64{"p(95)": p95, "avg": 50}},
			"http_reqs":         {Values: map[string]float64{"rate": 100}},
		}}
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := store.Run{ID: "r1", Result: result(t0, 0.010, 100)}
	cur := store.Run{ID: "r2", Result: result(t0.Add(time.Hour), 0.013, 101)}

	got := compareRuns(cur, base)
	want := report.Compare(report.Run{Result: *base.Result}, report.Run{Result: *cur.Result}, report.CompareOptions{})
	assert.Equal(t, want, got.Comparison)
	assert.Equal(t, report.OutcomeWorse, got.Comparison.Outcome)

	verdicts := map[string]string{}
	for _, m := range got.Metrics {
		verdicts[m.Name] = m.Verdict
	}
	assert.Equal(t, map[string]string{
		"http_req_failed.rate":  "regressed",
		"http_req_duration.p95": "unchanged", // 1 %: within the noise floor
		"http_req_duration.avg": "unchanged",
		"http_reqs.rate":        "unchanged",
	}, verdicts)
	assert.Equal(t, 1, got.Regressions)
	assert.Zero(t, got.Improvements)
	require.Len(t, got.Metrics, 4)
	assert.Equal(t, "r2", got.Run)
	assert.Equal(t, "r1", got.Other)
}
