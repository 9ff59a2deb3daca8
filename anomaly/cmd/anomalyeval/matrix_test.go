package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/target"
)

// The committed matrix expands into runs that keep the promises of the
// command's doc: onsets over 5–95 % of the run with room to see the fault,
// runs of 10–120 s, a faulted endpoint among the run's, the same runs
// every time.
func TestMatrixExpands(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../../testdata/faults/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		mf, scs, err := readMatrix(p)
		require.NoError(t, err, p)
		jobs := expand(mf, scs)
		again := expand(mf, scs)
		require.Equal(t, jobs, again, "deterministic")
		labels := map[string]int{}
		for _, j := range jobs {
			for _, r := range j.specs {
				assert.GreaterOrEqual(t, r.Duration, 10*time.Second, r.ID)
				assert.LessOrEqual(t, r.Duration, maxRun, r.ID)
				assert.NotEmpty(t, r.Paths, r.ID)
				if r.FaultPath != "" {
					assert.Contains(t, r.Paths, r.FaultPath, r.ID)
				}
				if r.Label == "" {
					assert.Empty(t, r.Target.Faults, r.ID)
					continue
				}
				labels[r.Label]++
				require.Len(t, r.Target.Faults, 1, r.ID)
				f := r.Target.Faults[0]
				require.NoError(t, target.Config{Faults: r.Target.Faults}.Validate(), r.ID)
				if r.Label == evaluation.LabelKnee {
					assert.Positive(t, r.KneeVUs, r.ID)
					assert.Less(t, r.KneeVUs, float64(r.VUs), r.ID)
					continue
				}
				before, after := visible(f.Kind, f.WithDefaults())
				assert.GreaterOrEqual(t, f.At, before-100*time.Millisecond, "%s: room before the onset", r.ID)
				assert.GreaterOrEqual(t, r.Duration-f.At, after-100*time.Millisecond, "%s: room after it", r.ID)
				frac := float64(f.At) / float64(r.Duration)
				assert.True(t, frac >= 0.04 && frac <= 0.96, "%s: onset at %.2f of the run", r.ID, frac)
			}
		}
		if filepath.Base(p) == "matrix.json" {
			for _, k := range evaluation.LabelKinds {
				assert.GreaterOrEqual(t, labels[k], 10, "runs of %s", k)
			}
		}
	}
}

func TestMatrixReportsEveryProblem(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"seed": 1, "scenarios": [
		{"name": "a", "runs": 0, "fault": {"kind": "spike", "factor": {"min": 3}}},
		{"name": "a", "runs": 2, "fault": {"kind": "exception"}, "load": ["constant-vus", "soak"], "duration": "soon"},
		{"name": "b", "runs": 1, "history": 3, "fault": {"kind": "step", "size": 3}, "vus": {"min": 5, "max": 2}}
	]}`), 0o644))
	_, _, err := readMatrix(path)
	require.Error(t, err)
	for _, want := range []string{
		"scenarios[0].runs: must be in [1, 1000], got 0",
		`scenarios[0].fault.kind: unknown fault "spike"`,
		"scenarios[0].fault.factor: a range needs min and max",
		`scenarios[1].name: "a" is used twice`,
		`scenarios[1].load: unknown shape "soak"`,
		`scenarios[1].duration: want a duration ("10s")`,
		"scenarios[1].script: an exception fault needs a script",
		"scenarios[2].fault.size: unknown field",
		"scenarios[2].vus: min 5 is above max 2",
		"scenarios[2].history: only null scenarios",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
