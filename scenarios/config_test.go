package scenarios

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scenariosJS is k6's ground-truth scripts/scenarios.js options.scenarios.
const scenariosJS = `{
	"car": {"executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s", "duration": "3s",
		"preAllocatedVUs": 1, "maxVUs": 2, "exec": "slow", "tags": {"kind": "car"}},
	"si": {"executor": "shared-iterations", "vus": 2, "iterations": 6, "startTime": "1s", "exec": "info", "env": {"FOO": "bar"}}
}`

func TestScenariosUnmarshal(t *testing.T) {
	t.Parallel()
	var s Scenarios
	require.NoError(t, json.Unmarshal([]byte(scenariosJS), &s))
	assert.Equal(t, Scenarios{
		"car": ConstantArrivalRate{
			Common: Common{Exec: "slow", Tags: map[string]string{"kind": "car"}},
			Rate:   20, TimeUnit: time.Second, Duration: 3 * time.Second, PreAllocatedVUs: 1, MaxVUs: 2,
		},
		"si": SharedIterations{
			Common: Common{StartTime: time.Second, Exec: "info", Env: map[string]string{"FOO": "bar"}},
			VUs:    2, Iterations: 6,
		},
	}, s)
	require.NoError(t, s.Validate())
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"car": {"executor":"constant-arrival-rate","rate":20,"timeUnit":"1s","duration":"3s","preAllocatedVUs":1,"maxVUs":2,"exec":"slow","tags":{"kind":"car"}},
		"si": {"executor":"shared-iterations","vus":2,"iterations":6,"startTime":"1s","exec":"info","env":{"FOO":"bar"}}
	}`, string(b))
	var again Scenarios
	require.NoError(t, json.Unmarshal(b, &again))
	assert.Equal(t, s, again)
	assert.Equal(t, []string{"car", "si"}, s.Sorted())
	planned, maxVUs := s.PeakVUs(nil)
	assert.Equal(t, int64(3), planned, "car's preallocated VU + si's two")
	assert.Equal(t, int64(4), maxVUs, "k6 reported vus_max=4")
	end, ok := s.End()
	assert.True(t, ok)
	assert.Equal(t, time.Second+DefaultMaxDuration+DefaultGracefulStop, end)
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Config
		errs []string // each must appear in the error; nil = no error
	}{
		{
			name: "durations as strings and milliseconds",
			in:   `{"executor":"constant-vus","vus":3,"duration":1500,"gracefulStop":"0s","startTime":"1m30s"}`,
			want: ConstantVUs{VUs: 3, Duration: 1500 * time.Millisecond, Common: Common{GracefulStop: new(time.Duration(0)), StartTime: 90 * time.Second}},
		},
		{
			name: "ramping-vus with stages",
			in:   `{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"20s","target":10},{"duration":"10s","target":0}],"gracefulRampDown":"0s"}`,
			want: RampingVUs{StartVUs: new(int64(0)), Stages: []Stage{{20 * time.Second, 10}, {10 * time.Second, 0}}, GracefulRampDown: new(time.Duration(0))},
		},
		{
			name: "ramping-arrival-rate",
			in:   `{"executor":"ramping-arrival-rate","startRate":300,"timeUnit":"1m","preAllocatedVUs":50,"maxVUs":100,"stages":[{"target":600,"duration":"2m"}]}`,
			want: RampingArrivalRate{StartRate: 300, TimeUnit: time.Minute, PreAllocatedVUs: 50, MaxVUs: 100, Stages: []Stage{{2 * time.Minute, 600}}},
		},
		{
			name: "per-vu-iterations defaults",
			in:   `{"executor":"per-vu-iterations"}`,
			want: PerVUIterations{},
		},
		{
			name: "externally-controlled with no end",
			in:   `{"executor":"externally-controlled","vus":2,"maxVUs":10,"duration":"0s","options":{"browser":{"type":"chromium"}}}`,
			want: ExternallyControlled{VUs: 2, MaxVUs: 10, Common: Common{Options: map[string]any{"browser": map[string]any{"type": "chromium"}}}},
		},
		{name: "missing executor", in: `{"vus":1}`, errs: []string{"executor: required"}},
		{name: "unknown executor", in: `{"executor":"constant-looping-vus"}`, errs: []string{`executor: unknown executor "constant-looping-vus"`}},
		{name: "unknown field", in: `{"executor":"constant-vus","duration":"1s","vu":2}`, errs: []string{"vu: unknown field"}},
		{name: "wrong type", in: `{"executor":"constant-vus","vus":"2"}`, errs: []string{"vus: must be a JSON number, got string"}},
		{
			name: "every bad duration at once",
			in:   `{"executor":"constant-vus","duration":"forever","gracefulStop":"1x","startTime":true}`,
			errs: []string{`duration: invalid duration "forever"`, `gracefulStop: invalid duration "1x"`, "startTime: invalid duration true"},
		},
		{
			name: "stage errors carry their index",
			in:   `{"executor":"ramping-vus","stages":[{"duration":"1s","target":1},{"duration":"1s"},{"target":2,"bogus":1}]}`,
			errs: []string{"stages[1].target: required", "stages[2].bogus: unknown field"},
		},
		{name: "trailing data", in: `{"executor":"constant-vus"} {}`, errs: []string{"after top-level value"}},
		{name: "not an object", in: `[1]`, errs: []string{"must be a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeConfig([]byte(tt.in))
			if tt.errs != nil {
				require.Error(t, err)
				for _, e := range tt.errs {
					assert.ErrorContains(t, err, e)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string // one scenario called "s"
		want []string
	}{
		{name: "valid", in: `{"executor":"constant-vus","duration":"1s"}`},
		{
			name: "k6 explicit zeros",
			in:   `{"executor":"shared-iterations","vus":0,"iterations":0,"maxDuration":0}`,
			want: []string{"scenarios.s.vus: must be > 0, got 0", "scenarios.s.iterations: must be > 0, got 0", "scenarios.s.maxDuration: must be >= 1s, got 0s"},
		},
		{
			name: "iterations below vus",
			in:   `{"executor":"shared-iterations","vus":5,"iterations":3,"maxDuration":"500ms","startTime":"-1s"}`,
			want: []string{"scenarios.s.startTime: must be >= 0, got -1s", "scenarios.s.iterations: must be >= vus (5), got 3", "scenarios.s.maxDuration: must be >= 1s, got 500ms"},
		},
		{
			name: "constant-vus needs a duration",
			in:   `{"executor":"constant-vus","vus":-2,"gracefulStop":"-1s"}`,
			want: []string{"scenarios.s.gracefulStop: must be >= 0, got -1s", "scenarios.s.vus: must be > 0, got -2", "scenarios.s.duration: required, at least 1s"},
		},
		{
			name: "stage problems by path",
			in:   `{"executor":"ramping-vus","startVUs":-1,"stages":[{"duration":"1s","target":1},{"duration":"-1s","target":-2},{"duration":"1s","target":100000001}]}`,
			want: []string{
				"scenarios.s.startVUs: must be >= 0, got -1", "scenarios.s.stages[1].duration: must be >= 0, got -1s",
				"scenarios.s.stages[1].target: must be >= 0, got -2", "scenarios.s.stages[2].target: must be <= 100000000 VUs, got 100000001",
			},
		},
		{name: "no stages", in: `{"executor":"ramping-vus"}`, want: []string{"scenarios.s.stages: at least one stage is required"}},
		{name: "all targets zero", in: `{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"1s","target":0}]}`, want: []string{"scenarios.s.stages: startVUs or a stage target must be > 0"}},
		{
			name: "arrival rate needs rate, duration and preAllocatedVUs",
			in:   `{"executor":"constant-arrival-rate","timeUnit":0,"maxVUs":0}`,
			want: []string{"scenarios.s.timeUnit: must be > 0, got 0s", "scenarios.s.preAllocatedVUs: required", "scenarios.s.rate: required, > 0", "scenarios.s.duration: required, at least 1s", "scenarios.s.maxVUs: must be > 0 when preAllocatedVUs is 0"},
		},
		{
			name: "maxVUs below preAllocatedVUs",
			in:   `{"executor":"ramping-arrival-rate","preAllocatedVUs":5,"maxVUs":0,"stages":[{"duration":"1s","target":1}],"startRate":-1}`,
			want: []string{"scenarios.s.maxVUs: must be >= preAllocatedVUs (5), got 0", "scenarios.s.startRate: must be >= 0, got -1"},
		},
		{
			name: "externally-controlled rules",
			in:   `{"executor":"externally-controlled","vus":3,"maxVUs":2,"gracefulStop":"1s","duration":"500ms"}`,
			want: []string{"scenarios.s.gracefulStop: not supported by externally-controlled", "scenarios.s.maxVUs: must be >= vus (3), got 2", "scenarios.s.duration: must be 0 (no end) or >= 1s, got 500ms"},
		},
		{name: "externally-controlled needs duration", in: `{"executor":"externally-controlled","vus":1}`, want: []string{"scenarios.s.duration: required (0 for no end)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Scenarios
			require.NoError(t, json.Unmarshal([]byte(`{"s":`+tt.in+`}`), &s))
			err := s.Validate()
			var got []string
			for _, fe := range FieldErrors(err) {
				got = append(got, fe.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestScenariosValidateAll(t *testing.T) {
	t.Parallel()
	s := Scenarios{
		"ok":       ConstantVUs{Duration: time.Second},
		"bad name": ConstantVUs{Duration: time.Second},
		"b":        SharedIterations{VUs: 2, Iterations: 1},
		"a":        RampingVUs{},
		"nil":      nil,
	}
	err := s.Validate()
	assert.Equal(t, []*FieldError{
		{Path: "scenarios.a.stages", Msg: "at least one stage is required"},
		{Path: "scenarios.b.iterations", Msg: "must be >= vus (2), got 1"},
		{Path: "scenarios.bad name", Msg: "name must match ^[0-9a-zA-Z_-]+$"},
		{Path: "scenarios.nil", Msg: "no config"},
	}, FieldErrors(err))
}

func TestScenariosUnmarshalReportsEveryScenario(t *testing.T) {
	t.Parallel()
	var s Scenarios
	err := json.Unmarshal([]byte(`{"a":{"executor":"nope"},"b":{"executor":"constant-vus","x":1},"c":{"executor":"constant-vus","duration":"1s"}}`), &s)
	var msgs []string
	for _, fe := range FieldErrors(err) {
		msgs = append(msgs, fe.Error())
	}
	require.Len(t, msgs, 2)
	assert.True(t, strings.HasPrefix(msgs[0], `scenarios.a.executor: unknown executor "nope"`), msgs[0])
	assert.Equal(t, "scenarios.b.x: unknown field", msgs[1])
	assert.Nil(t, s, "left unchanged on error")
}

func TestSortedAndPeakVUs(t *testing.T) {
	t.Parallel()
	zero := new(time.Duration(0))
	s := Scenarios{
		"b":     ConstantVUs{VUs: 5, Duration: 10 * time.Second, Common: Common{GracefulStop: zero}},
		"a":     ConstantVUs{VUs: 3, Duration: 10 * time.Second, Common: Common{GracefulStop: zero, StartTime: 10 * time.Second}},
		"later": PerVUIterations{VUs: 2, Common: Common{StartTime: 15 * time.Second}},
		"c":     RampingArrivalRate{PreAllocatedVUs: 1, MaxVUs: 10, Stages: []Stage{{time.Second, 1}}, Common: Common{StartTime: 10 * time.Second}},
	}
	assert.Equal(t, []string{"b", "a", "c", "later"}, s.Sorted())
	planned, maxVUs := s.PeakVUs(nil)
	assert.Equal(t, int64(6), planned, "b ends as a starts: VUs are reused; a + c + later overlap")
	assert.Equal(t, int64(15), maxVUs)
	half := mustTuple(t, "0:1/2", "")
	planned, maxVUs = s.PeakVUs(half)
	assert.Equal(t, int64(4), planned, "⌈3/2⌉ + ⌈1/2⌉ + ⌈2/2⌉")
	assert.Equal(t, int64(8), maxVUs, "plus c's ⌈10/2⌉ - 1 unplanned")
	_, ok := Scenarios{"x": ExternallyControlled{VUs: 1}}.End()
	assert.False(t, ok)
}

func TestDescriptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		et   *ExecutionTuple
		want string
	}{
		// The first two are the ground-truth k6 runs.
		{cfg: ConstantVUs{VUs: 2, Duration: 5 * time.Second}, want: "2 looping VUs for 5s (gracefulStop: 30s)"},
		{cfg: PerVUIterations{}, want: "1 iterations for each of 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)"},
		{cfg: SharedIterations{VUs: 2, Iterations: 5, MaxDuration: 3 * time.Second}, want: "5 iterations shared among 2 VUs (maxDuration: 3s, gracefulStop: 30s)"},
		{cfg: SharedIterations{VUs: 3, Iterations: 3}, want: "3 iterations shared among 3 VUs (maxDuration: 10m0s, gracefulStop: 30s)"},
		{
			cfg:  PerVUIterations{MaxDuration: 5 * time.Minute, Common: Common{Exec: "negativeScenarios", StartTime: 5 * time.Second}},
			want: "1 iterations for each of 1 VUs (maxDuration: 5m0s, exec: negativeScenarios, startTime: 5s, gracefulStop: 30s)",
		},
		{
			cfg:  ConstantVUs{VUs: 10, Duration: time.Minute, Common: Common{Exec: "someFunc", StartTime: 70 * time.Second, GracefulStop: new(10 * time.Second)}},
			want: "10 looping VUs for 1m0s (exec: someFunc, startTime: 1m10s, gracefulStop: 10s)",
		},
		{cfg: ConstantVUs{VUs: 2, Duration: 5 * time.Second, Common: Common{GracefulStop: new(time.Duration(0))}}, want: "2 looping VUs for 5s"},
		{
			cfg:  RampingVUs{StartVUs: new(int64(0)), Stages: []Stage{{time.Minute, 20}, {30 * time.Second, 0}}},
			want: "Up to 20 looping VUs for 1m30s over 2 stages (gracefulRampDown: 30s, gracefulStop: 30s)",
		},
		{cfg: ConstantArrivalRate{Rate: 100, Duration: 30 * time.Second, PreAllocatedVUs: 100, MaxVUs: 200}, want: "100.00 iterations/s for 30s (maxVUs: 100-200, gracefulStop: 30s)"},
		{cfg: ConstantArrivalRate{Rate: 50000, Duration: 30 * time.Second, PreAllocatedVUs: 100}, want: "50000.00 iterations/s for 30s (maxVUs: 100, gracefulStop: 30s)"},
		{
			cfg:  ConstantArrivalRate{Rate: 4, TimeUnit: time.Minute, Duration: 30 * time.Second, PreAllocatedVUs: 1, Common: Common{Exec: "steadyFreeTenant"}},
			want: "0.07 iterations/s for 30s (maxVUs: 1, exec: steadyFreeTenant, gracefulStop: 30s)",
		},
		{
			cfg:  RampingArrivalRate{PreAllocatedVUs: 10, MaxVUs: 100, Stages: []Stage{{30 * time.Second, 50}, {time.Minute, 50}, {0, 0}}},
			want: "Up to 50.00 iterations/s for 1m30s over 3 stages (maxVUs: 10-100, gracefulStop: 30s)",
		},
		{cfg: ExternallyControlled{VUs: 10, MaxVUs: 50, Duration: 10 * time.Minute}, want: "Externally controlled execution with 10 VUs, 50 max VUs, 10m0s duration"},
		// This instance's share of a third.
		{cfg: ConstantVUs{VUs: 10, Duration: 5 * time.Second}, et: mustTuple(t, "0:1/3", "0,1/3,2/3,1"), want: "4 looping VUs for 5s (gracefulStop: 30s)"},
		{cfg: ConstantArrivalRate{Rate: 30, Duration: time.Second, PreAllocatedVUs: 3, MaxVUs: 6}, et: mustTuple(t, "2/3:1", ""), want: "10.00 iterations/s for 1s (maxVUs: 1-2, gracefulStop: 30s)"},
		{cfg: SharedIterations{VUs: 3, Iterations: 10}, et: mustTuple(t, "0:1/3", "0,1/3,2/3,1"), want: "4 iterations shared among 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)"},
		{cfg: SharedIterations{VUs: 3, Iterations: 10}, et: mustTuple(t, "0:1/3", ""), want: "3 iterations shared among 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, tt.cfg.Validate())
			assert.Equal(t, tt.want, tt.cfg.Description(tt.et))
		})
	}
}

func TestEnd(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 35*time.Second, ConstantVUs{Duration: 5 * time.Second}.End())
	assert.Equal(t, 11*time.Minute+30*time.Second, SharedIterations{Common: Common{StartTime: time.Minute}}.End())
	assert.Equal(t, 3*time.Second, RampingArrivalRate{Stages: []Stage{{2 * time.Second, 1}, {time.Second, 1}}, Common: Common{GracefulStop: new(time.Duration(0))}}.End())
	assert.Equal(t, time.Duration(0), ExternallyControlled{VUs: 1}.End())
}

// fuzzConfigJSON checks that decoding never panics and that a decoded
// config survives a JSON round trip: marshalling is stable, and a valid
// config decodes back to itself.
func fuzzConfigJSON[T any, PT interface {
	*T
	Config
	json.Unmarshaler
}](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var c T
		if err := PT(&c).UnmarshalJSON([]byte(in)); err != nil {
			return
		}
		valid := PT(&c).Validate() == nil
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var again T
		require.NoError(t, PT(&again).UnmarshalJSON(b), "%s", b)
		b2, err := json.Marshal(again)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(b2))
		if valid {
			require.Equal(t, c, again, "%s", b)
		}
	})
}

func FuzzSharedIterationsJSON(f *testing.F) {
	fuzzConfigJSON[SharedIterations](f,
		`{"executor":"shared-iterations","vus":2,"iterations":6,"startTime":"1s","exec":"info","env":{"FOO":"bar"}}`,
		`{"vus":0,"iterations":0,"maxDuration":0}`, `{"maxDuration":"500ms","gracefulStop":"0s"}`, `{"executor":"constant-vus"}`, `{}`)
}

func FuzzPerVUIterationsJSON(f *testing.F) {
	fuzzConfigJSON[PerVUIterations](f, `{"executor":"per-vu-iterations"}`, `{"vus":3,"iterations":2,"maxDuration":60000,"tags":{"a":"b"}}`, `{"vus":-1}`)
}

func FuzzConstantVUsJSON(f *testing.F) {
	fuzzConfigJSON[ConstantVUs](f, `{"executor":"constant-vus","vus":3,"duration":1500,"gracefulStop":"0s","startTime":"1m30s"}`,
		`{"duration":"forever"}`, `{"vus":"2"}`, `{"duration":"1s","options":{"browser":{"type":"chromium"}}}`)
}

func FuzzRampingVUsJSON(f *testing.F) {
	fuzzConfigJSON[RampingVUs](f,
		`{"executor":"ramping-vus","startVUs":0,"stages":[{"duration":"20s","target":10},{"duration":"10s","target":0}],"gracefulRampDown":"0s"}`,
		`{"stages":[{"duration":"1s"},{"target":2,"bogus":1}]}`, `{"stages":[]}`)
}

func FuzzConstantArrivalRateJSON(f *testing.F) {
	fuzzConfigJSON[ConstantArrivalRate](f, `{"executor":"constant-arrival-rate","rate":20,"timeUnit":"1s","duration":"3s","preAllocatedVUs":1,"maxVUs":2,"exec":"slow","tags":{"kind":"car"}}`,
		`{"timeUnit":0,"maxVUs":0}`, `{"rate":1,"duration":"1s","preAllocatedVUs":5,"maxVUs":0}`)
}

func FuzzRampingArrivalRateJSON(f *testing.F) {
	fuzzConfigJSON[RampingArrivalRate](f, `{"executor":"ramping-arrival-rate","startRate":300,"timeUnit":"1m","preAllocatedVUs":50,"maxVUs":100,"stages":[{"target":600,"duration":"2m"}]}`,
		`{"preAllocatedVUs":5,"maxVUs":0,"stages":[{"duration":"1s","target":1}],"startRate":-1}`)
}

func FuzzExternallyControlledJSON(f *testing.F) {
	fuzzConfigJSON[ExternallyControlled](f, `{"executor":"externally-controlled","vus":2,"maxVUs":10,"duration":"0s"}`,
		`{"vus":3,"maxVUs":2,"gracefulStop":"1s","duration":"500ms"}`, `{"vus":1}`)
}

// FuzzScenariosJSON decodes whole scenario maps: no panics, and validation
// of what decodes never panics either.
func FuzzScenariosJSON(f *testing.F) {
	f.Add(scenariosJS)
	f.Add(`{"a":{"executor":"nope"},"b":{"executor":"constant-vus","x":1}}`)
	f.Add(`{"bad name":{"executor":"per-vu-iterations"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Scenarios
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		_ = s.Validate()
		_ = s.Sorted()
	})
}

func TestVUCeiling(t *testing.T) {
	t.Parallel()
	s := Scenarios{
		"ramp": RampingVUs{StartVUs: ptr(int64(3)), Stages: []Stage{{time.Second, 40}, {time.Second, 0}}},
		"car":  ConstantArrivalRate{Rate: 10, TimeUnit: time.Second, Duration: time.Second, PreAllocatedVUs: 5, MaxVUs: 20},
		"si":   SharedIterations{VUs: 2, Iterations: 10},
		"huge": RampingVUs{Stages: []Stage{{time.Second, 100_000_000}}, Common: Common{StartTime: time.Hour}},
	}
	total, highest := s.VUCeiling()
	assert.Equal(t, int64(100_000_000), highest)
	assert.Equal(t, int64(100_000_062), total)
	delete(s, "huge")
	total, highest = s.VUCeiling()
	assert.Equal(t, int64(40), highest)
	assert.Equal(t, int64(62), total)
	_, peak := s.PeakVUs(nil)
	assert.LessOrEqual(t, peak, total)
}
