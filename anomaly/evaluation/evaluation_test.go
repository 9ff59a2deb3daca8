package evaluation_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/anomaly/synth"
)

// TestTargets runs the labelled suite and asserts the targets, for
// long and short runs apart: F1 ≥ 0.9 for every injected kind, at most
// 0.05 false alarms per null run, and every detected knee within 10 % of
// the true one. The full suite (20 seeds per kind and length, 360 runs)
// runs by default; -short runs 10 seeds with the same targets.
func TestTargets(t *testing.T) {
	t.Parallel()
	seeds := 20
	if testing.Short() {
		seeds = 10
	}
	sc := evaluation.Run(synth.Suite(seeds), anomaly.Options{})
	t.Log("\n" + sc.Table())
	require.Len(t, sc.Rows, 2*len(evaluation.Expect), "a row per kind, for long and short runs")
	for _, r := range sc.Rows {
		assert.GreaterOrEqual(t, r.F1, 0.9, "F1 of %s (short %v)", r.Kind, r.Short)
		assert.Positive(t, r.Labels, r.Kind)
	}
	assert.Positive(t, sc.NullRuns)
	assert.Positive(t, sc.ShortNullRuns)
	assert.LessOrEqual(t, sc.PerNullRun, 0.05, "false alarms per null run")
	assert.LessOrEqual(t, sc.ShortPerNullRun, 0.05, "false alarms per short null run")
	require.NotEmpty(t, sc.KneeErrors)
	require.NotEmpty(t, sc.ShortKneeErrors)
	assert.LessOrEqual(t, sc.KneeMax, 0.10, "worst knee error")
	assert.LessOrEqual(t, sc.ShortKneeMax, 0.10, "worst knee error of short runs")
}

func TestTolerance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  float64 // minutes
		want float64 // seconds
	}{
		{"30 s run: 5 s floor", 0.5, 5},
		{"1 minute: a sixth", 1, 10},
		{"3 minutes: 30 s", 3, 30},
		{"5 minutes: 30 s floor", 5, 30},
		{"10 minutes: still 30 s", 10, 30},
		{"40 minutes: 5 %", 40, 120},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, c.want, evaluation.Tolerance(minutes(c.run)).Seconds(), 1e-9)
		})
	}
}

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
