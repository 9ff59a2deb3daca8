package loadtest_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// largeResult is the Result of an hour-long run: 3 600 seconds of 40
// series, 100 endpoints, 60 metrics, a group tree with checks.
func largeResult() loadtest.Result {
	vus := int64(50)
	res := loadtest.Result{
		Name: "large", Start: time.Unix(0, 0), End: time.Unix(3600, 0), Status: loadtest.StatusPassed,
		Config: loadtest.PlanEcho{Scenarios: scenarios.Scenarios{"ramp": scenarios.RampingVUs{StartVUs: &vus,
			Stages: []scenarios.Stage{{Duration: time.Hour, Target: 50}}}}, Env: map[string]string{"A": "b"}},
		Metrics:   map[string]loadtest.MetricSummary{},
		Timeline:  loadtest.Timeline{Start: time.Unix(0, 0), Step: time.Second},
		SetupData: json.RawMessage(`{"token":"x"}`),
		Abort:     &loadtest.Abort{By: loadtest.AbortByCaller},
	}
	for i := range 60 {
		res.Metrics[fmt.Sprintf("m%d", i)] = loadtest.MetricSummary{Type: metrics.Trend,
			Values: map[string]float64{"avg": 1, "min": 0, "med": 1, "max": 2, "p(90)": 2, "p(95)": 2}}
	}
	for i := range 40 {
		vals := make(loadtest.Values, 3600)
		for j := range vals {
			vals[j] = float64(j)
		}
		vals[0] = math.NaN()
		res.Timeline.Series = append(res.Timeline.Series, loadtest.Series{Name: fmt.Sprintf("s%d", i),
			Tags: map[string]string{"name": "x"}, Values: vals})
	}
	for i := range 100 {
		res.Endpoints = append(res.Endpoints, loadtest.EndpointStats{Name: fmt.Sprintf("/e/%d", i), Requests: 1000,
			Duration: map[string]float64{"p(95)": 3}, Statuses: map[string]int64{"200": 1000}})
	}
	for i := range 20 {
		res.RootGroup.Groups = append(res.RootGroup.Groups, loadtest.Group{Name: fmt.Sprint(i),
			Checks: []loadtest.Check{{Name: "ok", Passes: 3}}})
	}
	return res
}

// A Clone shares nothing with its Result: changing every kind of part of
// it leaves the Result as it was.
func TestResultClone(t *testing.T) {
	t.Parallel()
	res := largeResult()
	before, err := json.Marshal(res)
	require.NoError(t, err)
	c := res.Clone()
	c.Metrics["m0"].Values["avg"] = 99
	c.Metrics["new"] = loadtest.MetricSummary{}
	c.Timeline.Series[0].Values[1] = 99
	c.Timeline.Series[0].Tags["name"] = "changed"
	c.Endpoints[0].Statuses["500"] = 1
	c.RootGroup.Groups[0].Checks[0].Passes = 99
	c.Config.Scenarios["ramp"].(scenarios.RampingVUs).Stages[0].Target = 99
	*c.Config.Scenarios["ramp"].(scenarios.RampingVUs).StartVUs = 99
	c.Config.Env["A"] = "changed"
	c.SetupData[2] = 'X'
	c.Abort.Reason = "changed"
	after, err := json.Marshal(res)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after))
}

// BenchmarkResultClone is what each output's copy costs at the end of a
// run; json.Marshal of the same Result, which every run's report, store
// and API answer pays, is its peer.
func BenchmarkResultClone(b *testing.B) {
	res := largeResult()
	b.Run("Clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = res.Clone()
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(res)
		}
	})
}
