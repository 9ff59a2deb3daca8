package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// authedRoutes are every route that needs an API key, with a body where
// it takes one. {id} is replaced by a run id.
var authedRoutes = []struct {
	method, path string
	body         any
}{
	{"POST", "/load-test/start", map[string]any{"test_type": "smoke"}},
	{"POST", "/load-test/quick-stress?target_url=http://127.0.0.1:1/", nil},
	{"GET", "/load-test/list", nil},
	{"GET", "/load-test/{id}/status", nil},
	{"GET", "/load-test/{id}/result", nil},
	{"GET", "/load-test/{id}/events", nil},
	{"GET", "/load-test/{id}/report.html", nil},
	{"GET", "/load-test/{id}/compare/baseline", nil},
	{"POST", "/load-test/{id}/cancel", nil},
	{"POST", "/load-test/{id}/scale", map[string]any{"vus": 1}},
	{"POST", "/load-test/{id}/baseline", nil},
	{"GET", "/audit", nil},
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, rt := range authedRoutes {
		path := strings.ReplaceAll(rt.path, "{id}", "run-0000000000000000")
		for _, tc := range []struct {
			name    string
			key     string
			headers []string
		}{
			{"no key", "", nil},
			{"unknown key", "llk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil},
			{"tenant id alone", "", []string{"X-Tenant-ID", "tenant-a"}},
			{"basic auth", "", []string{"Authorization", "Basic dGVuYW50LWE6eA=="}},
		} {
			r := e.do(rt.method, path, tc.key, rt.body, tc.headers...)
			assert.Equal(t, http.StatusUnauthorized, r.Status, "%s %s %s", tc.name, rt.method, path)
			assert.Equal(t, `Bearer realm="loadlens"`, r.Header.Get("WWW-Authenticate"))
		}
	}
	// The key may come as X-API-Key; X-Tenant-ID must then match it.
	assert.Equal(t, http.StatusOK, e.do("GET", "/load-test/list", "", nil, "X-API-Key", e.keyA).Status)
	assert.Equal(t, http.StatusOK, e.do("GET", "/load-test/list", e.keyA, nil, "X-Tenant-ID", "tenant-a").Status)
	r := e.do("GET", "/load-test/list", e.keyA, nil, "X-Tenant-ID", "tenant-b")
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Contains(t, r.errors(t)[0], "X-Tenant-ID")
	// Public routes need no key.
	for _, p := range []string{"/healthz", "/metrics", "/openapi.json"} {
		assert.Equal(t, http.StatusOK, e.do("GET", p, "", nil).Status, p)
	}
}

func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	done := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
	e.waitFinal(e.keyA, done)
	live := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "30s"}}))
	e.waitFor(e.keyA, live, "running", func(st service.RunStatus) bool { return st.State == store.Running })

	for _, id := range []string{done, live} {
		for _, rt := range authedRoutes {
			if !strings.Contains(rt.path, "{id}") {
				continue
			}
			path := strings.ReplaceAll(rt.path, "{id}", id)
			r := e.do(rt.method, path, e.keyB, rt.body)
			assert.Equal(t, http.StatusNotFound, r.Status, "tenant b: %s %s: %s", rt.method, path, r.Body)
			missing := e.do(rt.method, strings.ReplaceAll(rt.path, "{id}", "run-ffffffffffffffff"), e.keyA, rt.body)
			assert.Equal(t, http.StatusNotFound, missing.Status, "missing: %s %s", rt.method, rt.path)
			assert.Equal(t, missing.Body, r.Body, "another tenant's run answers like a missing one")
		}
		// Comparing with another tenant's run is not found either.
		own := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
		e.waitFinal(e.keyB, own)
		assert.Equal(t, http.StatusNotFound, e.do("GET", "/load-test/"+own+"/compare/"+id, e.keyB, nil).Status)
	}
	var list service.ListResponse
	e.do("GET", "/load-test/list", e.keyB, nil).json(t, &list)
	for _, r := range list.Runs {
		assert.NotContains(t, []string{done, live}, r.ID)
	}
	// The live run was not cancelled by b's attempts.
	assert.Equal(t, store.Running, e.status(e.keyA, live).State)
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+live+"/cancel", e.keyA, nil).Status)
	e.waitFinal(e.keyA, live)
}

func TestStartRejectsBadBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name string
		body string
		want []string // substrings, one problem each
	}{
		{"empty", "", []string{"body: required"}},
		{"not json", "{", []string{"unexpected EOF"}},
		{"unknown field", `{"test_type":"load","target":{"base_url":"http://127.0.0.1:1","endpoints":["/"]},"bogus":1}`, []string{`bogus: unknown field (line 1, column 82)`}},
		{"every problem", `{"test_type":"nope","virtual_users":-3,"duration":"1m","duration_minutes":2,"ramp_up_duration_seconds":-1}`,
			[]string{"test_type: unknown", "virtual_users: must be 1 … 100000000, got -3", "duration, duration_minutes: give one", "ramp_up_duration_seconds", "target: required"}},
		{"bad target", `{"test_type":"smoke","target":{"base_url":"ftp://x","endpoints":[]}}`,
			[]string{"target.base_url", "target.endpoints: at least one"}},
		{"bad threshold", `{"test_type":"smoke","target":{"base_url":"http://127.0.0.1:1","endpoints":["/"]},"thresholds":{"http_req_duration":["p(95) <<< 3"]}}`,
			[]string{"http_req_duration"}},
		// Script errors name the file, line and column (they answered 500).
		{"script syntax error", `{"test_type":"smoke","script":"export default function() {\n  let x = ;\n}"}`,
			[]string{"script: /script.js:2:11: SyntaxError: Unexpected token ;"}},
		{"script exception in init", `{"test_type":"smoke","script":"throw new Error('no config')\nexport default function() {}"}`,
			[]string{"script: /script.js:1:7: Error: no config", "script: at <anonymous> (/script.js:1:7)"}},
		{"script imports a host file", `{"test_type":"smoke","script":"import x from '/etc/passwd'\nexport default function() {}"}`,
			[]string{`script: import "/etc/passwd" from /script.js: open /etc/passwd: file does not exist`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.do("POST", "/load-test/start", e.keyA, tc.body)
			require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
			errs := r.errors(t)
			require.Len(t, errs, len(tc.want), "%q", errs)
			for _, w := range tc.want {
				assert.True(t, containsAny(errs, w), "no problem mentions %q in %q", w, errs)
			}
		})
	}
	r := e.do("POST", "/load-test/start", e.keyA, strings.Repeat(" ", 2<<20))
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.errors(t)[0], "larger than")
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fakeResolver("93.184.216.34"), func(c *service.Config) {
		c.Limits = store.Limits{MaxVUs: 5, MaxDuration: time.Minute, MaxConcurrent: 1}
	})
	tests := []struct {
		name   string
		spec   map[string]any
		limits []string
		want   []string
	}{
		{"vus", e.spec(map[string]any{"options": map[string]any{"vus": 6, "duration": "1s"}}), []string{"max_vus"}, []string{"needs up to 6 VUs; the tenant's max_vus is 5"}},
		{"duration", e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "2m"}}), []string{"max_duration"}, []string{"max_duration is 1m0s"}},
		{"unbounded", e.spec(map[string]any{"options": map[string]any{"scenarios": map[string]any{
			"ext": map[string]any{"executor": "externally-controlled", "vus": 1, "maxVUs": 2, "duration": "0s"}}}}), []string{"max_duration"}, []string{"runs until cancelled"}},
		{"public host", e.spec(map[string]any{"target": map[string]any{"base_url": "http://example.com", "endpoints": []any{"/"}}}),
			[]string{"allowed_hosts"}, []string{`host "example.com" resolves to 93.184.216.34`}},
		{"public ip in an absolute endpoint", e.spec(map[string]any{"target": map[string]any{"base_url": e.target.URL, "endpoints": []any{"/", "http://8.8.8.8/x"}}}),
			[]string{"allowed_hosts"}, []string{`target.endpoints[1].path: host "8.8.8.8"`}},
		{"all at once", e.spec(map[string]any{"options": map[string]any{"vus": 9, "duration": "5m"},
			"target": map[string]any{"base_url": "http://10.1.2.3", "endpoints": []any{"/"}}}),
			[]string{"max_vus", "max_duration", "allowed_hosts"}, []string{"max_vus", "max_duration", "10.1.2.3"}},
	}
	for _, tc := range tests {
		r := e.do("POST", "/load-test/start", e.keyA, tc.spec)
		require.Equal(t, http.StatusForbidden, r.Status, "%s: %s", tc.name, r.Body)
		var body struct{ Errors, Limits []string }
		r.json(t, &body)
		assert.Equal(t, tc.limits, body.Limits, tc.name)
		require.Len(t, body.Errors, len(tc.want), tc.name)
		for _, w := range tc.want {
			assert.True(t, containsAny(body.Errors, w), "%s: no problem mentions %q in %q", tc.name, w, body.Errors)
		}
	}

	// localhost is allowed by name, loopback addresses by prefix.
	first := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "30s"}}))
	r := e.do("POST", "/load-test/start", e.keyA, e.spec(nil))
	require.Equal(t, http.StatusTooManyRequests, r.Status, "%s", r.Body)
	var body struct{ Errors, Limits []string }
	r.json(t, &body)
	assert.Equal(t, []string{"max_concurrent"}, body.Limits)
	// Another tenant has its own count.
	other := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"},
		"target": map[string]any{"base_url": strings.Replace(e.target.URL, "127.0.0.1", "localhost", 1), "endpoints": []any{"/"}}}))
	e.waitFinal(e.keyB, other)
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+first+"/cancel", e.keyA, nil).Status)
	e.waitFinal(e.keyA, first)
	// The slot is free again.
	e.waitFinal(e.keyA, e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}})))
}

func TestTenantLimitsOverrideDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-b", store.Limits{MaxVUs: 1}))
	r := e.do("POST", "/load-test/start", e.keyB, e.spec(nil)) // 2 VUs
	require.Equal(t, http.StatusForbidden, r.Status)
	// The defaults take effect only at the agent's next restart for the
	// tenant's record; tenant a keeps DefaultLimits (50 VUs).
	e.waitFinal(e.keyA, e.start(e.keyA, e.spec(nil)))
}

const secretToken = "tok-3f9a-very-secret"

func TestRunToCompletion(t *testing.T) {
	t.Parallel()
	var analyzed []int
	var bases []time.Time // each analysis's baseline start, zero for none
	var mu sync.Mutex
	e := newEnv(t, func(c *service.Config) {
		c.Analyze = func(_ context.Context, res loadtest.Result, history []loadtest.Result, base *loadtest.Result) (anomaly.Report, *anomaly.AIAnalysis) {
			mu.Lock()
			analyzed = append(analyzed, len(history))
			var start time.Time
			if base != nil {
				start = base.Start
			}
			bases = append(bases, start)
			mu.Unlock()
			return anomaly.Analyze(res, history, anomaly.Options{}), &anomaly.AIAnalysis{Available: false, Unavailable: "no API key"}
		}
	})
	spec := e.spec(map[string]any{
		"target": map[string]any{"base_url": e.target.URL, "endpoints": []any{"/api/products"}, "auth_token": secretToken,
			"custom_headers": map[string]string{"X-Api-Secret": secretToken}},
		"env":        map[string]string{"API_TOKEN": secretToken},
		"thresholds": map[string]any{"http_req_duration": []string{"p(95)<5000"}},
	})
	first := e.start(e.keyA, spec)
	st := e.waitFinal(e.keyA, first)
	require.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Equal(t, loadtest.StatusPassed, st.ResultStatus)
	assert.InDelta(t, 100, st.ProgressPercent, 0.001)
	assert.Positive(t, st.Requests)
	assert.Positive(t, st.RequestsPerSecond)
	assert.Positive(t, st.P95Ms)
	assert.Zero(t, st.ErrorRate)

	second := e.start(e.keyA, spec)
	e.waitFinal(e.keyA, second)

	var res service.ResultResponse
	r := e.do("GET", "/load-test/"+second+"/result", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status)
	r.json(t, &res)
	require.NotNil(t, res.Result)
	assert.Equal(t, "checkout", res.Result.Name)
	assert.Positive(t, res.Result.Metrics["http_reqs"].Values["count"])
	require.NotNil(t, res.Findings)
	require.NotNil(t, res.AIAnalysis)
	assert.Equal(t, "no API key", res.AIAnalysis.Unavailable)
	assert.NotEmpty(t, res.Summary)
	// Each run was analysed with the earlier runs of the same test.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(analyzed) == 2 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []int{0, 1}, analyzed)
	analysedBases := slices.Clone(bases)
	mu.Unlock()
	// The AI analysis had the baseline the API compares with.
	var c service.CompareResponse
	r = e.do("GET", "/load-test/"+second+"/compare/baseline", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.json(t, &c)
	assert.Equal(t, first, c.Other)
	require.Len(t, analysedBases, 2)
	assert.True(t, analysedBases[0].IsZero(), "the first run has no baseline")
	assert.True(t, c.Comparison.Base.Start.Equal(analysedBases[1]), "analysis base %v, API base %v", analysedBases[1], c.Comparison.Base.Start)

	// The list, its filters and pages.
	var list service.ListResponse
	e.do("GET", "/load-test/list?limit=1", e.keyA, nil).json(t, &list)
	require.Len(t, list.Runs, 1)
	assert.Equal(t, second, list.Runs[0].ID)
	require.NotEmpty(t, list.NextCursor)
	cursor := list.NextCursor
	list = service.ListResponse{}
	e.do("GET", "/load-test/list?limit=1&cursor="+cursor, e.keyA, nil).json(t, &list)
	require.Len(t, list.Runs, 1)
	assert.Equal(t, first, list.Runs[0].ID)
	assert.Empty(t, list.NextCursor)
	for q, n := range map[string]int{"state=completed": 2, "state=failed": 0, "test_type=custom": 2, "test_type=load": 0, "name=checkout": 2,
		"since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339): 0, "until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339): 2} {
		e.do("GET", "/load-test/list?"+q, e.keyA, nil).json(t, &list)
		assert.Len(t, list.Runs, n, q)
	}
	r = e.do("GET", "/load-test/list?state=nope&limit=0&since=yesterday&bogus=1", e.keyA, nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Len(t, r.errors(t), 4, "%s", r.Body)
	assert.Equal(t, http.StatusBadRequest, e.do("GET", "/load-test/list?cursor=zz!", e.keyA, nil).Status)

	// The audit log names who started what.
	var audit service.AuditResponse
	e.do("GET", "/audit", e.keyA, nil).json(t, &audit)
	require.Len(t, audit.Events, 2)
	assert.Equal(t, "start", audit.Events[0].Action)
	assert.Equal(t, second, audit.Events[0].RunID)
	assert.Equal(t, store.KeyID(e.keyA), audit.Events[0].Actor)

	// The target's token is in no response, log or stored byte.
	assert.NotContains(t, string(r.Body), secretToken)
	for _, id := range []string{first, second} {
		for _, p := range []string{"/result", "/status", "/events"} {
			assert.NotContains(t, string(e.do("GET", "/load-test/"+id+p, e.keyA, nil).Body), secretToken, p)
		}
	}
	full, err := e.st.Run(t.Context(), "tenant-a", first)
	require.NoError(t, err)
	assert.NotContains(t, string(full.Spec), secretToken)
	assert.Contains(t, string(full.Spec), loadtest.Redacted)
	assert.NotContains(t, e.logs.String(), secretToken)
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(e.dbPath + suffix)
		if err == nil {
			assert.NotContains(t, string(data), secretToken, "database file%s", suffix)
		}
	}
}

func TestCancelMidRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "30s"}}))
	e.waitFor(e.keyA, id, "requests", func(st service.RunStatus) bool { return st.State == store.Running && st.Requests > 0 })
	r := e.do("POST", "/load-test/"+id+"/cancel", e.keyA, nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	st := e.waitFinal(e.keyA, id)
	assert.Equal(t, store.Cancelled, st.State)
	assert.Equal(t, loadtest.StatusAborted, st.ResultStatus)
	assert.Less(t, st.ElapsedSeconds, 25.0)
	var res service.ResultResponse
	e.do("GET", "/load-test/"+id+"/result", e.keyA, nil).json(t, &res)
	require.NotNil(t, res.Result, "the partial result is kept")
	assert.Positive(t, res.Result.Metrics["http_reqs"].Values["count"])
	require.NotNil(t, res.Result.Abort)
	assert.Equal(t, loadtest.AbortByCaller, res.Result.Abort.By)

	r = e.do("POST", "/load-test/"+id+"/cancel", e.keyA, nil)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errors(t)[0], "cancelled")
	var audit service.AuditResponse
	e.do("GET", "/audit", e.keyA, nil).json(t, &audit)
	require.Len(t, audit.Events, 2)
	assert.Equal(t, "cancel", audit.Events[0].Action)
}

func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "3s"}}))
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/load-test/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.keyA)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := readEvents(t, resp.Body)
	require.GreaterOrEqual(t, len(events), 3, "%+v", events)
	assert.Equal(t, "status", events[0].Name)
	last := events[len(events)-1]
	assert.Equal(t, "done", last.Name)
	assert.Equal(t, store.Completed, last.Data.State)
	assert.Positive(t, last.Data.Requests)
	var progress []service.RunStatus
	for _, ev := range events[1 : len(events)-1] {
		require.Equal(t, "progress", ev.Name)
		progress = append(progress, ev.Data)
	}
	require.NotEmpty(t, progress)
	for i := 1; i < len(progress); i++ {
		assert.GreaterOrEqual(t, progress[i].Requests, progress[i-1].Requests, "requests never go back")
		assert.GreaterOrEqual(t, progress[i].ProgressPercent, progress[i-1].ProgressPercent)
	}
	var peak int64
	for _, p := range progress {
		peak = max(peak, p.CurrentVUs)
	}
	assert.Equal(t, int64(1), peak)

	// A finished run's stream is its final status alone.
	r := e.do("GET", "/load-test/"+id+"/events", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status)
	events = readEvents(t, strings.NewReader(string(r.Body)))
	require.Len(t, events, 1)
	assert.Equal(t, "done", events[0].Name)
	assert.Equal(t, store.Completed, events[0].Data.State)
}

func TestScaleExternallyControlled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"scenarios": map[string]any{
		"ext": map[string]any{"executor": "externally-controlled", "vus": 1, "maxVUs": 4, "duration": "30s"}}}}))
	e.waitFor(e.keyA, id, "running", func(st service.RunStatus) bool { return st.State == store.Running && st.CurrentVUs == 1 })
	r := e.do("POST", "/load-test/"+id+"/scale", e.keyA, map[string]any{"vus": 3})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var sr service.ScaleResponse
	r.json(t, &sr)
	assert.Equal(t, service.ScaleResponse{ID: id, Scenario: "ext", VUs: 3}, sr)
	e.waitFor(e.keyA, id, "3 VUs", func(st service.RunStatus) bool { return st.CurrentVUs == 3 })

	for _, tc := range []struct {
		body   any
		status int
		want   string
	}{
		{map[string]any{"vus": 9}, http.StatusBadRequest, "maxVUs 4"},
		{map[string]any{"vus": -1}, http.StatusBadRequest, "vus"},
		{map[string]any{}, http.StatusBadRequest, "vus: required"},
		{map[string]any{"vus": 1, "scenario": "nope"}, http.StatusBadRequest, `no externally-controlled scenario "nope"`},
		{`{"vus": "x"}`, http.StatusBadRequest, "body"},
	} {
		r := e.do("POST", "/load-test/"+id+"/scale", e.keyA, tc.body)
		assert.Equal(t, tc.status, r.Status, "%v: %s", tc.body, r.Body)
		assert.Contains(t, r.errors(t)[0], tc.want)
	}
	other := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "30s"}}))
	e.waitFor(e.keyA, other, "running", func(st service.RunStatus) bool { return st.State == store.Running })
	r = e.do("POST", "/load-test/"+other+"/scale", e.keyA, map[string]any{"vus": 1})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errors(t)[0], "externally-controlled")
	for _, x := range []string{id, other} {
		require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+x+"/cancel", e.keyA, nil).Status)
		e.waitFinal(e.keyA, x)
	}
	assert.Equal(t, http.StatusConflict, e.do("POST", "/load-test/"+id+"/scale", e.keyA, map[string]any{"vus": 1}).Status)
	var res service.ResultResponse
	e.do("GET", "/load-test/"+id+"/result", e.keyA, nil).json(t, &res)
	require.NotNil(t, res.Result)
	assert.Equal(t, "externally-controlled", res.Result.Config.Scenarios["ext"].Type())
}

func TestCompareAndBaseline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	short := e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}})
	first := e.start(e.keyA, short)
	e.waitFinal(e.keyA, first)
	r := e.do("GET", "/load-test/"+first+"/compare/baseline", e.keyA, nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "the first run has no baseline")
	second := e.start(e.keyA, short)
	e.waitFinal(e.keyA, second)

	var c service.CompareResponse
	r = e.do("GET", "/load-test/"+second+"/compare/"+first, e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.json(t, &c)
	assert.Equal(t, second, c.Run)
	assert.Equal(t, first, c.Other)
	assert.False(t, c.Baseline)
	names := map[string]service.CompareMetric{}
	for _, m := range c.Metrics {
		names[m.Name] = m
	}
	require.Contains(t, names, "http_req_duration.p95")
	assert.True(t, names["http_req_duration.p95"].HigherIsWorse)
	assert.False(t, names["http_reqs.rate"].HigherIsWorse)

	e.do("GET", "/load-test/"+second+"/compare/baseline", e.keyA, nil).json(t, &c)
	assert.Equal(t, first, c.Other, "without a marked baseline, the previous run")
	assert.True(t, c.Baseline)

	third := e.start(e.keyA, short)
	e.waitFinal(e.keyA, third)
	require.Equal(t, http.StatusOK, e.do("POST", "/load-test/"+first+"/baseline", e.keyA, nil).Status)
	e.do("GET", "/load-test/"+third+"/compare/baseline", e.keyA, nil).json(t, &c)
	assert.Equal(t, first, c.Other, "the marked baseline")

	live := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "30s"}}))
	assert.Equal(t, http.StatusConflict, e.do("GET", "/load-test/"+live+"/compare/"+first, e.keyA, nil).Status)
	assert.Equal(t, http.StatusConflict, e.do("POST", "/load-test/"+live+"/baseline", e.keyA, nil).Status)
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+live+"/cancel", e.keyA, nil).Status)
	e.waitFinal(e.keyA, live)
}

func TestReportHTML(t *testing.T) {
	t.Parallel()
	bare := newEnv(t)
	id := bare.start(bare.keyA, bare.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
	bare.waitFinal(bare.keyA, id)
	r := bare.do("GET", "/load-test/"+id+"/report.html", bare.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "the default renderer is report.WriteHTML: %s", r.Body)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Contains(t, string(r.Body), "<!DOCTYPE html>")
	assert.Contains(t, string(r.Body), "checkout")

	e := newEnv(t, func(c *service.Config) {
		c.RenderHTML = func(w io.Writer, in report.Input) error {
			_, err := fmt.Fprintf(w, "<html><h1>%s</h1><p>%s</p><p>history: %d</p></html>", in.Result.Name, in.Analysis.Summary, len(in.History))
			return err
		}
	})
	id = e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
	e.waitFinal(e.keyA, id)
	r = e.do("GET", "/load-test/"+id+"/report.html", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Contains(t, string(r.Body), "<h1>checkout</h1>")
	assert.Contains(t, string(r.Body), "history: 0")
	// The next run of the test has it in its history.
	id = e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
	e.waitFinal(e.keyA, id)
	r = e.do("GET", "/load-test/"+id+"/report.html", e.keyA, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "history: 1")
}

func TestQuickStress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/load-test/quick-stress?duration_minutes=-1&virtual_users=x&what=1", e.keyA, nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	errs := r.errors(t)
	assert.Len(t, errs, 4, "%q", errs)
	for _, w := range []string{"target_url: required", "duration_minutes", "virtual_users", "what: unknown"} {
		assert.True(t, containsAny(errs, w), "%q in %q", w, errs)
	}
	r = e.do("POST", "/load-test/quick-stress?target_url=http://203.0.113.9/", e.keyA, nil)
	assert.Equal(t, http.StatusForbidden, r.Status)

	r = e.do("POST", "/load-test/quick-stress?target_url="+e.target.URL+"/api/x&duration_minutes=0.05&virtual_users=2", e.keyA, nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	assert.Equal(t, "stress", sr.TestType)
	st := e.waitFinal(e.keyA, sr.ID)
	assert.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Less(t, st.ElapsedSeconds, 40.0, "duration_minutes is the whole test, ramps included")
	var res service.ResultResponse
	e.do("GET", "/load-test/"+sr.ID+"/result", e.keyA, nil).json(t, &res)
	assert.Equal(t, "stress", res.Result.TestType)
}

func TestHealthMetricsOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var h service.Health
	r := e.do("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	r.json(t, &h)
	assert.Equal(t, "ok", h.Status)

	e.waitFinal(e.keyA, e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}})))
	r = e.do("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	body := string(r.Body)
	for _, want := range []string{
		`loadlens_api_requests_total{code="202",method="POST",route="POST /load-test/start"} 1`,
		`loadlens_runs{state="completed"} 1`,
		`loadlens_runs{state="running"} 0`,
		`loadlens_runs_finished_total{state="completed"} 1`,
		`loadlens_api_request_duration_seconds_bucket{method="GET",route="GET /load-test/{id}/status"`,
	} {
		assert.Contains(t, body, want)
	}

	r = e.do("GET", "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	var doc map[string]any
	r.json(t, &doc)
	assert.Equal(t, "3.0.3", doc["openapi"])
	paths, _ := doc["paths"].(map[string]any)
	for _, rt := range authedRoutes {
		p, _, _ := strings.Cut(rt.path, "?")
		p = strings.Replace(p, "/compare/baseline", "/compare/{other}", 1)
		require.Contains(t, paths, p, "every route is documented")
	}
	_, err := openAPIRouter()
	require.NoError(t, err)
}

func TestShutdownStoresPartialResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "30s"}}))
	e.waitFor(e.keyA, id, "requests", func(st service.RunStatus) bool { return st.Requests > 0 })

	// An SSE stream open at shutdown ends.
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/load-test/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", e.keyA)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)

	run, err := e.st.Run(t.Context(), "tenant-a", id)
	require.NoError(t, err)
	assert.Equal(t, store.Interrupted, run.State)
	assert.Contains(t, run.Error, "shut down")
	require.NotNil(t, run.Result, "the partial result is stored")
	assert.Positive(t, run.Result.Metrics["http_reqs"].Values["count"])
	assert.Positive(t, run.Stats.Requests)

	r := e.do("POST", "/load-test/start", e.keyA, e.spec(nil))
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	r = e.do("GET", "/healthz", "", nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
}

func TestLogsAreCloudLoggingJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.waitFinal(e.keyA, e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}})))
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	require.NotEmpty(t, lines)
	seen := map[string]bool{}
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		assert.Contains(t, rec, "severity")
		assert.Contains(t, rec, "message")
		assert.NotContains(t, rec, "level")
		assert.NotContains(t, rec, "msg")
		seen[rec["message"].(string)] = true
		assert.Contains(t, []any{"DEBUG", "INFO", "WARNING", "ERROR"}, rec["severity"])
	}
	assert.True(t, seen["test started"] && seen["test ended"] && seen["request"], "%v", seen)
}

func TestTelemetrySourcesAreLimited(t *testing.T) {
	t.Parallel()
	if _, err := loadtest.DecodeTestSpec([]byte(`{"telemetry":{}}`)); err != nil && strings.Contains(err.Error(), "unknown field") {
		t.Skip("this loadtest has no telemetry")
	}
	e := newEnv(t, fakeResolver("198.51.100.7"))
	r := e.do("POST", "/load-test/start", e.keyA, e.spec(map[string]any{
		"telemetry": map[string]any{"prometheus": "http://metrics.example.net:9100/metrics", "pid": 1}}))
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	var body struct{ Errors, Limits []string }
	r.json(t, &body)
	assert.ElementsMatch(t, []string{"telemetry_pid", "allowed_hosts"}, body.Limits)
	assert.True(t, containsAny(body.Errors, `telemetry.prometheus: host "metrics.example.net"`), "%q", body.Errors)
}
