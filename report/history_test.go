package report_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
)

// historyRun is a run of the history tests: its p95 in ms and its
// request rate.
func historyRun(start time.Time, p95, rps float64) loadtest.Result {
	return loadtest.Result{Name: "checkout", Start: start, Status: loadtest.StatusPassed, Metrics: map[string]loadtest.MetricSummary{
		"http_req_duration": {Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{"p(95)": p95, "avg": p95 / 2}},
		"http_req_failed":   {Type: metrics.Rate, Values: map[string]float64{"rate": 0.002}},
		"http_reqs":         {Type: metrics.Counter, Values: map[string]float64{"rate": rps, "count": rps * 60}},
	}}
}

// stepRuns are 12 runs whose p95 steps from about 100 ms to about 150 ms
// at run 6, the throughput steady.
func stepRuns() []loadtest.Result {
	noise := []float64{0, 1.5, -1, 0.5, -1.5, 1, -0.5, 1, 0, -1, 1.5, -0.5}
	start := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	var runs []loadtest.Result
	for i, n := range noise {
		p95 := 100 + n
		if i >= 6 {
			p95 = 150 + n
		}
		runs = append(runs, historyRun(start.Add(time.Duration(i)*24*time.Hour), p95, 500+n))
	}
	return runs
}

func TestNewTrend(t *testing.T) {
	t.Parallel()
	runs := stepRuns()
	tr := report.NewTrend(runs, "http_req_duration", metrics.Percentile(95))
	assert.Equal(t, "p(95)", tr.Stat)
	assert.Equal(t, "ms", tr.Unit)
	require.Len(t, tr.Values, 12)
	assert.Equal(t, 101.5, *tr.Values[1])
	require.Len(t, tr.ChangePoints, 1, "%+v", tr.ChangePoints)
	cp := tr.ChangePoints[0]
	assert.Equal(t, 6, cp.Index)
	assert.InDelta(t, 0.5, cp.Change(), 0.02)

	// A run without the metric is a gap: the change point still names
	// the run where the level changes.
	gap := append([]loadtest.Result{}, runs...)
	gap[2] = loadtest.Result{Name: "checkout"}
	tr = report.NewTrend(gap, "http_req_duration", metrics.Percentile(95))
	assert.Nil(t, tr.Values[2])
	require.Len(t, tr.ChangePoints, 1)
	assert.Equal(t, 6, tr.ChangePoints[0].Index)

	// The steady throughput has no change point; a rate of requests is
	// per second, of failures a ratio.
	tr = report.NewTrend(runs, "http_reqs", metrics.Aggregation{Name: "rate"})
	assert.Equal(t, "1/s", tr.Unit)
	assert.Empty(t, tr.ChangePoints)
	assert.NotNil(t, tr.ChangePoints, "an empty list, not null, in JSON")
	assert.Equal(t, "ratio", report.NewTrend(runs, "http_req_failed", metrics.Aggregation{Name: "rate"}).Unit)
	assert.Empty(t, report.NewTrend(runs, "no_such_metric", metrics.Aggregation{Name: "rate"}).ChangePoints)
}

// The HTML report's history section: the earlier runs and this one, the
// first run of the new level marked.
func TestWriteHTMLHistory(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, false)
	p := parsePage(t, renderHTML(t, in))
	assert.NotContains(t, p.byID, "history", "no history, no section")

	runs := stepRuns()
	for i, r := range runs[:11] {
		in.History = append(in.History, report.HistoryRun{ID: fmt.Sprintf("run-%02d", i), Result: r})
	}
	in.Result.Metrics = runs[11].Metrics
	p = parsePage(t, renderHTML(t, in))
	require.Contains(t, p.byID, "history")
	rows := elements(elements(p.byID["history"], "tbody")[0], "tr")
	require.Len(t, rows, 12)
	assert.Contains(t, text(rows[0]), "run-00")
	assert.Contains(t, text(rows[0]), "2026-05-01 02:00:00 UTC")
	assert.Contains(t, text(rows[0]), "100 ms")
	assert.Contains(t, text(rows[11]), "this run")
	for i, row := range rows {
		marked := strings.Contains(text(row), "+")
		assert.Equal(t, i == 6, marked, "row %d: %s", i, text(row))
	}
	assert.Contains(t, text(rows[6]), "+50.0 %")
}
