package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/internal/strictjson"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Test types of a TestSpec: the presets of package scenarios, or custom.
const (
	TestSmoke      = "smoke"
	TestLoad       = "load"
	TestStress     = "stress"
	TestSpike      = "spike"
	TestSoak       = "soak"
	TestBreakpoint = "breakpoint"
	TestCustom     = "custom"
)

// TestSpec is a test described as data: the body of the agent's
// POST /load-test/start and of a `loadlens run FILE.json` test file.
//
// A preset test type shapes the load from VirtualUsers, Duration and
// RampUpDurationSeconds (see the presets of package scenarios); "custom"
// takes its execution from Options (k6 shortcuts or scenarios) or a script.
// Options override the preset, as k6 options do. A field left out takes
// the preset's default; a field given means what it says: a ramp of 0 s is
// no ramp, and values no test can have (0 VUs, a duration of centuries)
// are errors, never defaults.
type TestSpec struct {
	TestType string `json:"test_type"`
	Name     string `json:"name,omitempty"`
	// Target is what VUs request when there is no script.
	Target *Target `json:"target,omitempty"`
	// Duration of the main phase; DurationMinutes is the older spelling.
	Duration        *duration.Duration `json:"duration,omitempty"`
	DurationMinutes *float64           `json:"duration_minutes,omitempty"`
	// VirtualUsers is the peak number of VUs, 1 … scenarios.MaxVUs.
	VirtualUsers *int64 `json:"virtual_users,omitempty"`
	// RampUpDurationSeconds is the length of each ramp; 0 means none.
	RampUpDurationSeconds *float64 `json:"ramp_up_duration_seconds,omitempty"`
	// Rate is a breakpoint test's final arrival rate, iterations per second.
	Rate       *int64             `json:"rate,omitempty"`
	Thresholds metrics.Thresholds `json:"thresholds,omitempty"`
	// Options are k6 options laid over the preset.
	Options json.RawMessage `json:"options,omitempty"`
	// Script is k6 JavaScript; running it needs package js.
	Script string `json:"script,omitempty"`
	// ScriptFile names the entry script among the files that come with the
	// spec (the agent's multipart upload), instead of Script: a relative
	// slash path such as "tests/checkout.js".
	ScriptFile string            `json:"script_file,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	// Telemetry names the target's own telemetry sources (Plan.Telemetry).
	Telemetry *Telemetry `json:"telemetry,omitempty"`
}

// DecodeTestSpec reads a test spec strictly and reports every problem at
// once: its syntax error, or every unknown field and value of the wrong
// type, or else every invalid value. Problems of the JSON itself and of
// its "options" are *strictjson.Problem errors that say their line and
// column in b.
func DecodeTestSpec(b []byte) (TestSpec, error) {
	var s TestSpec
	if err := strictjson.Decode(b, &s); err != nil {
		return TestSpec{}, Invalid(err)
	}
	if err := s.problems(); err != nil {
		// The options' problems are placed in s.Options: place them in b.
		members, _ := strictjson.Members(b)
		var options *strictjson.Member // the last one, the one decoded
		for i, m := range members {
			if strings.EqualFold(m.Name, "options") {
				options = &members[i]
			}
		}
		if options != nil {
			strictjson.Relocate(err, b, options.Offset)
		}
		return s, Invalid(err)
	}
	return s, nil
}

// Validate reports every problem of the spec at once, wrapped in
// ErrInvalidPlan.
func (s TestSpec) Validate() error { return Invalid(s.problems()) }

// problems are Validate's, joined.
func (s TestSpec) problems() error {
	var errs []error
	switch s.TestType {
	case TestSmoke, TestLoad, TestStress, TestSpike, TestSoak, TestBreakpoint, TestCustom, "":
	default:
		errs = append(errs, fmt.Errorf("test_type: unknown %q; want smoke, load, stress, spike, soak, breakpoint or custom", s.TestType))
	}
	if s.Duration != nil && s.DurationMinutes != nil {
		errs = append(errs, errors.New("duration, duration_minutes: give one, not both"))
	}
	if s.Duration != nil && (*s.Duration <= 0 || time.Duration(*s.Duration) > MaxSpecDuration) {
		errs = append(errs, fmt.Errorf("duration: must be > 0 and <= %s, got %s", MaxSpecDuration, time.Duration(*s.Duration)))
	}
	if s.DurationMinutes != nil && !inRange(*s.DurationMinutes, time.Minute, false) {
		errs = append(errs, fmt.Errorf("duration_minutes: must be > 0 and <= %g, got %g", MaxSpecDuration.Minutes(), *s.DurationMinutes))
	}
	if s.VirtualUsers != nil && (*s.VirtualUsers < 1 || *s.VirtualUsers > scenarios.MaxVUs) {
		errs = append(errs, fmt.Errorf("virtual_users: must be 1 … %d, got %d (leave it out for the preset's default)", scenarios.MaxVUs, *s.VirtualUsers))
	}
	if s.RampUpDurationSeconds != nil && !inRange(*s.RampUpDurationSeconds, time.Second, true) {
		errs = append(errs, fmt.Errorf("ramp_up_duration_seconds: must be >= 0 and <= %g, got %g", MaxSpecDuration.Seconds(), *s.RampUpDurationSeconds))
	}
	if s.Rate != nil && (*s.Rate < 1 || *s.Rate > maxSpecRate) {
		errs = append(errs, fmt.Errorf("rate: must be 1 … %d iterations/s, got %d (leave it out for the preset's default)", maxSpecRate, *s.Rate))
	}
	switch {
	case s.Script != "" && s.ScriptFile != "":
		errs = append(errs, errors.New("script, script_file: give one, not both"))
	case s.ScriptFile != "":
		if !fs.ValidPath(s.ScriptFile) || s.ScriptFile == "." {
			errs = append(errs, fmt.Errorf("script_file: want a relative slash path inside the uploaded files, got %q", s.ScriptFile))
		}
	case s.Script == "" && s.Target == nil:
		errs = append(errs, errors.New("target: required when there is no script"))
	}
	if s.Target != nil {
		if err := s.Target.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Telemetry != nil {
		if err := s.Telemetry.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	opts, err := s.k6Options()
	if err != nil {
		errs = append(errs, err)
	}
	if s.preset() == nil && !s.HasScript() && !opts.HasExecution() && s.VirtualUsers == nil && s.duration() == 0 {
		errs = append(errs, errors.New("options: a custom test needs vus, duration, iterations, stages or scenarios"))
	}
	return errors.Join(errs...)
}

// MaxSpecDuration bounds a spec's duration and ramps: a year, far beyond
// any test, and far below where time.Duration overflows.
const MaxSpecDuration = 365 * 24 * time.Hour

// maxSpecRate bounds a breakpoint test's rate, iterations per second.
const maxSpecRate = 1_000_000_000

// inRange reports whether v units is a finite duration within
// MaxSpecDuration: > 0, or >= 0 when zero is allowed.
func inRange(v float64, unit time.Duration, zero bool) bool {
	if math.IsNaN(v) || v < 0 || (v == 0 && !zero) {
		return false
	}
	return v <= float64(MaxSpecDuration)/float64(unit)
}

// HasScript reports whether the spec runs a k6 script (inline or a file).
func (s TestSpec) HasScript() bool { return s.Script != "" || s.ScriptFile != "" }

func (s TestSpec) duration() time.Duration {
	switch {
	case s.Duration != nil:
		return time.Duration(*s.Duration)
	case s.DurationMinutes != nil:
		return time.Duration(*s.DurationMinutes * float64(time.Minute))
	}
	return 0
}

func (s TestSpec) presetParams() scenarios.PresetParams {
	p := scenarios.PresetParams{Duration: s.duration()}
	if s.VirtualUsers != nil {
		p.VUs = *s.VirtualUsers
	}
	if s.Rate != nil {
		p.Rate = *s.Rate
	}
	if s.RampUpDurationSeconds != nil {
		p.RampUp = new(time.Duration(*s.RampUpDurationSeconds * float64(time.Second)))
	}
	return p
}

// preset returns the preset for the test type, or nil for custom tests.
func (s TestSpec) preset() func(scenarios.PresetParams) scenarios.Scenarios {
	return map[string]func(scenarios.PresetParams) scenarios.Scenarios{
		TestSmoke: scenarios.Smoke, TestLoad: scenarios.Load, TestStress: scenarios.Stress,
		TestSpike: scenarios.Spike, TestSoak: scenarios.Soak, TestBreakpoint: scenarios.Breakpoint,
	}[s.TestType]
}

func (s TestSpec) k6Options() (K6Options, error) {
	if len(s.Options) == 0 {
		return K6Options{}, nil
	}
	return DecodeK6Options(s.Options)
}

// Layers returns the spec's execution as k6 option layers: what the preset
// (or, for custom tests, virtual_users and duration) gives, and the spec's
// own options and thresholds on top. A script's options go between the
// two: base.Override(script).Override(top).
func (s TestSpec) Layers() (base, top K6Options, err error) {
	if preset := s.preset(); preset != nil {
		base.Scenarios = preset(s.presetParams())
	} else {
		if s.VirtualUsers != nil {
			base.VUs = new(*s.VirtualUsers)
		}
		if d := s.duration(); d > 0 {
			base.Duration = &d
		}
	}
	top, err = s.k6Options()
	if err != nil {
		return K6Options{}, K6Options{}, err
	}
	if s.Thresholds != nil {
		top = top.Override(K6Options{Thresholds: s.Thresholds})
	}
	return base, top, nil
}

// Plan builds the plan of a spec without a script. Specs with a script need
// package js, which reads the script's options between the spec's layers.
func (s TestSpec) Plan() (Plan, []string, error) {
	if err := s.Validate(); err != nil {
		return Plan{}, nil, err
	}
	if s.HasScript() {
		return Plan{}, nil, fmt.Errorf("%w: script: running a script needs the k6 script runtime (package js)", ErrInvalidPlan)
	}
	base, top, err := s.Layers()
	if err != nil {
		return Plan{}, nil, Invalid(err)
	}
	testType := s.TestType
	if testType == "" {
		testType = TestCustom
	}
	p := Plan{Name: s.Name, TestType: testType, Target: s.Target, Env: s.Env, Telemetry: s.Telemetry}
	if p.Name == "" && s.Target != nil {
		p.Name = s.Target.Name
	}
	warnings, err := base.Override(top).Apply(&p)
	if err != nil {
		return Plan{}, nil, err
	}
	return p, warnings, p.Validate()
}
