package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresets(t *testing.T) {
	t.Parallel()
	zero := new(int64(0))
	tests := []struct {
		name string
		got  Scenarios
		want Scenarios
		desc string
	}{
		{
			name: "spike default is the seed's shape", got: Spike(PresetParams{}),
			want: Scenarios{"spike": RampingVUs{StartVUs: zero, Stages: []Stage{{30 * time.Second, 10}, {time.Minute, 50}, {30 * time.Second, 10}, {time.Minute, 0}}}},
			desc: "Up to 50 looping VUs for 3m0s over 4 stages (gracefulRampDown: 30s, gracefulStop: 30s)",
		},
		{
			name: "stress default is the seed's shape", got: Stress(PresetParams{}),
			want: Scenarios{"stress": RampingVUs{StartVUs: zero, Stages: []Stage{{2 * time.Minute, 20}, {5 * time.Minute, 40}, {2 * time.Minute, 80}, {2 * time.Minute, 0}}}},
		},
		{
			name: "soak is a long constant load", got: Soak(PresetParams{}),
			want: Scenarios{"soak": ConstantVUs{VUs: 50, Duration: 4 * time.Hour}},
			desc: "50 looping VUs for 4h0m0s (gracefulStop: 30s)",
		},
		{
			name: "soak with a ramp", got: Soak(PresetParams{VUs: 10, Duration: time.Hour, RampUp: new(time.Minute)}),
			want: Scenarios{"soak": RampingVUs{StartVUs: zero, Stages: []Stage{{time.Minute, 10}, {time.Hour, 10}, {time.Minute, 0}}}},
		},
		{name: "smoke", got: Smoke(PresetParams{}), want: Scenarios{"smoke": ConstantVUs{VUs: 3, Duration: time.Minute}}},
		{
			name: "load", got: Load(PresetParams{VUs: 20}),
			want: Scenarios{"load": RampingVUs{StartVUs: zero, Stages: []Stage{{5 * time.Minute, 20}, {30 * time.Minute, 20}, {5 * time.Minute, 0}}}},
		},
		{
			name: "stress scaled", got: Stress(PresetParams{VUs: 2, RampUp: new(10 * time.Second), Duration: time.Minute}),
			want: Scenarios{"stress": RampingVUs{StartVUs: zero, Stages: []Stage{{10 * time.Second, 1}, {time.Minute, 1}, {10 * time.Second, 2}, {10 * time.Second, 0}}}},
		},
		{
			// An explicit zero ramp means no ramp, never the 5-minute default.
			name: "load without ramps", got: Load(PresetParams{VUs: 20, Duration: 2 * time.Second, RampUp: new(time.Duration(0))}),
			want: Scenarios{"load": RampingVUs{StartVUs: zero, Stages: []Stage{{0, 20}, {2 * time.Second, 20}, {0, 0}}}},
		},
		{
			// A duration without a ramp keeps the preset's shape: 10 s of
			// load does not take 10 min 10 s.
			name: "load: the default ramps scale with the duration", got: Load(PresetParams{Duration: 10 * time.Second}),
			want: Scenarios{"load": RampingVUs{StartVUs: zero, Stages: []Stage{{1667 * time.Millisecond, 100}, {10 * time.Second, 100}, {1667 * time.Millisecond, 0}}}},
		},
		{
			name: "stress: the default ramps scale with the duration", got: Stress(PresetParams{VUs: 8, Duration: 50 * time.Second}),
			want: Scenarios{"stress": RampingVUs{StartVUs: zero, Stages: []Stage{{20 * time.Second, 2}, {50 * time.Second, 4}, {20 * time.Second, 8}, {20 * time.Second, 0}}}},
		},
		{
			name: "spike: the default ramps scale with the duration", got: Spike(PresetParams{VUs: 10, Duration: 10 * time.Second}),
			want: Scenarios{"spike": RampingVUs{StartVUs: zero, Stages: []Stage{{5 * time.Second, 2}, {10 * time.Second, 10}, {5 * time.Second, 2}, {10 * time.Second, 0}}}},
		},
		{
			name: "soak with a zero ramp is constant", got: Soak(PresetParams{VUs: 5, Duration: time.Minute, RampUp: new(time.Duration(0))}),
			want: Scenarios{"soak": ConstantVUs{VUs: 5, Duration: time.Minute}},
		},
		{
			name: "breakpoint climbs until aborted", got: Breakpoint(PresetParams{}),
			want: Scenarios{"breakpoint": RampingArrivalRate{Stages: []Stage{{2 * time.Hour, 20000}}, PreAllocatedVUs: 100, MaxVUs: 1000}},
			desc: "Up to 20000.00 iterations/s for 2h0m0s over 1 stages (maxVUs: 100-1000, gracefulStop: 30s)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.got)
			require.NoError(t, tt.got.Validate())
			if tt.desc != "" {
				for _, c := range tt.got {
					assert.Equal(t, tt.desc, c.Description(nil))
				}
			}
		})
	}
}
