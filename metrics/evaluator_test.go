package metrics

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustThresholds(t *testing.T, src string) Thresholds {
	t.Helper()
	var ths Thresholds
	require.NoError(t, json.Unmarshal([]byte(src), &ths))
	return ths
}

// k6 rejects (exit 104) thresholds on unknown metrics and aggregations the
// metric type does not support: ground truth scripts badthr.js and badthr2.js.
func TestNewEvaluatorRejectsWhatK6Rejects(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	tests := []struct {
		name string
		ths  string
		want []string
	}{
		{name: "badthr.js", ths: `{"nonexistent_metric": ["count>1"]}`,
			want: []string{`thresholds["nonexistent_metric"]: metric "nonexistent_metric" does not exist`}},
		{name: "badthr2.js", ths: `{"http_reqs": ["p(95)<1"]}`,
			want: []string{`thresholds["http_reqs"][0]: "p(95)<1": aggregation "p(95)" is not supported on counter metric "http_reqs"; want one of count, rate`}},
		{name: "gauge min", ths: `{"vus": ["min>1"]}`, want: []string{"want one of value"}},
		{name: "rate count", ths: `{"checks": ["count>1"]}`, want: []string{"want one of rate"}},
		{name: "trend count", ths: `{"http_req_duration": ["count>1"]}`, want: []string{"want one of avg, min, med, max, p(N)"}},
		{name: "bad selector", ths: `{"http_req_duration{status}": ["avg<1"]}`, want: []string{"not key:value"}},
		{name: "all at once", ths: `{"nope": ["avg<1"], "vus": ["rate<1", "value<1", "avg<2"]}`,
			want: []string{`"nope"`, `thresholds["vus"][0]`, `thresholds["vus"][2]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewEvaluator(mustThresholds(t, tt.ths), reg)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	myTrend := reg.MustRegister("my_trend", Trend, Time)
	ths := mustThresholds(t, `{
		"http_req_duration": ["p(95)<500", "avg<2"],
		"http_req_duration{status:200}": ["max<1000"],
		"http_req_failed": ["rate<0.01"],
		"checks": ["rate>0.9"],
		"dropped_iterations": ["count<1"],
		"iterations": ["count>0", "rate>100"],
		"my_trend": ["p(99)<5"],
		"vus": ["value>0"]
	}`)
	ev, err := NewEvaluator(ths, reg)
	require.NoError(t, err)
	assert.Equal(t, []string{"checks", "dropped_iterations", "http_req_duration", "http_req_duration{status:200}",
		"http_req_failed", "iterations", "my_trend", "vus"}, ev.MetricKeys())

	totals, err := NewTotals(ev.MetricKeys()...)
	require.NoError(t, err)
	ok200 := NewTags("status", "200")
	add := func(name string, v float64, tags Tags) {
		totals.Add(Sample{Metric: reg.Get(name), Value: v, Tags: tags})
	}
	add(HTTPReqDuration, 1, ok200)
	add(HTTPReqDuration, 3, NewTags("status", "500"))
	add(HTTPReqFailed, 0, ok200)
	add(HTTPReqFailed, 1, NewTags("status", "500"))
	add(Iterations, 1, Tags{})
	_ = myTrend

	verdicts := func(final bool) map[string]Verdict {
		out := map[string]Verdict{}
		totals.View(func(src SinkSource) {
			for _, v := range ev.Evaluate(src, time.Second, final) {
				out[v.Metric+" "+v.Threshold.Source] = v
			}
		})
		return out
	}
	during := verdicts(false)
	tests := []struct {
		key      string
		status   Status
		observed float64
	}{
		{"http_req_duration p(95)<500", Passed, 2.9}, // k6 interpolates: 1 + 0.95·(3−1)
		{"http_req_duration avg<2", Failed, 2},
		{"http_req_duration{status:200} max<1000", Passed, 1},
		{"http_req_failed rate<0.01", Failed, 0.5},
		{"checks rate>0.9", NoData, 0},
		{"dropped_iterations count<1", NoData, 0},
		{"iterations count>0", Passed, 1},
		{"iterations rate>100", Failed, 1},
		{"my_trend p(99)<5", NoData, 0},
		{"vus value>0", NoData, 0},
	}
	for _, tt := range tests {
		v, ok := during[tt.key]
		require.True(t, ok, tt.key)
		assert.Equal(t, tt.status, v.Status, tt.key)
		assert.InDelta(t, tt.observed, v.Observed, 0.01*tt.observed, tt.key)
	}
	// At the end an empty counter counts as 0, as in k6.
	final := verdicts(true)
	assert.Equal(t, Passed, final["dropped_iterations count<1"].Status)
	assert.Equal(t, NoData, final["checks rate>0.9"].Status)
	assert.Len(t, final, len(tests))
}

func TestVerdictAborts(t *testing.T) {
	t.Parallel()
	th := Threshold{Source: "rate<0.1", AbortOnFail: true, DelayAbortEval: 10 * time.Second}
	assert.False(t, Verdict{Threshold: th, Status: Failed}.Aborts(5*time.Second), "before delayAbortEval")
	assert.True(t, Verdict{Threshold: th, Status: Failed}.Aborts(10*time.Second))
	assert.False(t, Verdict{Threshold: th, Status: Passed}.Aborts(time.Minute))
	assert.False(t, Verdict{Threshold: th, Status: NoData}.Aborts(time.Minute))
	th.AbortOnFail = false
	assert.False(t, Verdict{Threshold: th, Status: Failed}.Aborts(time.Minute))
}

func TestVerdictJSON(t *testing.T) {
	t.Parallel()
	th, err := ParseThreshold("p(95)<500")
	require.NoError(t, err)
	out, err := json.Marshal([]Verdict{
		{Metric: "http_req_duration", Threshold: th, Status: Passed, Observed: 12.5},
		{Metric: "checks", Threshold: th, Status: NoData},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"metric":"http_req_duration","threshold":"p(95)<500","status":"passed","observed":12.5},
		{"metric":"checks","threshold":"p(95)<500","status":"no_data","observed":null}]`, string(out))
	var back []Verdict
	require.NoError(t, json.Unmarshal(out, &back))
	assert.Equal(t, NoData, back[1].Status)
}
