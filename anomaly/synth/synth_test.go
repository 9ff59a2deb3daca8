package synth_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/loadtest"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec   synth.Spec
		labels int
	}{
		{synth.Spec{Kind: synth.Null, Seed: 1}, 0},
		{synth.Spec{Kind: synth.NullStepped, Seed: 2}, 0},
		{synth.Spec{Kind: synth.LatencyStep, Seed: 3, Size: 0.2}, 1},
		{synth.Spec{Kind: synth.ErrorBurst, Seed: 4, Size: 0.05}, 1},
		{synth.Spec{Kind: synth.Knee, Seed: 5}, 1},
		{synth.Spec{Kind: synth.Leak, Seed: 6, Size: 0}, 0},
		{synth.Spec{Kind: synth.Leak, Seed: 7, Size: 2 << 20, NoPlan: true}, 1},
		{synth.Spec{Kind: synth.Null, Seed: 8, Short: true}, 0},
		{synth.Spec{Kind: synth.NullStepped, Seed: 9, Short: true}, 0},
		{synth.Spec{Kind: synth.LatencyStep, Seed: 10, Size: 0.5, Short: true}, 1},
		{synth.Spec{Kind: synth.Knee, Seed: 11, Short: true, NoPlan: true}, 1},
		{synth.Spec{Kind: synth.Leak, Seed: 12, Size: 256 << 20, Short: true}, 1},
	}
	for _, c := range cases {
		name := string(c.spec.Kind)
		if c.spec.Short {
			name += " short"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := synth.Generate(c.spec), synth.Generate(c.spec)
			ja, err := json.Marshal(a)
			require.NoError(t, err)
			jb, err := json.Marshal(b)
			require.NoError(t, err)
			assert.Equal(t, string(ja), string(jb), "same spec, same run")
			require.Len(t, a.Labels, c.labels)
			res := a.Result
			assert.Equal(t, c.spec.NoPlan, len(res.Config.Scenarios) == 0)
			n := res.Timeline.Len()
			assert.Equal(t, int(res.Duration/time.Second), n)
			if c.spec.Short {
				assert.GreaterOrEqual(t, res.Duration, 20*time.Second)
				assert.LessOrEqual(t, res.Duration, 66*time.Second)
			} else {
				assert.Greater(t, res.Duration, 5*time.Minute)
			}
			for _, l := range a.Labels {
				assert.Less(t, l.At, res.Duration)
				assert.Positive(t, l.At)
			}
			// Requests per second stay plausible and p95 ≥ p50 where both exist.
			p50 := res.Timeline.Find(loadtest.SeriesLatencyP50, nil).Values
			p95 := res.Timeline.Find(loadtest.SeriesLatencyP95, nil).Values
			for i := range n {
				if !math.IsNaN(p50[i]) {
					assert.GreaterOrEqual(t, p95[i], p50[i])
				}
			}
			other := synth.Generate(synth.Spec{Kind: c.spec.Kind, Seed: c.spec.Seed + 100, Size: c.spec.Size, Short: c.spec.Short})
			assert.NotEqual(t, res.Timeline.Series[2].Values, other.Result.Timeline.Series[2].Values, "another seed, another run")
		})
	}
}

func TestSuite(t *testing.T) {
	t.Parallel()
	specs := synth.Suite(4)
	assert.Len(t, specs, 2*4*len(synth.Kinds), "long and short runs of every kind")
	seen := map[uint64]bool{}
	short := 0
	for _, s := range specs {
		assert.False(t, seen[s.Seed], "seeds are distinct")
		seen[s.Seed] = true
		if s.Short {
			short++
		}
	}
	assert.Equal(t, 4*len(synth.Kinds), short)
}
