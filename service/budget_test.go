package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
)

func TestBudgetValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("PUT", "/budgets/checkout", e.keyA, map[string]any{
		"thresholds":  map[string]any{"http_req_duration": []string{"p(95)<<300", "p(95)<300"}},
		"baseline":    map[string]any{"http_reqs": []string{"rate>=0"}},
		"no_findings": "dire",
	})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	got := strings.Join(r.errors(t), "\n")
	for _, want := range []string{"thresholds.http_req_duration[0]: threshold", "baseline.http_reqs[0]: the ratio to the baseline must be > 0",
		"no_findings: want info, low, medium, high or critical"} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "[1]", "the good expression is not a problem")
	r = e.do("PUT", "/budgets/checkout", e.keyA, map[string]any{})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, http.StatusNotFound, e.do("GET", "/budgets/checkout", e.keyA, nil).Status)
}

// Budgets are checked at the end of every run of their test: a breach is a
// status on the run and one alert, however many runs go on breaching; a
// pass alerts nothing; the history shows each check.
func TestBudgetsAlertOnce(t *testing.T) {
	t.Parallel()
	hook := newReceiver(t, 0)
	e := newEnv(t, func(c *service.Config) {
		c.Webhooks = []service.Webhook{{URL: hook.srv.URL, Events: []string{service.EventBudgetBreached}}}
	})
	spec := e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 3}})
	loose := map[string]any{"thresholds": map[string]any{"http_req_duration": []string{"p(95)<60000"}, "http_req_failed": []string{"rate<0.01"}},
		"baseline": map[string]any{"http_reqs": []string{"count>=0.5"}}, "no_findings": "critical"}
	// The target takes 10 ms a request: a p(95) under 1 ms cannot hold.
	tight := map[string]any{"thresholds": map[string]any{"http_req_duration": []string{"p(95)<1"}}}
	var statuses []string
	var ids []string
	for i, budgets := range []map[string]any{loose, tight, tight, loose} {
		r := e.do("PUT", "/budgets/checkout", e.keyA, budgets)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		id := e.start(e.keyA, spec)
		st := e.waitFinal(e.keyA, id)
		require.NotEmpty(t, st.BudgetStatus, "run %d: %+v", i, st)
		statuses, ids = append(statuses, st.BudgetStatus), append(ids, id)
	}
	assert.Equal(t, []string{"passed", "breached", "breached", "passed"}, statuses)

	// Shutdown waits for every run's alerts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))
	alerts := hook.received()
	require.Len(t, alerts, 1, "a breach alerts once")
	var a service.Alert
	require.NoError(t, json.Unmarshal(alerts[0], &a))
	assert.Equal(t, ids[1], a.RunID)
	assert.Contains(t, a.Events, service.EventBudgetBreached)
	assert.Equal(t, []string{"http_req_duration: p(95)<1"}, a.BudgetBreaches)

	r := e.do("GET", "/budgets/checkout/history?limit=10", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var h service.BudgetHistory
	r.json(t, &h)
	require.Len(t, h.Runs, 4)
	assert.Equal(t, ids[3], h.Runs[0].Run.ID, "newest first")
	first := h.Runs[3].Check
	assert.Empty(t, first.Baseline)
	require.Len(t, first.Results, 4)
	assert.Contains(t, first.Results[2].Skipped, "no baseline", "%+v", first.Results)
	last := h.Runs[0].Check
	assert.Equal(t, ids[2], last.Baseline, "the latest completed run before it is the baseline")
	require.Len(t, last.Results, 4)
	assert.True(t, last.Results[2].Passed, "%+v", last.Results[2])
	assert.Equal(t, http.StatusBadRequest, e.do("GET", "/budgets/checkout/history?limit=0", e.keyA, nil).Status)
	var other service.BudgetHistory
	e.do("GET", "/budgets/checkout/history", e.keyB, nil).json(t, &other)
	assert.Empty(t, other.Runs, "another tenant's history is its own")
}
