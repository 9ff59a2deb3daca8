package report_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/scenarios"
)

// hostile are strings "the target" or "the model" might send, each able to
// break out of a careless page.
var hostile = []string{
	`<script>alert(1)</script>`,
	`</script><script>alert(2)</script>`,
	`<!-- <script>`,
	"line\u2028separator\u2029paragraph",
	`"'><img src=x onerror=alert(3)>`,
	`]]></failure><injected/>`,
	"ctrl\x00\x1b[31mchars\ufffe",
}

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func mustThreshold(t testing.TB, src string) metrics.Threshold {
	t.Helper()
	th, err := metrics.ParseThreshold(src)
	require.NoError(t, err)
	return th
}

// fixture returns a deterministic hand-built run of n seconds: two
// endpoints, nested groups with a failing check, three thresholds (passed,
// failed, no data), and a latency step after 60 % of the run. evil puts
// hostile strings into every name the target or the script controls.
func fixture(t testing.TB, name string, n int, latencyFactor float64, evil bool) loadtest.Result {
	t.Helper()
	ep1, ep2, check, group, errMsg := "GET /api/products", "POST /api/cart", "status is 200", "checkout", "connection reset by peer"
	if evil {
		ep1, ep2, check, group, errMsg = hostile[0], hostile[1], hostile[2], hostile[3], hostile[4]
	}
	dur := time.Duration(n) * time.Second
	series := func(name string, tags map[string]string, unit string, f func(i int) float64) loadtest.Series {
		vs := make(loadtest.Values, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return loadtest.Series{Name: name, Tags: tags, Unit: unit, Values: vs}
	}
	step := int(float64(n) * 0.6)
	lat := func(base float64) func(int) float64 {
		return func(i int) float64 {
			v := base * (1 + 0.05*math.Sin(float64(i)/3))
			if i >= step {
				v *= latencyFactor
			}
			return v
		}
	}
	vus := func(i int) float64 { return math.Min(20, float64(i+1)*2) }
	gap := func(f func(int) float64) func(int) float64 { // one missing second
		return func(i int) float64 {
			if i == n/2 {
				return math.NaN()
			}
			return f(i)
		}
	}
	res := loadtest.Result{
		Name: name, TestType: "load", Start: t0, End: t0.Add(dur), Duration: dur,
		Status: loadtest.StatusThresholdsFailed,
		Config: loadtest.PlanEcho{Name: name, TestType: "load",
			Scenarios: scenarios.Scenarios{"load": scenarios.ConstantVUs{VUs: 20, Duration: dur}},
			Env:       map[string]string{"API_TOKEN": "[REDACTED]", "REGION": "eu-west-1"},
			Target: &loadtest.Target{BaseURL: "http://user:hunter2@127.0.0.1:8080", AuthToken: "[REDACTED]",
				Endpoints: []loadtest.Endpoint{{Path: "/api/products", Name: ep1}, {Method: "POST", Path: "/api/cart", Name: ep2}}}},
		Metrics: map[string]loadtest.MetricSummary{
			"http_reqs":         {Type: metrics.Counter, Values: map[string]float64{"count": float64(40 * n), "rate": 40}},
			"http_req_failed":   {Type: metrics.Rate, Values: map[string]float64{"rate": 0.0125, "passes": float64(n/2) * 1, "fails": float64(40*n) - float64(n/2)}},
			"http_req_duration": {Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{"avg": 21.5 * latencyFactor, "min": 3.1, "med": 19 * latencyFactor, "max": 480, "p(50)": 19 * latencyFactor, "p(90)": 34 * latencyFactor, "p(95)": 41.5 * latencyFactor, "p(99)": 77 * latencyFactor}},
			"iterations":        {Type: metrics.Counter, Values: map[string]float64{"count": float64(20 * n), "rate": 20}},
			"checks":            {Type: metrics.Rate, Values: map[string]float64{"rate": 0.99, "passes": 990, "fails": 10}},
			"vus_max":           {Type: metrics.Gauge, Values: map[string]float64{"value": 20, "min": 20, "max": 20}},
			"data_received":     {Type: metrics.Counter, Contains: metrics.Data, Values: map[string]float64{"count": 52_428_800, "rate": 873_813}},
		},
		Thresholds: []metrics.Verdict{
			{Metric: "http_req_duration", Threshold: mustThreshold(t, "p(95)<40"), Status: metrics.Failed, Observed: 41.5 * latencyFactor},
			{Metric: "http_req_failed", Threshold: mustThreshold(t, "rate<0.05"), Status: metrics.Passed, Observed: 0.0125},
			{Metric: "http_req_duration{name:" + ep2 + "}", Threshold: mustThreshold(t, "p(99)<100"), Status: metrics.NoData},
		},
		RootGroup: loadtest.Group{Name: "", Path: "", ID: "d41d8cd98f00b204e9800998ecf8427e",
			Checks: []loadtest.Check{{Name: check, Path: "::" + check, ID: "c1", Passes: 990, Fails: 10}},
			Groups: []loadtest.Group{{Name: group, Path: "::" + group, ID: "g1",
				Checks: []loadtest.Check{{Name: "cart not empty", Path: "::" + group + "::cart not empty", ID: "c2", Passes: 500}},
				Groups: []loadtest.Group{{Name: "pay", Path: "::" + group + "::pay", ID: "g2",
					Checks: []loadtest.Check{{Name: "paid", Path: "::" + group + "::pay::paid", ID: "c3", Passes: 499, Fails: 1}}}}}}},
		Endpoints: []loadtest.EndpointStats{
			{Name: ep1, Method: "GET", Requests: int64(30 * n), Failed: int64(n / 4),
				Duration: map[string]float64{"avg": 18, "min": 3.1, "med": 16, "max": 300, "p(90)": 30, "p(95)": 38 * latencyFactor, "p(99)": 70},
				Statuses: map[string]int64{"200": int64(30*n - n/4), "503": int64(n / 4)}, Errors: map[string]int64{"1503": int64(n / 4)}},
			{Name: ep2, Method: "POST", Requests: int64(10 * n), Failed: int64(n / 4),
				Duration: map[string]float64{"avg": 31, "min": 5, "med": 28, "max": 480, "p(90)": 45, "p(95)": 52, "p(99)": 90},
				Statuses: map[string]int64{"201": int64(10*n - n/4), "0": int64(n / 4)}, Errors: map[string]int64{"1211": int64(n / 4)}},
		},
		DistinctNames: 2,
		Scenarios:     []scenarios.Progress{},
		Timeline: loadtest.Timeline{Start: t0, Step: time.Second, Series: []loadtest.Series{
			series(loadtest.SeriesVUs, nil, "", vus),
			series(loadtest.SeriesVUsMax, nil, "", func(int) float64 { return 20 }),
			series(loadtest.SeriesRequests, nil, "req/s", gap(func(i int) float64 { return 2 * vus(i) })),
			series(loadtest.SeriesFailedRate, nil, "", gap(func(i int) float64 { return 0.01 + 0.01*float64(i%3) })),
			series(loadtest.SeriesLatencyAvg, nil, "ms", gap(lat(21.5))),
			series(loadtest.SeriesLatencyP50, nil, "ms", gap(lat(19))),
			series(loadtest.SeriesLatencyP90, nil, "ms", gap(lat(34))),
			series(loadtest.SeriesLatencyP95, nil, "ms", gap(lat(41.5))),
			series(loadtest.SeriesLatencyP99, nil, "ms", gap(lat(77))),
			series(loadtest.SeriesIterations, nil, "1/s", gap(vus)),
			series(loadtest.SeriesDropped, nil, "1/s", func(int) float64 { return 0 }),
			series(loadtest.SeriesLatenessP99, nil, "ms", func(int) float64 { return math.NaN() }),
			series(loadtest.SeriesChecksFail, nil, "", gap(func(i int) float64 { return 0.01 * float64(i%2) })),
			series(loadtest.SeriesGeneratorCPU, nil, "%", func(i int) float64 { return 20 + float64(i%7) }),
			series(loadtest.SeriesGeneratorRSS, nil, "bytes", func(i int) float64 { return 40e6 + 1e5*float64(i) }),
			series(loadtest.SeriesRequests, map[string]string{"name": ep1}, "req/s", func(i int) float64 { return 1.5 * vus(i) }),
			series(loadtest.SeriesLatencyP95, map[string]string{"name": ep1}, "ms", lat(38)),
			series(loadtest.SeriesLatencyP95, map[string]string{"name": ep2}, "ms", lat(52)),
		}},
		Generator:       loadtest.GeneratorHealth{CPUs: 2, CPUAvg: 23, CPUMax: 26, RSSMaxBytes: 46e6},
		IterationErrors: []loadtest.ErrorCount{{Message: errMsg, Count: 3}},
		Warnings:        []string{"insufficient VUs: 12 iterations dropped"},
	}
	if evil {
		res.Warnings = append(res.Warnings, hostile...)
	}
	return res
}

// findings returns hand-built findings of the fixture: a windowed latency
// shift and a whole-run error rate.
func findings(n int, evil bool) []anomaly.Finding {
	msg := "p95 latency stepped up by 30 % (41.5 → 54 ms) at 0:36 under steady load."
	if evil {
		msg = strings.Join(hostile, " ")
	}
	step := time.Duration(float64(n)*0.6) * time.Second
	return []anomaly.Finding{
		{ID: "latency_shift-1a2b3c4d", Kind: anomaly.KindLatencyShift, Severity: anomaly.SeverityHigh, Target: anomaly.BlameTarget,
			Start: step, End: time.Duration(n) * time.Second, StartTime: t0.Add(step), EndTime: t0.Add(time.Duration(n) * time.Second),
			Metric: loadtest.SeriesLatencyP95, Method: "cusum+e-divisive",
			Evidence: map[string]float64{"baseline": 41.5, "observed": 54, "change": 0.3, "p_value": 1e-6}, Message: msg},
		{ID: "error_rate-5e6f7a8b", Kind: anomaly.KindErrorRate, Severity: anomaly.SeverityMedium, Target: anomaly.BlameTarget,
			Start: 0, End: time.Duration(n) * time.Second, Metric: "http_req_failed", Tags: map[string]string{"name": "GET /api/products"},
			Method: "rule", Evidence: map[string]float64{"observed": 0.0125, "threshold": 0.01}, Message: "1.25 % of requests failed."},
	}
}

// aiAnalysis returns an AI analysis; evil fills its text with hostile
// strings.
func aiAnalysis(evil bool) *anomaly.AIAnalysis {
	text := func(s string) string {
		if evil {
			return s + " " + strings.Join(hostile, " ")
		}
		return s
	}
	return &anomaly.AIAnalysis{Available: true, Model: "gemini-2.5-flash", PromptVersion: "v3", InputTokens: 5120, OutputTokens: 812,
		Summary:    text("Latency rose by 30 % at 0:36 while load was steady, pointing at the target."),
		Conclusive: true,
		RootCauses: []anomaly.Hypothesis{{Title: text("Connection pool exhausted"), Explanation: text("p95 stepped while VUs were flat."),
			Supporting: []string{"latency_shift-1a2b3c4d"}, Confidence: anomaly.ConfidenceMedium}},
		Insights:        []anomaly.Insight{{Text: text("Errors are concentrated on one endpoint."), Evidence: []string{"error_rate-5e6f7a8b"}}},
		Recommendations: []anomaly.Recommendation{{Priority: 1, Action: text("Raise the database pool size."), Rationale: "queueing"}},
		Risk:            anomaly.Risk{Level: "medium", Reason: text("p95 threshold failed")},
		Limitations:     []string{text("One run only.")},
		Grounding:       []anomaly.GroundingNote{{Kind: "number_mismatch", Claim: text("p95 was 60 ms"), Detail: "evidence says 54 ms"}},
	}
}

// fixtureInput is the golden input: a run, its findings, an AI analysis
// and a comparison with a faster base run.
func fixtureInput(t testing.TB, evil bool) report.Input {
	t.Helper()
	const n = 60
	cur := fixture(t, "checkout", n, 1.3, evil)
	base := fixture(t, "checkout", n, 1.0, evil)
	base.Start, base.End = t0.Add(-24*time.Hour), t0.Add(-24*time.Hour+n*time.Second)
	base.Timeline.Start = base.Start
	base.Status = loadtest.StatusPassed
	base.Thresholds[0].Status = metrics.Passed
	fs := findings(n, evil)
	c := report.Compare(report.Run{Result: base, Findings: fs[1:]}, report.Run{Result: cur, Findings: fs}, report.CompareOptions{})
	return report.Input{
		Result:     cur,
		Analysis:   anomaly.Report{Findings: fs, Severity: anomaly.SeverityHigh, Summary: "2 findings: 1 high, 1 medium.", Schedule: "plan"},
		AI:         aiAnalysis(evil),
		Comparison: &c,
	}
}

// realRun runs a short bounded test against a loopback server whose
// second endpoint fails one request in ten and slows down after 300
// requests, and analyses it.
func realRun(t testing.TB) report.Input {
	t.Helper()
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := count.Add(1)
		if r.URL.Path == "/slow" {
			if n%10 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			if n > 300 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	ths, err := metrics.ParseThresholds(map[string][]string{"http_req_failed": {"rate<0.01"}, "http_req_duration": {"p(95)<1000"}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Plan{
		Name:       "real",
		Scenarios:  scenarios.Scenarios{"default": scenarios.ConstantArrivalRate{Rate: 100, TimeUnit: time.Second, Duration: 3 * time.Second, PreAllocatedVUs: 4, MaxVUs: 8}},
		Thresholds: ths,
		Target: &loadtest.Target{BaseURL: srv.URL, AuthToken: "s3cret-token",
			Endpoints: []loadtest.Endpoint{{Path: "/", Name: "home"}, {Path: "/slow", Name: "slow"}}},
	})
	require.NoError(t, err)
	return report.Input{Result: res, Analysis: anomaly.Analyze(res, nil, anomaly.Options{})}
}

// longRun returns a synthetic one-hour run with a latency step, dressed
// with per-endpoint series, endpoints, thresholds and checks, and its
// analysis.
func longRun(t testing.TB) report.Input {
	t.Helper()
	run := synth.Generate(synth.Spec{Kind: synth.LatencyStep, Seed: 7, Duration: time.Hour})
	res := run.Result
	dressed := fixture(t, "soak", res.Timeline.Len(), 1.2, false)
	res.Thresholds, res.RootGroup, res.Endpoints, res.DistinctNames = dressed.Thresholds, dressed.RootGroup, dressed.Endpoints, dressed.DistinctNames
	for _, s := range dressed.Timeline.Series {
		if len(s.Tags) > 0 || s.Name == loadtest.SeriesDropped || s.Name == loadtest.SeriesLatenessP99 {
			res.Timeline.Series = append(res.Timeline.Series, s)
		}
	}
	for _, ep := range []string{"GET /a", "GET /b", "GET /c", "PUT /d"} {
		res.Endpoints = append(res.Endpoints, loadtest.EndpointStats{Name: ep, Method: "GET", Requests: 1000,
			Duration: map[string]float64{"avg": 10, "p(95)": 20}, Statuses: map[string]int64{"200": 1000}})
		for _, name := range []string{loadtest.SeriesRequests, loadtest.SeriesFailedRate, loadtest.SeriesLatencyP95} {
			s := *res.Timeline.Find(loadtest.SeriesLatencyP95, nil)
			s.Name, s.Tags = name, map[string]string{"name": ep}
			res.Timeline.Series = append(res.Timeline.Series, s)
		}
	}
	return report.Input{Result: res, Analysis: anomaly.Analyze(res, nil, anomaly.Options{}), AI: aiAnalysis(false)}
}

// completeRun runs two scenarios against a loopback server, one of them in
// a group with failing requests and custom metrics of every type, with
// thresholds on the whole run, a scenario and a custom trend.
func completeRun(t testing.TB) report.Input {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	ths, err := metrics.ParseThresholds(map[string][]string{
		"http_req_duration": {"p(95)<1000"}, "http_req_duration{scenario:buy}": {"p(95)<2000"},
		"cart_ms": {"p(95)<30"}, "paid": {"rate>0.9"},
	})
	require.NoError(t, err)
	get := func(ctx context.Context, vu *loadtest.VU, path string) error {
		_, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + path})
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := loadtest.Run(ctx, loadtest.Plan{
		Name: "complete",
		Scenarios: scenarios.Scenarios{
			"browse": scenarios.ConstantVUs{VUs: 1, Duration: 3 * time.Second},
			"buy":    scenarios.ConstantVUs{Common: scenarios.Common{Exec: "buy"}, VUs: 1, Duration: 3 * time.Second},
		},
		Metrics: []metrics.Metric{{Name: "cart_ms", Type: metrics.Trend, Contains: metrics.Time},
			{Name: "orders", Type: metrics.Counter}, {Name: "paid", Type: metrics.Rate}, {Name: "queue", Type: metrics.Gauge}},
		Thresholds: ths,
		Program: loadtest.Funcs{
			"default": func(ctx context.Context, vu *loadtest.VU) error {
				if err := get(ctx, vu, "/"); err != nil {
					return err
				}
				return vu.Sleep(ctx, 50*time.Millisecond)
			},
			"buy": func(ctx context.Context, vu *loadtest.VU) error {
				err := vu.Group("pay", func() error {
					if err := get(ctx, vu, "/fail"); err != nil {
						return err
					}
					return errors.Join(vu.Add("cart_ms", 40, nil), vu.Add("orders", 2, nil),
						vu.Add("paid", 1, nil), vu.Add("paid", 0, nil), vu.Add("queue", 7, nil))
				})
				if err != nil {
					return err
				}
				return vu.Sleep(ctx, 50*time.Millisecond)
			},
		},
	})
	require.NoError(t, err)
	return report.Input{Result: res, Analysis: anomaly.Analyze(res, nil, anomaly.Options{})}
}
