package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShortcutsResolve(t *testing.T) {
	t.Parallel()
	stages := []Stage{{2 * time.Second, 3}, {time.Second, 0}}
	some := Scenarios{"x": ConstantVUs{Duration: time.Second}}
	tests := []struct {
		name     string
		in       Shortcuts
		want     Config // the "default" scenario; nil with scenarios
		wantAll  Scenarios
		desc     string
		warnings int
		err      string
	}{
		{
			name: "nothing", in: Shortcuts{},
			want: PerVUIterations{}, desc: "1 iterations for each of 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)",
		},
		{
			name: "only vus (k6 v2.1+)", in: Shortcuts{VUs: new(int64(3))},
			want: SharedIterations{VUs: 3, Iterations: 3}, desc: "3 iterations shared among 3 VUs (maxDuration: 10m0s, gracefulStop: 30s)",
		},
		{
			name: "vus, iterations and duration", in: Shortcuts{VUs: new(int64(2)), Iterations: new(int64(5)), Duration: new(3 * time.Second)},
			want: SharedIterations{VUs: 2, Iterations: 5, MaxDuration: 3 * time.Second}, desc: "5 iterations shared among 2 VUs (maxDuration: 3s, gracefulStop: 30s)",
		},
		{name: "iterations alone", in: Shortcuts{Iterations: new(int64(10))}, want: SharedIterations{Iterations: 10}},
		{
			name: "vus and duration", in: Shortcuts{VUs: new(int64(2)), Duration: new(5 * time.Second)},
			want: ConstantVUs{VUs: 2, Duration: 5 * time.Second}, desc: "2 looping VUs for 5s (gracefulStop: 30s)",
		},
		{name: "duration alone", in: Shortcuts{Duration: new(time.Minute)}, want: ConstantVUs{Duration: time.Minute}},
		{
			name: "stages start at 1 VU", in: Shortcuts{Stages: stages},
			want: RampingVUs{Stages: stages}, desc: "Up to 3 looping VUs for 3s over 2 stages (gracefulRampDown: 30s, gracefulStop: 30s)",
		},
		{name: "stages with vus", in: Shortcuts{Stages: stages, VUs: new(int64(0))}, want: RampingVUs{Stages: stages, StartVUs: new(int64(0))}},
		{name: "scenarios as given", in: Shortcuts{Scenarios: some}, wantAll: some},
		{name: "vus overrides scenarios", in: Shortcuts{VUs: new(int64(2)), Scenarios: some}, want: SharedIterations{VUs: 2, Iterations: 2}, warnings: 1},
		{name: "empty stages warn", in: Shortcuts{Stages: []Stage{}}, want: PerVUIterations{}, warnings: 1},
		{name: "empty scenarios warn", in: Shortcuts{Scenarios: Scenarios{}, Stages: []Stage{}}, want: PerVUIterations{}, warnings: 2},
		{name: "empty stages go with duration", in: Shortcuts{Stages: []Stage{}, Duration: new(time.Second)}, want: ConstantVUs{Duration: time.Second}},
		{name: "iterations and stages", in: Shortcuts{Iterations: new(int64(1)), Stages: stages}, err: "iterations and stages"},
		{name: "iterations and scenarios", in: Shortcuts{Iterations: new(int64(1)), Scenarios: Scenarios{}}, err: "iterations and scenarios"},
		{name: "duration and stages", in: Shortcuts{Duration: new(time.Second), Stages: stages}, err: "duration and stages"},
		{name: "duration and scenarios", in: Shortcuts{Duration: new(time.Second), Scenarios: some}, err: "duration and scenarios"},
		{name: "stages and scenarios", in: Shortcuts{Stages: stages, Scenarios: some}, err: "stages and scenarios"},
		{name: "zero duration", in: Shortcuts{Duration: new(time.Duration(0))}, err: "duration must be > 0"},
		{name: "zero maxDuration", in: Shortcuts{Iterations: new(int64(1)), Duration: new(time.Duration(0))}, err: "must be > 0"},
		{name: "zero vus", in: Shortcuts{VUs: new(int64(0))}, err: "vus must be > 0"},
		{name: "zero iterations", in: Shortcuts{Iterations: new(int64(0))}, err: "iterations must be > 0"},
		{name: "zero vus with duration", in: Shortcuts{VUs: new(int64(0)), Duration: new(time.Second)}, err: "vus must be > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, warnings, err := tt.in.Resolve()
			if tt.err != "" {
				require.ErrorIs(t, err, ErrInvalidConfig)
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, warnings, tt.warnings)
			if tt.wantAll != nil {
				assert.Equal(t, tt.wantAll, got)
				return
			}
			assert.Equal(t, Scenarios{DefaultScenarioName: tt.want}, got)
			if tt.desc != "" {
				assert.Equal(t, tt.desc, got[DefaultScenarioName].Description(nil))
			}
		})
	}
}

func TestParseStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Stage
		err  bool
	}{
		{in: "2s:3", want: Stage{2 * time.Second, 3}},
		{in: "1m30s:0", want: Stage{90 * time.Second, 0}},
		{in: "1500:10", want: Stage{1500 * time.Millisecond, 10}},
		{in: "1d:1", want: Stage{24 * time.Hour, 1}},
		{in: "0s: 7", want: Stage{0, 7}},
		{in: "-1s:-2", want: Stage{-time.Second, -2}}, // ranges are Validate's job
		{in: "2s", err: true},
		{in: ":3", err: true},
		{in: "2s:", err: true},
		{in: "2s:3.5", err: true},
		{in: "x:3", err: true},
		{in: "2s:3:4", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStage(tt.in)
			if tt.err {
				require.Error(t, err)
				assert.ErrorContains(t, err, tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, "1m30s:0", Stage{90 * time.Second, 0}.String())
}

func FuzzParseStage(f *testing.F) {
	for _, s := range []string{"2s:3", "1m30s:0", "1500:10", "1d:1", "0s: 7", "-1s:-2", "2s", ":3", "2s:3.5", "1.5us:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStage(s)
		if err != nil {
			return
		}
		again, err := ParseStage(st.String())
		require.NoError(t, err, "%q → %q", s, st.String())
		require.Equal(t, st, again)
	})
}
