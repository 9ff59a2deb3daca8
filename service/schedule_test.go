package service_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// fakeClock is the agent's clock in schedule tests: it moves only when
// the test says.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func withClock(c *fakeClock) envOption {
	return func(cfg *service.Config) {
		cfg.Now = c.Now
		cfg.SchedulePoll = -1 // the test drives RunSchedules
	}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/schedules", e.keyA, map[string]any{
		"cron": "61 * * * *", "timezone": "Mars/Olympus", "jitter": "2h", "missed": "sometimes",
	})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	got := strings.Join(r.errors(t), "\n")
	for _, want := range []string{"name: want 1-128 characters", "timezone: want an IANA time zone", "jitter: must be 0 … 1h0m0s, got 2h0m0s",
		"missed: want run_once or skip", "test: required"} {
		assert.Contains(t, got, want)
	}
	r = e.do("POST", "/schedules", e.keyA, map[string]any{"name": "x", "cron": "61 * * * *", "test": e.spec(nil)})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.errors(t)[0], "cron: ")
	r = e.do("POST", "/schedules", e.keyA, map[string]any{"name": "x", "cron": "* * * * *", "interval": "30s", "test": e.spec(nil)})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"interval: give cron or interval, not both"}, r.errors(t))
	r = e.do("POST", "/schedules", e.keyA, map[string]any{"name": "x", "interval": "30s", "test": map[string]any{"test_type": "load", "virtual_users": -1}})
	require.Equal(t, http.StatusBadRequest, r.Status)
	got = strings.Join(r.errors(t), "\n")
	assert.Contains(t, got, "interval: must be >= 1m0s, got 30s")
	assert.Contains(t, got, "test: virtual_users")
	// Over the tenant's limits: refused when it is made, not at 2 a.m.
	r = e.do("POST", "/schedules", e.keyA, map[string]any{"name": "big", "interval": "1h",
		"test": e.spec(map[string]any{"options": map[string]any{"vus": 500, "duration": "2s"}})})
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "max_vus")
}

// A schedule's slot starts a real run of its tenant through the start
// path of requests: the run records the schedule and the slot; a slot over
// the tenant's limits (changed since) starts nothing and says why.
func TestScheduleStartsRuns(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 5, 4, 10, 0, 30, 0, time.UTC)}
	e := newEnv(t, withClock(clock))
	spec := e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 2}})
	spec["target"].(map[string]any)["auth_token"] = "sekrit-token"
	r := e.do("POST", "/schedules", e.keyA, map[string]any{"name": "every 5", "cron": "*/5 * * * *", "test": spec})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var sc service.ScheduleInfo
	r.json(t, &sc)
	assert.Equal(t, "/schedules/"+sc.ID, r.Header.Get("Location"))
	assert.Equal(t, time.Date(2026, 5, 4, 10, 5, 0, 0, time.UTC), sc.NextSlot)
	assert.Equal(t, "run_once", sc.Missed)
	assert.NotContains(t, string(r.Body), "sekrit-token", "the spec is shown redacted")

	// Another tenant sees none of it.
	require.Equal(t, http.StatusNotFound, e.do("GET", "/schedules/"+sc.ID, e.keyB, nil).Status)
	require.Equal(t, http.StatusNotFound, e.do("DELETE", "/schedules/"+sc.ID, e.keyB, nil).Status)
	var list service.ScheduleList
	e.do("GET", "/schedules", e.keyB, nil).json(t, &list)
	assert.Empty(t, list.Schedules)
	e.do("GET", "/schedules", e.keyA, nil).json(t, &list)
	require.Len(t, list.Schedules, 1)

	n, err := e.srv.RunSchedules(t.Context(), sc.NextSlot.Add(-time.Second))
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is due before the slot")
	n, err = e.srv.RunSchedules(t.Context(), sc.NextSlot)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var got service.ScheduleInfo
	e.do("GET", "/schedules/"+sc.ID, e.keyA, nil).json(t, &got)
	require.NotEmpty(t, got.LastRun, "%+v", got)
	assert.Equal(t, sc.NextSlot, got.LastSlot)
	assert.Equal(t, sc.NextSlot.Add(5*time.Minute), got.NextSlot)
	st := e.waitFinal(e.keyA, got.LastRun)
	assert.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Equal(t, sc.ID, st.ScheduleID)
	assert.Equal(t, sc.NextSlot, st.Slot)
	assert.EqualValues(t, 2, st.Iterations)
	var runs service.ListResponse
	e.do("GET", "/load-test/list", e.keyA, nil).json(t, &runs)
	require.Len(t, runs.Runs, 1)
	assert.Equal(t, sc.ID, runs.Runs[0].ScheduleID)

	// The operator lowers the tenant's limits: the next slot starts nothing.
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxVUs: 1, MaxDuration: time.Second}))
	n, err = e.srv.RunSchedules(t.Context(), got.NextSlot)
	require.NoError(t, err)
	assert.Zero(t, n)
	got = service.ScheduleInfo{}
	e.do("GET", "/schedules/"+sc.ID, e.keyA, nil).json(t, &got)
	assert.Empty(t, got.LastRun)
	assert.Contains(t, got.LastError, "max_duration")
	e.do("GET", "/load-test/list", e.keyA, nil).json(t, &runs)
	assert.Len(t, runs.Runs, 1, "no run for the refused slot")

	// Disabled, it has no next run; removed, it is gone, its run stays.
	body := map[string]any{"name": "every 5", "cron": "*/5 * * * *", "enabled": false, "test": spec}
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{}))
	r = e.do("PUT", "/schedules/"+sc.ID, e.keyA, body)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	got = service.ScheduleInfo{}
	r.json(t, &got)
	assert.False(t, got.Enabled)
	assert.True(t, got.NextRun.IsZero())
	n, err = e.srv.RunSchedules(t.Context(), got.Updated.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n)
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/schedules/"+sc.ID, e.keyA, nil).Status)
	require.Equal(t, http.StatusNotFound, e.do("GET", "/schedules/"+sc.ID, e.keyA, nil).Status)
	assert.Equal(t, http.StatusOK, e.do("GET", "/load-test/"+st.ID+"/status", e.keyA, nil).Status)
}
