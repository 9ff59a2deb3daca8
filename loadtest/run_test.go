package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func shared(vus, iters int64) scenarios.Scenarios {
	return scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: vus, Iterations: iters}}
}

func TestRunCountsIterationsChecksGroupsAndCustomMetrics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		plan := Plan{
			Scenarios: shared(3, 20),
			Metrics:   []metrics.Metric{{Name: "my_trend", Type: metrics.Trend, Contains: metrics.Time}},
			Thresholds: mustThresholds(t, `{"checks": ["rate>0.5"], "my_trend": ["max<100"],
				"iterations": ["count==20"], "checks{check:even}": ["rate==1"]}`),
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				n := calls.Add(1)
				return vu.Group("outer", func() error {
					vu.Check("even", true)
					vu.Check("small", n <= 15)
					return vu.Add("my_trend", float64(n), map[string]string{"k": "v"})
				})
			}},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, int64(20), calls.Load())
		assert.Equal(t, StatusPassed, res.Status, "%+v", res.Thresholds)
		assert.Equal(t, 20.0, res.Metrics[metrics.Iterations].Values["count"])
		assert.Equal(t, 20.0, res.Metrics["my_trend"].Values["count"])
		assert.Equal(t, 20.0, res.Metrics["my_trend"].Values["max"])
		assert.Equal(t, 35.0/40, res.Metrics[metrics.Checks].Values["rate"])
		require.Len(t, res.RootGroup.Groups, 1)
		outer := res.RootGroup.Groups[0]
		assert.Equal(t, "::outer", outer.Path)
		assert.Equal(t, md5hex("::outer"), outer.ID)
		require.Len(t, outer.Checks, 2)
		assert.Equal(t, Check{Name: "small", Path: "::outer::small", ID: md5hex("::outer::small"), Passes: 15, Fails: 5}, outer.Checks[1])
		assert.Equal(t, 20.0, res.Metrics[metrics.GroupDuration].Values["count"])
		for _, v := range res.Thresholds {
			assert.Equal(t, metrics.Passed, v.Status, "%s %s", v.Metric, v.Threshold.Source)
		}
		assert.Equal(t, uint64(20), res.Scenarios[0].Completed)
		for _, name := range []string{metrics.DataSent, metrics.DataReceived} {
			require.Contains(t, res.Metrics, name)
			assert.Equal(t, 0.0, res.Metrics[name].Values["count"], "%s: k6 shows 0 B for a test without network", name)
		}
	})
}

func mustThresholds(t *testing.T, s string) metrics.Thresholds {
	t.Helper()
	var ths metrics.Thresholds
	require.NoError(t, json.Unmarshal([]byte(s), &ths))
	return ths
}

func TestRunFailedThresholdAndIterationErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		plan := Plan{
			Scenarios:  shared(1, 4),
			Thresholds: mustThresholds(t, `{"checks": ["rate>0.9"]}`),
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				vu.Check("ok", false)
				return errors.New("boom")
			}},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, StatusThresholdsFailed, res.Status)
		assert.Equal(t, []ErrorCount{{Message: "boom", Count: 4}}, res.IterationErrors)
		assert.Equal(t, 4.0, res.Metrics[metrics.Iterations].Values["count"], "an iteration that returned an error still counts, as in k6")
		perSecond := res.Timeline.Find(SeriesIterErrors, nil)
		require.NotNil(t, perSecond, "iteration errors per second")
		assert.Equal(t, []float64{4}, finite(perSecond), "all four in the run's one second")
	})
}

func TestRunAbortOnFail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		plan := Plan{
			Scenarios:  scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 2, Duration: time.Minute}},
			Thresholds: mustThresholds(t, `{"checks": [{"threshold": "rate>0.9", "abortOnFail": true, "delayAbortEval": "5s"}]}`),
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				vu.Check("always fails", false)
				return vu.Sleep(ctx, 100*time.Millisecond)
			}},
		}
		start := time.Now()
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, StatusThresholdsFailed, res.Status)
		require.NotNil(t, res.Abort)
		assert.Equal(t, AbortByThreshold, res.Abort.By)
		assert.Equal(t, "thresholds on metrics 'checks' have been crossed", res.Abort.Reason)
		// Evaluated every 2 s; first at 2 s and 4 s (before delayAbortEval),
		// aborting at 6 s.
		assert.Equal(t, 6*time.Second, res.Abort.After.Truncate(time.Second))
		assert.Less(t, time.Since(start), 7*time.Second)
	})
}

func TestRunScriptAbortAndFail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(t.Context(), Plan{Scenarios: shared(1, 5), Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
			return vu.Abort("bye")
		}}})
		require.NoError(t, err)
		assert.Equal(t, StatusAborted, res.Status)
		require.NotNil(t, res.Abort)
		assert.Equal(t, Abort{By: AbortByScript, Reason: "bye"}, Abort{By: res.Abort.By, Reason: res.Abort.Reason})

		res, err = Run(t.Context(), Plan{Scenarios: shared(1, 3), Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
			vu.Fail("marked")
			return nil
		}}})
		require.NoError(t, err)
		assert.Equal(t, StatusMarkedFailed, res.Status)
		assert.Equal(t, "marked", res.FailedBy)
		assert.Equal(t, 3.0, res.Metrics[metrics.Iterations].Values["count"], "fail() lets the test go on")
	})
}

// Cancelling the context ends the schedule; running iterations get
// gracefulStop and are then interrupted and not counted, as in k6.
func TestRunCancelGracefulStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		grace := 2 * time.Second
		plan := Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{
				Common: scenarios.Common{GracefulStop: &grace}, VUs: 3, Duration: time.Hour}},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				return vu.Sleep(ctx, 10*time.Second)
			}},
		}
		time.AfterFunc(25*time.Second, cancel)
		start := time.Now()
		res, err := Run(ctx, plan)
		require.NoError(t, err)
		took := time.Since(start)
		assert.GreaterOrEqual(t, took, 27*time.Second)
		assert.LessOrEqual(t, took, 28*time.Second, "stops within gracefulStop (+1 s)")
		p := res.Scenarios[0]
		assert.Equal(t, uint64(6), p.Completed, "two full rounds of 10 s before the cancel at 25 s")
		assert.Equal(t, uint64(3), p.Interrupted)
		assert.Equal(t, 6.0, res.Metrics[metrics.Iterations].Values["count"])
		assert.Equal(t, StatusAborted, res.Status)
		require.NotNil(t, res.Abort)
		assert.Equal(t, AbortByCaller, res.Abort.By)
	})
}

func TestRunSetupTeardown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		prog := &setupProgram{}
		res, err := Run(t.Context(), Plan{Scenarios: shared(2, 4), Program: prog})
		require.NoError(t, err)
		assert.JSONEq(t, `{"token":"abc"}`, string(res.SetupData))
		assert.Equal(t, int64(4), prog.seen.Load())
		assert.JSONEq(t, `{"token":"abc"}`, prog.teardownData)

		_, err = Run(t.Context(), Plan{Scenarios: shared(1, 1), Program: &setupProgram{fail: true}})
		require.ErrorIs(t, err, ErrSetup)
	})
}

type setupProgram struct {
	fail         bool
	seen         atomic.Int64
	teardownData string
}

func (p *setupProgram) NewVU(_ context.Context, vu *VU) (VUCode, error) { return setupVU{p, vu}, nil }
func (p *setupProgram) Setup(_ context.Context, vu *VU) (json.RawMessage, error) {
	if p.fail {
		return nil, errors.New("no token")
	}
	assert.Equal(nil, uint64(0), vu.ID())
	return json.RawMessage(`{"token":"abc"}`), nil
}
func (p *setupProgram) Teardown(_ context.Context, _ *VU, data json.RawMessage) error {
	p.teardownData = string(data)
	return nil
}

type setupVU struct {
	p  *setupProgram
	vu *VU
}

func (s setupVU) Run(context.Context, string) error {
	if string(s.vu.SetupData()) == `{"token":"abc"}` {
		s.p.seen.Add(1)
	}
	return nil
}

func TestPlanValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	max := -1
	plan := Plan{
		Scenarios:  scenarios.Scenarios{"a": scenarios.ConstantVUs{VUs: -1}, "b": scenarios.SharedIterations{Common: scenarios.Common{Exec: "nope"}}},
		Thresholds: mustThresholds(t, `{"http_reqs": ["p(95)<1"], "unknown": ["count>1"]}`),
		Options:    Options{SummaryTrendStats: []string{"avg", "rate"}, MaxRedirects: &max, SetupTimeout: -time.Second},
		Program:    Funcs{"default": nil},
	}
	err := plan.Validate()
	require.ErrorIs(t, err, ErrInvalidPlan)
	for _, want := range []string{"scenarios.a.", `thresholds["http_reqs"][0]`, `thresholds["unknown"]`,
		"summaryTrendStats[1]", "options.maxRedirects", "options.setupTimeout", `scenarios.b.exec: no function "nope"`} {
		assert.Contains(t, err.Error(), want)
	}
	require.ErrorIs(t, Plan{Scenarios: shared(1, 1)}.Validate(), ErrInvalidPlan, "no program")
	_, err = Run(t.Context(), plan)
	require.ErrorIs(t, err, ErrInvalidPlan)
}

// A request plan against a real server: exact request counts per endpoint,
// k6 tags and error codes, checks by endpoint, and the token never leaves.
func TestRunTargetEndToEnd(t *testing.T) {
	t.Parallel()
	var auth sync.Map
	var headers sync.Map // path + " " + the custom headers seen → true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"), true)
		headers.Store(r.URL.Path+" team="+r.Header.Get("X-Team")+" key="+r.Header.Get("X-Api-Key")+
			" endpoint="+r.Header.Get("X-Endpoint"), true)
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	var ndjson, logs bytes.Buffer
	plan := Plan{
		Scenarios: shared(2, 10),
		Target: &Target{BaseURL: srv.URL, AuthToken: "s3cret-token",
			CustomHeaders: map[string]string{"X-Team": "blue", "X-Api-Key": "k3y-s3cret"},
			Endpoints: []Endpoint{
				{Path: "/ok", Name: "ok", Headers: map[string]string{"X-Endpoint": "ok", "X-Team": "green"}},
				{Path: "/missing", ExpectStatus: 404}, {Method: "post", Path: "/broken", Body: `{"a":1}`}}},
		Thresholds: mustThresholds(t, `{"http_req_failed": ["rate<0.5"], "http_reqs{name:ok}": ["count==10"]}`),
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	res, err := Run(t.Context(), plan, NewJSONOutput(&ndjson, false))
	require.NoError(t, err)
	_, sent := auth.Load("Bearer s3cret-token")
	assert.True(t, sent)
	var seen []string
	headers.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	assert.ElementsMatch(t, []string{
		"/ok team=green key=k3y-s3cret endpoint=ok", // an endpoint's headers win over the target's
		"/missing team=blue key=k3y-s3cret endpoint=",
		"/broken team=blue key=k3y-s3cret endpoint=",
	}, seen, "custom headers on every request, endpoint headers on their endpoint only")
	assert.Equal(t, 30.0, res.Metrics[metrics.HTTPReqs].Values["count"])
	assert.Equal(t, 20.0, res.Metrics[metrics.HTTPReqFailed].Values["passes"], "404 and 500 are failures by default")
	byName := map[string]EndpointStats{}
	for _, e := range res.Endpoints {
		byName[e.Name] = e
	}
	assert.Equal(t, int64(10), byName["ok"].Requests)
	assert.Equal(t, map[string]int64{"404": 10}, byName["GET /missing"].Statuses)
	assert.Equal(t, map[string]int64{"1500": 10}, byName["POST /broken"].Errors)
	assert.Equal(t, "POST", byName["POST /broken"].Method)
	checks := map[string]Check{}
	for _, c := range res.RootGroup.Checks {
		checks[c.Name] = c
	}
	assert.Equal(t, int64(10), checks["GET /missing status is 404"].Passes)
	assert.Equal(t, int64(10), checks["POST /broken status is 2xx/3xx"].Fails)
	assert.Equal(t, StatusThresholdsFailed, res.Status, "2/3 of requests failed")

	// The per-second series: requests add up, overall and per endpoint, the
	// failed share is 2/3, and each second's percentiles are in order.
	sum := func(s *Series) (total float64) {
		for _, v := range finite(s) {
			total += v
		}
		return total
	}
	reqs := res.Timeline.Find(SeriesRequests, nil)
	require.NotNil(t, reqs)
	assert.Equal(t, 30.0, sum(reqs))
	okReqs := res.Timeline.Find(SeriesRequests, map[string]string{"name": "ok"})
	require.NotNil(t, okReqs, "per-endpoint series")
	assert.Equal(t, 10.0, sum(okReqs))
	failed := res.Timeline.Find(SeriesFailedRate, nil)
	require.NotNil(t, failed)
	var failedReqs float64
	for i, v := range failed.Values {
		if !math.IsNaN(v) {
			failedReqs += v * reqs.Values[i]
		}
	}
	assert.InDelta(t, 20, failedReqs, 1e-9)
	p50, p95, p99, pmax := res.Timeline.Find(SeriesLatencyP50, nil), res.Timeline.Find(SeriesLatencyP95, nil),
		res.Timeline.Find(SeriesLatencyP99, nil), res.Timeline.Find(SeriesLatencyMax, nil)
	require.True(t, p50 != nil && p95 != nil && p99 != nil && pmax != nil, "latency percentile series")
	require.NotEmpty(t, finite(p99))
	for i := range p50.Values {
		if math.IsNaN(p50.Values[i]) {
			continue
		}
		assert.Positive(t, p50.Values[i])
		assert.LessOrEqual(t, p50.Values[i], p95.Values[i]*(1+metrics.TrendAccuracy))
		assert.LessOrEqual(t, p95.Values[i], p99.Values[i]*(1+metrics.TrendAccuracy))
		assert.LessOrEqual(t, p99.Values[i], pmax.Values[i]*(1+metrics.TrendAccuracy))
	}

	out, err := json.Marshal(res)
	require.NoError(t, err)
	for where, text := range map[string]string{"result": string(out), "samples": ndjson.String(), "logs": logs.String()} {
		assert.NotContains(t, text, "s3cret-token", where)
		assert.NotContains(t, text, "k3y-s3cret", where)
	}
	assert.Contains(t, string(out), Redacted)
	assert.Contains(t, string(out), `"X-Team":"blue"`, "headers that are not secret stay in the echo")

	lines := strings.Split(strings.TrimSpace(ndjson.String()), "\n")
	var points, metricLines int
	pointMetrics := map[string]bool{}
	for _, l := range lines {
		var v struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
			Data   struct {
				Tags map[string]string `json:"tags"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		switch v.Type {
		case "Point":
			points++
			pointMetrics[v.Metric] = true
			if v.Metric == metrics.HTTPReqs && v.Data.Tags["name"] == "POST /broken" {
				assert.Equal(t, "500", v.Data.Tags["status"])
				assert.Equal(t, "1500", v.Data.Tags["error_code"])
				assert.Equal(t, "false", v.Data.Tags["expected_response"])
				assert.Equal(t, "default", v.Data.Tags["scenario"])
			}
		case "Metric":
			metricLines++
		}
	}
	assert.Greater(t, points, 30*9)
	assert.Equal(t, len(pointMetrics), metricLines, "one Metric line per metric, before its first point")
}

type progressRecorder struct {
	mu    sync.Mutex
	snaps []Snapshot
	Output
}

func (p *progressRecorder) Start(RunInfo) error         { return nil }
func (p *progressRecorder) AddSamples([]metrics.Sample) {}
func (p *progressRecorder) Stop(Result) error           { return nil }
func (p *progressRecorder) Progress(s Snapshot) {
	p.mu.Lock()
	p.snaps = append(p.snaps, s)
	p.mu.Unlock()
}

func TestRunProgressAndTimeline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &progressRecorder{}
		plan := Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 4, Duration: 5 * time.Second}},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				return vu.Sleep(ctx, 500*time.Millisecond)
			}},
		}
		res, err := Run(t.Context(), plan, rec)
		require.NoError(t, err)
		require.NotEmpty(t, rec.snaps)
		last := rec.snaps[len(rec.snaps)-1]
		assert.True(t, last.Done)
		assert.Equal(t, 1.0, last.Fraction)
		assert.Equal(t, uint64(40), last.Iterations)
		mid := rec.snaps[len(rec.snaps)/2]
		assert.Equal(t, int64(4), mid.VUs)
		assert.Greater(t, mid.Fraction, 0.0)

		iters := res.Timeline.Find(SeriesIterations, nil)
		require.NotNil(t, iters)
		sum := 0.0
		for _, v := range iters.Values {
			sum += v
		}
		assert.Equal(t, 40.0, sum)
		assert.Equal(t, 8.0, iters.Values[2], "4 VUs × 2 iterations per second")
		vus := res.Timeline.Find(SeriesVUs, nil)
		require.NotNil(t, vus)
		assert.Equal(t, 4.0, vus.Values[2])
		assert.Equal(t, 4.0, res.Metrics[metrics.VUsMax].Values["value"])
	})
}

func TestEchoRedactsURLPasswords(t *testing.T) {
	t.Parallel()
	p := Plan{Target: &Target{BaseURL: "http://user:hunter2@127.0.0.1:8080", AuthToken: "tok",
		Endpoints: []Endpoint{{Path: "http://a:b-secret@127.0.0.1:9/x"}, {Path: "/plain"}}}}
	e := p.Echo()
	out, err := json.Marshal(e)
	require.NoError(t, err)
	for _, secret := range []string{"hunter2", "b-secret", `"tok"`} {
		assert.NotContains(t, string(out), secret)
	}
	assert.Equal(t, "/plain", e.Target.Endpoints[1].Path)
	assert.Equal(t, "http://user:hunter2@127.0.0.1:8080", p.Target.BaseURL, "the plan itself keeps it")
}

// Requests made from Go with a bare k6http.Request carry the VU's tags:
// thresholds on the scenario and the group see them, through Do, Batch and
// Start alike.
func TestRunGoRequestsCarryVUTags(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	plan := Plan{
		Scenarios: scenarios.Scenarios{"checkout": scenarios.SharedIterations{VUs: 2, Iterations: 4}},
		Options:   Options{Tags: map[string]string{"env": "test"}},
		Thresholds: mustThresholds(t, `{"http_reqs{scenario:checkout}": ["count==16"], "http_reqs{group:::pay}": ["count==12"],
			"http_reqs{env:test}": ["count==16"], "http_req_duration{scenario:checkout}": ["p(95)<60000"]}`),
		Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
			if _, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + "/cart"}); err != nil {
				return err
			}
			return vu.Group("pay", func() error {
				if _, err := vu.HTTP().Batch(ctx, []*k6http.Request{{URL: srv.URL + "/a"}, {URL: srv.URL + "/b"}}, k6http.BatchLimits{}); err != nil {
					return err
				}
				p, err := vu.HTTP().Start(ctx, &k6http.Request{URL: srv.URL + "/c"}, nil)
				if err != nil {
					return err
				}
				_, err = p.Finish()
				return err
			})
		}},
	}
	res, err := Run(t.Context(), plan)
	require.NoError(t, err)
	require.Len(t, res.Thresholds, 4)
	for _, v := range res.Thresholds {
		assert.Equal(t, metrics.Passed, v.Status, "%s %s", v.Metric, v.Threshold.Source)
	}
	assert.Equal(t, StatusPassed, res.Status)
}

// The timeline has request series per scenario and per group, and one
// series per custom metric as its type aggregates, so that reports can
// chart them.
func TestRunTimelineSlicesAndCustomMetrics(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	get := func(ctx context.Context, vu *VU, path string) error {
		_, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + path})
		return err
	}
	plan := Plan{
		Scenarios: scenarios.Scenarios{
			"browse": scenarios.SharedIterations{VUs: 1, Iterations: 3},
			"buy":    scenarios.SharedIterations{Common: scenarios.Common{Exec: "buy"}, VUs: 1, Iterations: 2},
		},
		Metrics: []metrics.Metric{{Name: "cart_ms", Type: metrics.Trend, Contains: metrics.Time},
			{Name: "orders", Type: metrics.Counter}, {Name: "paid", Type: metrics.Rate}, {Name: "queue", Type: metrics.Gauge}},
		Program: Funcs{
			"default": func(ctx context.Context, vu *VU) error { return get(ctx, vu, "/") },
			"buy": func(ctx context.Context, vu *VU) error {
				return vu.Group("pay", func() error {
					if err := get(ctx, vu, "/"); err != nil {
						return err
					}
					if err := get(ctx, vu, "/fail"); err != nil {
						return err
					}
					return errors.Join(vu.Add("cart_ms", 40, nil), vu.Add("orders", 3, nil),
						vu.Add("paid", 1, nil), vu.Add("paid", 0, nil), vu.Add("queue", 7, nil))
				})
			},
		},
	}
	res, err := Run(t.Context(), plan)
	require.NoError(t, err)
	tl := res.Timeline
	sum := func(name string, tags map[string]string) (total float64, points int) {
		s := tl.Find(name, tags)
		require.NotNil(t, s, "%s%v", name, tags)
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				total += v
				points++
			}
		}
		return total, points
	}
	n, _ := sum(SeriesRequests, map[string]string{"scenario": "browse"})
	assert.Equal(t, 3.0, n, "browse requests")
	n, _ = sum(SeriesRequests, map[string]string{"scenario": "buy"})
	assert.Equal(t, 4.0, n, "buy requests")
	n, _ = sum(SeriesRequests, map[string]string{"group": "::pay"})
	assert.Equal(t, 4.0, n, "requests in group pay")
	assert.Nil(t, tl.Find(SeriesRequests, map[string]string{"group": ""}), "the root group is the whole run")
	for _, tags := range []map[string]string{{"scenario": "buy"}, {"group": "::pay"}} {
		_, p := sum(SeriesLatencyP95, tags)
		assert.Positive(t, p, "p95 of %v", tags)
		fr, p := sum(SeriesFailedRate, tags)
		assert.InDelta(t, 0.5*float64(p), fr, 0.5, "half the requests of %v fail", tags)
	}
	fr, _ := sum(SeriesFailedRate, map[string]string{"scenario": "browse"})
	assert.Zero(t, fr, "no request of browse fails")

	custom := func(name string) map[string]string { return map[string]string{"metric": name} }
	n, _ = sum(SeriesCustomCount, custom("orders"))
	assert.Equal(t, 6.0, n, "orders counted per second")
	assert.Equal(t, "1/s", tl.Find(SeriesCustomCount, custom("orders")).Unit)
	rate, p := sum(SeriesCustomRate, custom("paid"))
	assert.InDelta(t, 0.5*float64(p), rate, 1e-9, "half the paid values are non-zero, every second")
	v, _ := sum(SeriesCustomP95, custom("cart_ms"))
	assert.Positive(t, v)
	assert.Equal(t, "ms", tl.Find(SeriesCustomP95, custom("cart_ms")).Unit)
	_, p = sum(SeriesCustomValue, custom("queue"))
	assert.Positive(t, p)
	for _, s := range tl.Series {
		assert.NotContains(t, []string{"http_req_blocked", "iteration_duration"}, s.Tags["metric"], "built-in metrics are not custom")
	}
}

// timelineRecorder keeps the seconds a TimelineReceiver is given.
type timelineRecorder struct {
	calls  int
	starts []time.Time
	total  int                  // seconds received
	series map[string][]float64 // by name and tags
}

func (tr *timelineRecorder) Start(RunInfo) error         { tr.series = map[string][]float64{}; return nil }
func (tr *timelineRecorder) AddSamples([]metrics.Sample) {}
func (tr *timelineRecorder) Stop(Result) error           { return nil }
func (tr *timelineRecorder) TimelineSeconds(tl Timeline) {
	tr.calls++
	tr.starts = append(tr.starts, tl.Start)
	n := -1
	for _, s := range tl.Series {
		key := s.Name + metrics.TagsFromMap(s.Tags).String()
		if n >= 0 && len(s.Values) != n {
			panic("series of one delivery differ in length")
		}
		n = len(s.Values)
		got := tr.series[key]
		for len(got) < tr.total { // a series that begins now was NaN before
			got = append(got, math.NaN())
		}
		tr.series[key] = append(got, s.Values...)
	}
	tr.total += max(n, 0)
}

// A TimelineReceiver gets the timeline second by second while the run goes
// on; put together, the pieces are the Result's timeline.
func TestRunTimelineReceiver(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &timelineRecorder{}
		res, err := Run(t.Context(), Plan{
			Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 1, Duration: 10 * time.Second}},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				return vu.Sleep(ctx, 100*time.Millisecond)
			}},
		}, tr)
		require.NoError(t, err)
		// Seconds close a few seconds late (late samples still land in
		// them), so a 10 s run has at least one delivery before the last.
		assert.GreaterOrEqual(t, tr.calls, 2, "deliveries during the run, then the last")
		require.NotEmpty(t, res.Timeline.Series)
		for i := 1; i < len(tr.starts); i++ {
			assert.True(t, tr.starts[i].After(tr.starts[i-1]), "deliveries follow each other")
		}
		for _, s := range res.Timeline.Series {
			got := tr.series[s.Name+metrics.TagsFromMap(s.Tags).String()]
			require.GreaterOrEqual(t, len(got), len(s.Values), s.Name)
			for i, v := range got {
				if i >= len(s.Values) || math.IsNaN(s.Values[i]) {
					assert.True(t, math.IsNaN(v), "%s[%d]: the result has no value", s.Name, i)
				} else {
					assert.Equal(t, s.Values[i], v, "%s[%d]", s.Name, i)
				}
			}
		}
	})
}

// VUs see SystemEnv under Env, in scenarios with and without an env of
// their own; the Result records Env only.
func TestRunSystemEnvIsSeenNotRecorded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]map[string]string{}
		plan := Plan{
			Scenarios: scenarios.Scenarios{
				"plain":   scenarios.SharedIterations{VUs: 1, Iterations: 1},
				"withEnv": scenarios.SharedIterations{Common: scenarios.Common{Env: map[string]string{"SCEN": "s"}}, VUs: 1, Iterations: 1},
			},
			Env:       map[string]string{"USER_VAR": "u", "SHADOW": "user"},
			SystemEnv: map[string]string{"HOME": "/root", "SHADOW": "system"},
			Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
				mu.Lock()
				defer mu.Unlock()
				seen[vu.Iteration().Scenario] = maps.Clone(vu.Env())
				return nil
			}},
		}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"USER_VAR": "u", "SHADOW": "user", "HOME": "/root"}, seen["plain"])
		assert.Equal(t, map[string]string{"USER_VAR": "u", "SHADOW": "user", "HOME": "/root", "SCEN": "s"}, seen["withEnv"])
		assert.Equal(t, map[string]string{"USER_VAR": "u", "SHADOW": "user"}, res.Config.Env)
	})
}

// k6's blacklistIPs and the AllowIP hook hold at dial time, for URLs the
// plan does not show.
func TestRunBlacklistIPs(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	opts, err := DecodeK6Options([]byte(`{"iterations": 3, "blacklistIPs": ["127.0.0.0/8"]}`))
	require.NoError(t, err)
	plan := Plan{Target: &Target{BaseURL: srv.URL, Endpoints: []Endpoint{{Path: "/"}}}}
	_, err = opts.Apply(&plan)
	require.NoError(t, err)
	res, err := Run(t.Context(), plan)
	require.NoError(t, err)
	assert.Zero(t, hits.Load())
	assert.Equal(t, map[string]int64{"1110": 3}, res.Endpoints[0].Errors)

	plan.Options = Options{AllowIP: func(ip netip.Addr) bool { return ip.IsLoopback() }}
	res, err = Run(t.Context(), plan)
	require.NoError(t, err)
	assert.Equal(t, int64(3), hits.Load())
	assert.Empty(t, res.Endpoints[0].Errors)

	plan.Options = Options{BlacklistIPs: []string{"nope", "10.0.0.0/8"}}
	require.ErrorContains(t, plan.Validate(), `options.blacklistIPs[0]: "nope"`)
}

// A check or group name per iteration (a hostile or careless script) keeps
// the result bounded: MaxChecks names, the rest under "(other)", counted
// exactly, and a warning.
func TestCheckAndGroupNamesAreCapped(t *testing.T) {
	t.Parallel()
	const iters = 3 * MaxChecks
	var n atomic.Int64
	plan := Plan{Scenarios: shared(2, iters), Program: Funcs{"default": func(_ context.Context, vu *VU) error {
		i := n.Add(1)
		vu.Check(fmt.Sprintf("check %d", i), i%2 == 0)
		return vu.Group(fmt.Sprintf("group %d", i), func() error { return nil })
	}}}
	res, err := Run(t.Context(), plan)
	require.NoError(t, err)
	var checks, groups int
	var passes, fails int64
	var walk func(g Group)
	walk = func(g Group) {
		for _, c := range g.Checks {
			checks++
			passes += c.Passes
			fails += c.Fails
		}
		for _, sub := range g.Groups {
			groups++
			walk(sub)
		}
	}
	walk(res.RootGroup)
	assert.Equal(t, MaxChecks+1, checks, "MaxChecks names and (other)")
	assert.Equal(t, MaxGroups+1, groups, "MaxGroups names and (other)")
	assert.EqualValues(t, iters, passes+fails, "every check is counted")
	assert.Contains(t, res.Warnings, fmt.Sprintf("more than %d groups or %d checks: the rest are counted as %q", MaxGroups, MaxChecks, "(other)"))
	b, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Less(t, len(b), 1<<20, "a result of %d bytes", len(b))
}

// Scenarios that hand over to one another share the plan's peak of VUs, as
// in k6 (v2.2.0 on this plan: vus_max 10, vus max 10): the next scenario
// waits for the VUs the last one is still returning instead of making
// more, so no more VUs are made or at work than planned.
func TestRunHandoverKeepsThePlannedPeakOfVUs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sc := scenarios.Scenarios{}
		for i := range 5 {
			sc[fmt.Sprint("s", i)] = scenarios.ConstantVUs{VUs: 10, Duration: time.Second,
				Common: scenarios.Common{StartTime: time.Duration(i) * time.Second, GracefulStop: new(time.Duration(0))}}
		}
		var atWork, mostAtWork atomic.Int64
		plan := Plan{Scenarios: sc, Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
			n := atWork.Add(1)
			defer atWork.Add(-1)
			for m := mostAtWork.Load(); n > m && !mostAtWork.CompareAndSwap(m, n); m = mostAtWork.Load() {
			}
			return vu.Sleep(ctx, 300*time.Millisecond)
		}}}
		res, err := Run(t.Context(), plan, &progressRecorder{})
		require.NoError(t, err)
		assert.Equal(t, 10.0, res.Metrics[metrics.VUsMax].Values["value"], "vus_max")
		assert.LessOrEqual(t, mostAtWork.Load(), int64(10), "VUs at work at once")
	})
}

// TestIterationStartsAtTheRootGroup: a group its code left without
// returning (a panic the iteration recovered itself) ends with the
// iteration: the next one's checks are at the root.
func TestIterationStartsAtTheRootGroup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		plan := Plan{Scenarios: shared(1, 3), Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
			n := calls.Add(1)
			vu.Check(fmt.Sprintf("iteration %d", n), true) // a new name each time: no cached tags
			if n == 1 {
				func() {
					defer func() { _ = recover() }()
					_ = vu.Group("g", func() error { panic("left by a panic") })
				}()
			}
			return nil
		}}}
		res, err := Run(t.Context(), plan)
		require.NoError(t, err)
		var paths []string
		for _, c := range res.RootGroup.Checks {
			paths = append(paths, c.Path)
		}
		assert.Equal(t, []string{"::iteration 1", "::iteration 2", "::iteration 3"}, paths, "groups: %+v", res.RootGroup.Groups)
	})
}
