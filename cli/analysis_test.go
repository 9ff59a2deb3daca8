package cli

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
)

// --target-cpus goes into the plan's telemetry, where the analysis finds
// it: two CPUs 93 % busy for 30 s is a finding only when the count is
// known.
func TestAnalyseTargetCPUs(t *testing.T) {
	t.Parallel()
	const n = 60
	cpu := make([]float64, n)
	for i := range cpu {
		cpu[i] = 30
		if i >= 20 && i < 50 {
			cpu[i] = 186 // % of one CPU, of 200 % on two
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := loadtest.Result{Name: "t", Start: t0, End: t0.Add(n * time.Second), Duration: n * time.Second, Status: loadtest.StatusPassed,
		Timeline: loadtest.Timeline{Start: t0, Step: time.Second, Series: []loadtest.Series{{Name: loadtest.SeriesTargetCPU, Values: cpu}}}}
	a := &app{stdout: io.Discard, stderr: io.Discard}
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"unknown CPUs", nil, false},
		{"two CPUs", []string{"--target-cpus", "2"}, true},
		{"four CPUs: half of them", []string{"--target-cpus=4"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newRunFlags("run")
			require.NoError(t, f.fs.Parse(tc.args))
			plan := loadtest.Plan{Telemetry: &loadtest.Telemetry{Prometheus: "http://127.0.0.1:9100/metrics"}}
			require.NoError(t, f.applyTelemetry(&plan))
			res := res
			res.Config = plan.Echo()
			in := a.analyse(t.Context(), res, f)
			found := false
			for _, fd := range in.Analysis.Findings {
				found = found || fd.Kind == anomaly.KindTargetCPU
			}
			assert.Equal(t, tc.want, found, "%+v", in.Analysis.Findings)
		})
	}
}

func TestTargetCPUsNeedsATelemetrySource(t *testing.T) {
	t.Parallel()
	f := newRunFlags("run")
	require.NoError(t, f.fs.Parse([]string{"--target-cpus", "2"}))
	var plan loadtest.Plan
	err := f.applyTelemetry(&plan)
	require.ErrorIs(t, err, loadtest.ErrInvalidPlan)
	assert.Contains(t, err.Error(), "--target-cpus: the target's CPU is only known with a telemetry source")
	require.NoError(t, f.fs.Parse([]string{"--telemetry-pid", "42"}))
	require.NoError(t, f.applyTelemetry(&plan))
	assert.Equal(t, loadtest.Telemetry{PID: 42, CPUs: 2}, *plan.Telemetry)
}
