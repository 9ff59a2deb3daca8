package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/internal/pgtest"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// eachBackend runs a test of the store on a new SQLite file and on a new
// PostgreSQL database; path opens the same database again.
func eachBackend(t *testing.T, test func(t *testing.T, st *store.Store, path string)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st, path := open(t)
		test(t, st, path)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.Database(t)
		st, err := store.Open(t.Context(), url)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		test(t, st, url)
	})
}

func open(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loadlens.db")
	st, err := store.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st, path
}

func TestTenantsAndKeys(t *testing.T) { eachBackend(t, testTenantsAndKeys) }

func testTenantsAndKeys(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()

	key, err := st.AddTenant(ctx, "acme")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key, "llk_"), key)
	_, err = st.AddTenant(ctx, "acme")
	require.ErrorIs(t, err, store.ErrExists)
	_, err = st.AddTenant(ctx, "bad name!")
	require.Error(t, err)

	ten, keyID, err := st.Authenticate(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "acme", ten.ID)
	assert.Equal(t, store.KeyID(key), keyID)

	for _, bad := range []string{"", "llk_nope", key + "x", strings.ToUpper(key), "Bearer " + key} {
		_, _, err := st.Authenticate(ctx, bad)
		require.ErrorIs(t, err, store.ErrBadKey, bad)
	}

	key2, err := st.AddKey(ctx, "acme")
	require.NoError(t, err)
	require.NotEqual(t, key, key2)
	require.NoError(t, st.RevokeKey(ctx, "acme", store.KeyID(key)))
	_, _, err = st.Authenticate(ctx, key)
	require.ErrorIs(t, err, store.ErrBadKey)
	_, _, err = st.Authenticate(ctx, key2)
	require.NoError(t, err)
	_, err = st.AddKey(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)

	lim := store.Limits{MaxVUs: 7, MaxDuration: time.Minute, MaxConcurrent: 2, AllowedHosts: []string{"127.0.0.1", "10.0.0.0/8"}}
	require.NoError(t, st.SetLimits(ctx, "acme", lim))
	ten, err = st.Tenant(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, lim, ten.Limits)
	require.Error(t, st.SetLimits(ctx, "acme", store.Limits{MaxVUs: -1, MaxConcurrent: -1}))
	require.ErrorIs(t, st.SetLimits(ctx, "nobody", store.Limits{}), store.ErrNotFound)

	all, err := st.Tenants(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestKeysAreStoredHashed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, path := open(t)
	key, err := st.AddTenant(ctx, "acme")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	raw := readFile(t, path)
	assert.NotContains(t, raw, strings.TrimPrefix(key, "llk_"))
	st2, err := store.Open(ctx, path)
	require.NoError(t, err)
	defer st2.Close()
	_, _, err = st2.Authenticate(ctx, key)
	require.NoError(t, err)
}

func result(name string, start time.Time, p95 float64) *loadtest.Result {
	return &loadtest.Result{Name: name, TestType: "load", Start: start, End: start.Add(time.Minute),
		Status: loadtest.StatusPassed, Metrics: map[string]loadtest.MetricSummary{
			"http_req_duration": {Type: metrics.Trend, Values: map[string]float64{"p(95)": p95}},
		},
		Timeline: loadtest.Timeline{Start: start, Step: time.Second, Series: []loadtest.Series{{Name: loadtest.SeriesLatencyP95}}}}
}

func TestRunLifecycle(t *testing.T) { eachBackend(t, testRunLifecycle) }

func testRunLifecycle(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	_, err := st.AddTenant(ctx, "a")
	require.NoError(t, err)
	_, err = st.AddTenant(ctx, "b")
	require.NoError(t, err)

	spec := json.RawMessage(`{"test_type":"load"}`)
	r, err := st.CreateRun(ctx, "a", store.Run{Name: "checkout", TestType: "load", Actor: "key-1", Spec: spec})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, r.State)
	_, err = st.CreateRun(ctx, "nobody", store.Run{Name: "x"})
	require.ErrorIs(t, err, store.ErrNotFound)

	// Another tenant sees nothing and changes nothing.
	_, err = st.Run(ctx, "b", r.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Summary(ctx, "b", r.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, st.SetRunning(ctx, "b", r.ID, time.Now()), store.ErrNotFound)
	require.ErrorIs(t, st.Finish(ctx, "b", r.ID, store.Finish{State: store.Completed}), store.ErrNotFound)
	require.ErrorIs(t, st.SetBaseline(ctx, "b", r.ID), store.ErrNotFound)
	require.ErrorIs(t, st.SetAnalysis(ctx, "b", r.ID, &anomaly.Report{Summary: "b's"}, nil), store.ErrNotFound)
	_, err = st.Baseline(ctx, "b", r.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	start := time.Now()
	require.NoError(t, st.SetRunning(ctx, "a", r.ID, start))
	require.ErrorIs(t, st.SetRunning(ctx, "a", r.ID, start), store.ErrConflict)
	require.Error(t, st.Finish(ctx, "a", r.ID, store.Finish{State: store.Running}))
	res := result("checkout", start, 120)
	stats := store.Stats{Requests: 10, RequestRate: 2, ErrorRate: 0.1, P95: 120, Fraction: 1}
	require.NoError(t, st.Finish(ctx, "a", r.ID, store.Finish{State: store.Completed, Ended: start.Add(time.Minute), Stats: stats, Result: res}))
	require.ErrorIs(t, st.Finish(ctx, "a", r.ID, store.Finish{State: store.Failed}), store.ErrConflict)
	rep := &anomaly.Report{Summary: "fine", Schedule: "plan"}
	ai := &anomaly.AIAnalysis{Available: false, Unavailable: "no API key"}
	require.NoError(t, st.SetAnalysis(ctx, "a", r.ID, rep, ai))

	got, err := st.Run(ctx, "a", r.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Completed, got.State)
	assert.Equal(t, loadtest.StatusPassed, got.Status)
	assert.Equal(t, stats, got.Stats)
	assert.JSONEq(t, string(spec), string(got.Spec))
	require.NotNil(t, got.Result)
	assert.Equal(t, 120.0, got.Result.Metrics["http_req_duration"].Values["p(95)"])
	assert.Equal(t, rep.Summary, got.Report.Summary)
	assert.Equal(t, ai.Unavailable, got.AI.Unavailable)
	assert.Equal(t, "key-1", got.Actor)
	sum, err := st.Summary(ctx, "a", r.ID)
	require.NoError(t, err)
	assert.Nil(t, sum.Result)
	assert.Equal(t, stats, sum.Stats)
}

func TestListHistoryBaseline(t *testing.T) { eachBackend(t, testListHistoryBaseline) }

func testListHistoryBaseline(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	for _, ten := range []string{"a", "b"} {
		_, err := st.AddTenant(ctx, ten)
		require.NoError(t, err)
	}
	base := time.Now().Add(-time.Hour)
	var ids []string
	for i := range 7 {
		name := "checkout"
		if i%3 == 2 {
			name = "search"
		}
		r, err := st.CreateRun(ctx, "a", store.Run{Name: name, TestType: "load"})
		require.NoError(t, err)
		ids = append(ids, r.ID)
		require.NoError(t, st.SetRunning(ctx, "a", r.ID, base))
		state := store.Completed
		if i == 3 {
			state = store.Failed
		}
		require.NoError(t, st.Finish(ctx, "a", r.ID, store.Finish{State: state, Result: result(name, base.Add(time.Duration(i)*time.Minute), float64(100+i))}))
	}
	other, err := st.CreateRun(ctx, "b", store.Run{Name: "checkout", TestType: "load"})
	require.NoError(t, err)

	// Pages of 2, newest first, no run of b.
	var seen []string
	cursor := ""
	for {
		runs, next, err := st.ListRuns(ctx, "a", store.Filter{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		for _, r := range runs {
			seen = append(seen, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 7)
	assert.Equal(t, ids[6], seen[0])
	assert.Equal(t, ids[0], seen[6])
	assert.NotContains(t, seen, other.ID)

	filters := []struct {
		name string
		f    store.Filter
		want int
	}{
		{"state", store.Filter{State: store.Failed}, 1},
		{"name", store.Filter{Name: "search"}, 2},
		{"type", store.Filter{TestType: "load"}, 7},
		{"other type", store.Filter{TestType: "smoke"}, 0},
		{"since future", store.Filter{Since: time.Now().Add(time.Hour)}, 0},
		{"until past", store.Filter{Until: base}, 0},
		{"window", store.Filter{Since: base, Until: time.Now().Add(time.Minute)}, 7},
	}
	for _, tc := range filters {
		runs, _, err := st.ListRuns(ctx, "a", tc.f)
		require.NoError(t, err, tc.name)
		assert.Len(t, runs, tc.want, tc.name)
	}
	_, _, err = st.ListRuns(ctx, "a", store.Filter{Cursor: "!!"})
	require.ErrorIs(t, err, store.ErrBadCursor)

	// History of the last checkout run: the earlier completed checkouts,
	// oldest first (run 3 failed; runs 2 and 5 are "search").
	hist, err := st.History(ctx, "a", "checkout", "load", ids[6], 0)
	require.NoError(t, err)
	var p95s []float64
	for _, h := range hist {
		p95s = append(p95s, h.Metrics["http_req_duration"].Values["p(95)"])
	}
	assert.Equal(t, []float64{100, 101, 104}, p95s)
	assert.NotEmpty(t, hist[0].Timeline.Series, "the analysis gets the per-second series")
	hist, err = st.History(ctx, "a", "checkout", "load", ids[6], 1)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	assert.Equal(t, 104.0, hist[0].Metrics["http_req_duration"].Values["p(95)"])
	hist, err = st.History(ctx, "b", "checkout", "load", "", 0)
	require.NoError(t, err)
	assert.Empty(t, hist)
	// A trend's runs: every completed checkout, of any type, with its ID.
	runs, err := st.HistoryRuns(ctx, "a", "checkout", "", "", 0)
	require.NoError(t, err)
	var runIDs []string
	for _, r := range runs {
		runIDs = append(runIDs, r.ID)
		require.NotNil(t, r.Result, r.ID)
		assert.Equal(t, "checkout", r.Result.Name)
		assert.Empty(t, r.Result.Timeline.Series, "a trend leaves the per-second series out")
	}
	assert.Equal(t, []string{ids[0], ids[1], ids[4], ids[6]}, runIDs)
	runs, err = st.HistoryRuns(ctx, "a", "checkout", "smoke", "", 0)
	require.NoError(t, err)
	assert.Empty(t, runs)

	// Baseline: the previous completed run, until one is marked.
	b, err := st.Baseline(ctx, "a", ids[6])
	require.NoError(t, err)
	assert.Equal(t, ids[4], b.ID)
	require.ErrorIs(t, st.SetBaseline(ctx, "a", ids[3]), store.ErrConflict)
	require.NoError(t, st.SetBaseline(ctx, "a", ids[1]))
	b, err = st.Baseline(ctx, "a", ids[6])
	require.NoError(t, err)
	assert.Equal(t, ids[1], b.ID)
	assert.True(t, b.Baseline)
	_, err = st.Baseline(ctx, "a", ids[0]) // its baseline is run 1, created later: still the marked one
	require.NoError(t, err)
	_, err = st.Baseline(ctx, "a", ids[2]) // the first "search" run has none
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestBaselineRule(t *testing.T) { eachBackend(t, testBaselineRule) }

// testBaselineRule: a passed run beats a later failed one; aborted runs
// are never a baseline; a failed-thresholds run serves when none passed.
func testBaselineRule(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	_, err := st.AddTenant(ctx, "a")
	require.NoError(t, err)
	start := time.Now().Add(-time.Hour)
	add := func(status loadtest.Status) string {
		r, err := st.CreateRun(ctx, "a", store.Run{Name: "checkout", TestType: "load"})
		require.NoError(t, err)
		res := result("checkout", start, 100)
		res.Status = status
		require.NoError(t, st.Finish(ctx, "a", r.ID, store.Finish{State: store.Completed, Result: res}))
		return r.ID
	}
	baseline := func(id string) string {
		t.Helper()
		b, err := st.Baseline(ctx, "a", id)
		require.NoError(t, err)
		return b.ID
	}
	add(loadtest.StatusAborted)
	failed := add(loadtest.StatusThresholdsFailed)
	cur := add(loadtest.StatusPassed)
	assert.Equal(t, failed, baseline(cur), "no run passed: the failed one, never the aborted one")
	_, err = st.Baseline(ctx, "a", failed)
	require.ErrorIs(t, err, store.ErrNotFound, "an aborted run is no baseline")
	passed := cur
	add(loadtest.StatusMarkedFailed)
	add(loadtest.StatusAborted)
	last := add(loadtest.StatusThresholdsFailed)
	assert.Equal(t, passed, baseline(last), "the latest passed run, not the later failed ones")
}

func TestRecoverInterruptedAndCounts(t *testing.T) { eachBackend(t, testRecoverInterruptedAndCounts) }

func testRecoverInterruptedAndCounts(t *testing.T, st *store.Store, path string) {
	ctx := t.Context()
	_, err := st.AddTenant(ctx, "a")
	require.NoError(t, err)
	queued, err := st.CreateRun(ctx, "a", store.Run{Name: "q"})
	require.NoError(t, err)
	running, err := st.CreateRun(ctx, "a", store.Run{Name: "r"})
	require.NoError(t, err)
	require.NoError(t, st.SetRunning(ctx, "a", running.ID, time.Now()))
	done, err := st.CreateRun(ctx, "a", store.Run{Name: "d"})
	require.NoError(t, err)
	require.NoError(t, st.Finish(ctx, "a", done.ID, store.Finish{State: store.Completed, Result: result("d", time.Now(), 1)}))

	counts, err := st.CountByState(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[store.State]int{store.Queued: 1, store.Running: 1, store.Completed: 1}, counts)
	require.NoError(t, st.Close())

	st2, err := store.Open(ctx, path)
	require.NoError(t, err)
	defer st2.Close()
	got, err := st2.RecoverInterrupted(ctx, time.Now(), "agent restarted")
	require.NoError(t, err)
	var recovered []string
	for _, r := range got {
		recovered = append(recovered, r.ID)
		assert.Equal(t, store.Interrupted, r.State)
		assert.Equal(t, "agent restarted", r.Error)
	}
	assert.ElementsMatch(t, []string{queued.ID, running.ID}, recovered)
	d, err := st2.Run(ctx, "a", done.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Completed, d.State)
	require.NotNil(t, d.Result)
	require.ErrorIs(t, st2.Finish(ctx, "a", running.ID, store.Finish{State: store.Completed}), store.ErrConflict)
}

func TestAuditLog(t *testing.T) { eachBackend(t, testAuditLog) }

func testAuditLog(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	for i := range 5 {
		require.NoError(t, st.Audit(ctx, "a", store.AuditEvent{Actor: "key-1", Action: "start", RunID: string(rune('a' + i))}))
	}
	require.NoError(t, st.Audit(ctx, "b", store.AuditEvent{Actor: "key-2", Action: "cancel"}))
	ev, next, err := st.AuditLog(ctx, "a", 3, "")
	require.NoError(t, err)
	require.Len(t, ev, 3)
	assert.Equal(t, "e", ev[0].RunID)
	ev2, next2, err := st.AuditLog(ctx, "a", 3, next)
	require.NoError(t, err)
	assert.Empty(t, next2)
	require.Len(t, ev2, 2)
	assert.Equal(t, "a", ev2[1].RunID)
	_, _, err = st.AuditLog(ctx, "a", 3, "-1")
	require.ErrorIs(t, err, store.ErrBadCursor)
}

func TestConcurrentReadersAndWriter(t *testing.T) { eachBackend(t, testConcurrentReadersAndWriter) }

func testConcurrentReadersAndWriter(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	_, err := st.AddTenant(ctx, "a")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				r, err := st.CreateRun(ctx, "a", store.Run{Name: "n", TestType: "load"})
				if err != nil {
					errs <- err
					return
				}
				if err := st.SetRunning(ctx, "a", r.ID, time.Now()); err != nil {
					errs <- err
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				if _, _, err := st.ListRuns(ctx, "a", store.Filter{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	counts, err := st.CountByState(ctx)
	require.NoError(t, err)
	assert.Equal(t, 40, counts[store.Running])
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), ":memory:")
	require.Error(t, err)
	_, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "missing-dir", "x.db"))
	require.Error(t, err)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

func TestValidateLimits(t *testing.T) {
	t.Parallel()
	require.NoError(t, store.ValidateLimits(store.Limits{AllowedHosts: []string{
		"127.0.0.1", "::1", "[::1]", "10.0.0.0/8", "fd00::/8", "api.internal", "*.example.com", "*", "Shop-1.Example.COM."}}))
	err := store.ValidateLimits(store.Limits{MaxVUs: -1, MaxDuration: -time.Second, MaxConcurrent: -1,
		AllowedHosts: []string{"ok.example", "bad/99", "http://x.example", "a..b", "-lead.example"}})
	require.Error(t, err)
	for _, want := range []string{"max_vus: must be >= 0", "max_duration: must be >= 0", "max_concurrent: must be >= 0",
		`allowed_hosts[1]: "bad/99"`, `allowed_hosts[2]: "http://x.example"`, `allowed_hosts[3]: "a..b"`, `allowed_hosts[4]: "-lead.example"`} {
		assert.ErrorContains(t, err, want)
	}
	assert.NotContains(t, err.Error(), "allowed_hosts[0]")
}

func TestTenantWebhooks(t *testing.T) { eachBackend(t, testTenantWebhooks) }

func testTenantWebhooks(t *testing.T, st *store.Store, path string) {
	ctx := t.Context()
	for _, name := range []string{"a", "b"} {
		_, err := st.AddTenant(ctx, name)
		require.NoError(t, err)
	}
	hooks, err := st.Webhooks(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, hooks)

	slack := store.Webhook{URL: "https://hooks.slack.example/T0/B0/secret", Format: store.FormatSlack, Events: []string{store.EventFailed, store.EventHighFindings}}
	plain := store.Webhook{URL: "http://127.0.0.1:9/alerts", Retries: -1, Backoff: 5 * time.Millisecond}
	require.NoError(t, st.AddWebhook(ctx, "a", slack))
	require.NoError(t, st.AddWebhook(ctx, "a", plain))
	require.NoError(t, st.AddWebhook(ctx, "b", plain), "the same URL for another tenant")
	require.ErrorIs(t, st.AddWebhook(ctx, "a", store.Webhook{URL: plain.URL, Format: store.FormatSlack}), store.ErrExists)
	require.ErrorIs(t, st.AddWebhook(ctx, "nobody", plain), store.ErrNotFound)

	hooks, err = st.Webhooks(ctx, "a")
	require.NoError(t, err)
	plain.Format = store.FormatJSON // the default, stored
	assert.Equal(t, []store.Webhook{slack, plain}, hooks, "in the order added")
	_, err = st.Webhooks(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, st.RemoveWebhook(ctx, "a", slack.URL))
	require.ErrorIs(t, st.RemoveWebhook(ctx, "a", slack.URL), store.ErrNotFound)
	require.ErrorIs(t, st.RemoveWebhook(ctx, "b", slack.URL), store.ErrNotFound, "another tenant's webhook")
	hooks, err = st.Webhooks(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []store.Webhook{plain}, hooks)
	hooks, err = st.Webhooks(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, []store.Webhook{plain}, hooks, "removing a's webhook leaves b's")

	// They outlive a reopening of the file.
	require.NoError(t, st.Close())
	st2, err := store.Open(ctx, path)
	require.NoError(t, err)
	defer st2.Close()
	hooks, err = st2.Webhooks(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, []store.Webhook{plain}, hooks)
}

func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	st, _ := open(t)
	_, err := st.AddTenant(t.Context(), "a")
	require.NoError(t, err)
	cases := []struct {
		name string
		hook store.Webhook
		want []string // empty: valid
	}{
		{"minimal", store.Webhook{URL: "http://127.0.0.1:8080/x"}, nil},
		{"full", store.Webhook{URL: "https://h.example", Format: store.FormatSlack, Events: []string{
			store.EventCompleted, store.EventFailed, store.EventThresholdsFailed, store.EventHighFindings}}, nil},
		{"everything wrong", store.Webhook{URL: "ftp://x", Format: "xml", Events: []string{store.EventFailed, "bogus"},
			Tenants: []string{"b"}, Headers: map[string]string{"X-Token": "t"}},
			[]string{`url: want an http:// or https:// URL, got "ftp://x"`, `format: want json or slack, got "xml"`,
				`events[1]: unknown "bogus"`, "tenants: must be empty", "headers: must be empty"}},
		{"no URL", store.Webhook{}, []string{`url: want an http:// or https:// URL, got ""`}},
		{"no host", store.Webhook{URL: "http:///path"}, []string{"url: "}},
		{"relative", store.Webhook{URL: "/alerts"}, []string{"url: "}},
	}
	t.Run("cases", func(t *testing.T) { // returns when every case has
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				err := st.AddWebhook(t.Context(), "a", tc.hook)
				if len(tc.want) == 0 {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				for _, w := range tc.want {
					assert.ErrorContains(t, err, w)
				}
				assert.NotContains(t, err.Error(), "events[0]", "a known event is no problem")
			})
		}
	})
	hooks, err := st.Webhooks(t.Context(), "a")
	require.NoError(t, err)
	assert.Len(t, hooks, 2, "only the valid ones are stored")
}

func TestMigrationAddsWebhooks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	st, err := store.Open(ctx, path)
	require.NoError(t, err)
	_, err = st.AddTenant(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, st.Close())

	// Take the file back to schema version 1, before webhooks (and
	// removals, and the schedules of version 4).
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `DROP TABLE webhooks; ALTER TABLE tenants DROP COLUMN removed_ns;
		DROP TABLE schedule_slots; DROP TABLE schedules; DROP TABLE budgets;
		ALTER TABLE runs DROP COLUMN schedule_id; ALTER TABLE runs DROP COLUMN slot_ns;
		ALTER TABLE runs DROP COLUMN budget_status; ALTER TABLE runs DROP COLUMN budget;
		DROP INDEX runs_replica; ALTER TABLE runs DROP COLUMN replica; ALTER TABLE runs DROP COLUMN heartbeat_ns;
		ALTER TABLE runs DROP COLUMN cancel_ns; PRAGMA user_version = 1`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	st, err = store.Open(ctx, path)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.AddWebhook(ctx, "a", store.Webhook{URL: "http://127.0.0.1:9/"}))
	hooks, err := st.Webhooks(ctx, "a")
	require.NoError(t, err)
	assert.Len(t, hooks, 1)
}

// A leaked key can be revoked and a tenant removed: their keys answer
// ErrBadKey (the agent's 401, not a 404), their runs stay.
func TestRemoveTenantAndListKeys(t *testing.T) { eachBackend(t, testRemoveTenantAndListKeys) }

func testRemoveTenantAndListKeys(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	key1, err := st.AddTenant(ctx, "acme")
	require.NoError(t, err)
	key2, err := st.AddKey(ctx, "acme")
	require.NoError(t, err)
	require.NoError(t, st.RevokeKey(ctx, "acme", store.KeyID(key1)))
	keys, err := st.Keys(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, store.KeyID(key1), keys[0].ID)
	assert.False(t, keys[0].Revoked.IsZero())
	assert.True(t, keys[1].Revoked.IsZero())
	run, err := st.CreateRun(ctx, "acme", store.Run{Name: "n", TestType: "smoke"})
	require.NoError(t, err)

	require.NoError(t, st.RemoveTenant(ctx, "acme"))
	_, _, err = st.Authenticate(ctx, key2)
	require.ErrorIs(t, err, store.ErrBadKey)
	_, err = st.Tenant(ctx, "acme")
	require.ErrorIs(t, err, store.ErrNotFound)
	all, err := st.Tenants(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)
	_, err = st.AddKey(ctx, "acme")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, st.RemoveTenant(ctx, "acme"), store.ErrNotFound)
	_, err = st.AddTenant(ctx, "acme")
	require.ErrorIs(t, err, store.ErrExists, "its runs keep the name")
	kept, err := st.Summary(ctx, "acme", run.ID)
	require.NoError(t, err)
	assert.Equal(t, run.ID, kept.ID)
}

// An empty file where a database was is refused (it silently became a new
// database); a damaged one too (it answered health checks, then failed
// requests).
func TestOpenRefusesLostAndDamagedDatabases(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err := store.Open(t.Context(), empty)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is an empty file, not a database")

	damaged := filepath.Join(dir, "damaged.db")
	st, err := store.Open(t.Context(), damaged)
	require.NoError(t, err)
	_, err = st.AddTenant(t.Context(), "acme")
	require.NoError(t, err)
	for i := range 200 {
		_, err := st.CreateRun(t.Context(), "acme", store.Run{Name: strings.Repeat("n", 500) + fmt.Sprint(i), TestType: "smoke"})
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	data, err := os.ReadFile(damaged)
	require.NoError(t, err)
	const page = 4096
	require.Greater(t, len(data), 4*page)
	for i := 2 * page; i < 3*page; i++ { // a whole page of index or table data
		data[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(damaged, data, 0o600))
	_, err = store.Open(t.Context(), damaged)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the database is damaged (PRAGMA quick_check)")
}

// Two agents cannot serve one database: the second's Open fails while the
// first holds it, and succeeds once it is closed. Short-lived clients
// (Exclusive false) still open it.
func TestExclusiveOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agent.db")
	first, err := store.OpenWith(t.Context(), path, store.Options{Exclusive: true})
	require.NoError(t, err)
	_, err = store.OpenWith(t.Context(), path, store.Options{Exclusive: true})
	require.ErrorIs(t, err, store.ErrLocked)
	client, err := store.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, client.Close())
	require.NoError(t, first.Close())
	second, err := store.OpenWith(t.Context(), path, store.Options{Exclusive: true})
	require.NoError(t, err)
	require.NoError(t, second.Close())
}

func TestDeleteRunAndStoredBytes(t *testing.T) { eachBackend(t, testDeleteRunAndStoredBytes) }

// A tenant's stored bytes grow with its runs and shrink when it deletes
// one; a live run or another tenant's cannot be deleted.
func testDeleteRunAndStoredBytes(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	for _, name := range []string{"a", "b"} {
		_, err := st.AddTenant(ctx, name)
		require.NoError(t, err)
	}
	empty, err := st.StoredBytes(ctx, "a")
	require.NoError(t, err)
	assert.Zero(t, empty)
	done, err := st.CreateRun(ctx, "a", store.Run{Name: "n", TestType: "smoke", Spec: json.RawMessage(`{"test_type":"smoke"}`)})
	require.NoError(t, err)
	res := loadtest.Result{Name: "n", Status: loadtest.StatusPassed, Warnings: []string{strings.Repeat("w", 10_000)}}
	require.NoError(t, st.Finish(ctx, "a", done.ID, store.Finish{State: store.Completed, Ended: time.Now(), Result: &res}))
	live, err := st.CreateRun(ctx, "a", store.Run{Name: "n", TestType: "smoke", Spec: json.RawMessage(`{}`)})
	require.NoError(t, err)
	full, err := st.StoredBytes(ctx, "a")
	require.NoError(t, err)
	assert.Greater(t, full, int64(10_000))
	other, err := st.StoredBytes(ctx, "b")
	require.NoError(t, err)
	assert.Zero(t, other)

	require.ErrorIs(t, st.DeleteRun(ctx, "b", done.ID), store.ErrNotFound, "another tenant's run")
	require.ErrorIs(t, st.DeleteRun(ctx, "a", live.ID), store.ErrConflict, "a live run")
	require.NoError(t, st.DeleteRun(ctx, "a", done.ID))
	require.ErrorIs(t, st.DeleteRun(ctx, "a", done.ID), store.ErrNotFound)
	_, err = st.Summary(ctx, "a", done.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	after, err := st.StoredBytes(ctx, "a")
	require.NoError(t, err)
	assert.Less(t, after, int64(100))
}
