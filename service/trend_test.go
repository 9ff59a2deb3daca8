package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// storeRun records a completed run of tenant-a's test "nightly" whose p95
// is p95 ms.
func (e *env) storeRun(t *testing.T, start time.Time, p95 float64) string {
	t.Helper()
	ctx := t.Context()
	r, err := e.st.CreateRun(ctx, "tenant-a", store.Run{Name: "nightly", TestType: "load"})
	require.NoError(t, err)
	require.NoError(t, e.st.SetRunning(ctx, "tenant-a", r.ID, start))
	res := &loadtest.Result{Name: "nightly", TestType: "load", Start: start, End: start.Add(time.Minute), Status: loadtest.StatusPassed,
		Metrics: map[string]loadtest.MetricSummary{
			"http_req_duration": {Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{"p(95)": p95, "avg": p95 / 2}},
			"http_reqs":         {Type: metrics.Counter, Values: map[string]float64{"rate": 200, "count": 12000}},
		}}
	require.NoError(t, e.st.Finish(ctx, "tenant-a", r.ID, store.Finish{State: store.Completed, Result: res}))
	return r.ID
}

// A test's p95 steps up by half at its seventh run: the trend shows every
// run, oldest first, and one change point on that run.
func TestTrend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noise := []float64{0, 1.5, -1, 0.5, -1.5, 1, -0.5, 1, 0, -1, 1.5, -0.5}
	start := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	var ids []string
	for i, n := range noise {
		p95 := 100 + n
		if i >= 6 {
			p95 = 150 + n
		}
		ids = append(ids, e.storeRun(t, start.Add(time.Duration(i)*24*time.Hour), p95))
	}

	r := e.do("GET", "/tests/nightly/trend?metric=http_req_duration", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var tr service.TrendResponse
	r.json(t, &tr)
	assert.Equal(t, "p(95)", tr.Stat, "a trend metric's default")
	assert.Equal(t, "ms", tr.Unit)
	require.Len(t, tr.Points, 12)
	for i, p := range tr.Points {
		assert.Equal(t, ids[i], p.Run)
		assert.Equal(t, start.Add(time.Duration(i)*24*time.Hour), p.Started.UTC())
		require.NotNil(t, p.Value)
	}
	assert.Equal(t, 101.5, *tr.Points[1].Value)
	require.Len(t, tr.ChangePoints, 1, "%+v", tr.ChangePoints)
	assert.Equal(t, ids[6], tr.ChangePoints[0].Run)
	assert.Equal(t, 6, tr.ChangePoints[0].Index)
	assert.InDelta(t, 0.5, tr.ChangePoints[0].Change, 0.02)

	// The steady throughput has none; limit keeps the latest runs.
	r = e.do("GET", "/tests/nightly/trend?metric=http_reqs&stat=rate&limit=3&test_type=load", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	tr = service.TrendResponse{}
	r.json(t, &tr)
	assert.Equal(t, "1/s", tr.Unit)
	require.Len(t, tr.Points, 3)
	assert.Equal(t, ids[9], tr.Points[0].Run)
	assert.Empty(t, tr.ChangePoints)

	// Another tenant's test of the same name has no runs; a test type
	// without runs neither.
	for _, q := range []struct{ key, query string }{{e.keyB, ""}, {e.keyA, "&test_type=smoke"}} {
		r = e.do("GET", "/tests/nightly/trend?metric=http_req_duration"+q.query, q.key, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		tr = service.TrendResponse{}
		r.json(t, &tr)
		assert.Empty(t, tr.Points)
	}

	r = e.do("GET", "/tests/nightly/trend?stat=p(101&limit=0&when=now", e.keyA, nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	got := strings.Join(r.errors(t), "\n")
	for _, want := range []string{"metric: required", "stat: want an aggregation", "limit: want 1 … 500", "when: unknown parameter"} {
		assert.Contains(t, got, want)
	}
}
