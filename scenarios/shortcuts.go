package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
)

// DefaultScenarioName is the name of the scenario the shortcut options
// create.
const DefaultScenarioName = "default"

// Shortcuts are k6's top-level execution options (--vus, --duration,
// --iterations, --stage and options.scenarios). A nil field was not given;
// an empty, non-nil Stages or Scenarios was given empty, which only earns a
// warning.
type Shortcuts struct {
	VUs        *int64
	Duration   *time.Duration
	Iterations *int64
	Stages     []Stage
	Scenarios  Scenarios
}

// Resolve turns the shortcuts into the scenarios to run, with k6's rules
// checked in k6's order:
//
//   - iterations (± vus, ± duration): "default" shared-iterations with vus
//     (default 1), iterations and maxDuration = duration (default 10m);
//     an error with stages or scenarios.
//   - duration: "default" constant-vus with vus (default 1); duration must
//     be > 0; an error with stages or scenarios.
//   - stages: "default" ramping-vus with startVUs = vus (default 1); an
//     error with scenarios.
//   - only vus (k6 v2.1+): "default" shared-iterations, vus × vus
//     iterations; given scenarios are ignored with a warning.
//   - scenarios: as given.
//   - nothing: "default" per-vu-iterations, 1 iteration of 1 VU.
//
// Errors wrap [ErrInvalidConfig]. The warnings are for the user. The
// scenarios still need [Scenarios.Validate].
func (s Shortcuts) Resolve() (Scenarios, []string, error) {
	conflict := func(a, b string) error {
		return fmt.Errorf("%w: the %s and %s options cannot be used together", ErrInvalidConfig, a, b)
	}
	positive := func(name string, v *int64) error {
		if v != nil && *v == 0 {
			return fmt.Errorf("%w: %s must be > 0, got 0", ErrInvalidConfig, name)
		}
		return nil
	}
	one := func(sc Config) Scenarios { return Scenarios{DefaultScenarioName: sc} }
	switch {
	case s.Iterations != nil:
		switch {
		case len(s.Stages) > 0:
			return nil, nil, conflict("iterations", "stages")
		case s.Scenarios != nil:
			return nil, nil, conflict("iterations", "scenarios")
		}
		if err := firstErr(positive("vus", s.VUs), positive("iterations", s.Iterations)); err != nil {
			return nil, nil, err
		}
		si := SharedIterations{VUs: int64Or(s.VUs, 0), Iterations: *s.Iterations}
		if s.Duration != nil {
			if *s.Duration <= 0 {
				return nil, nil, fmt.Errorf("%w: duration (maxDuration with iterations) must be > 0, got %s", ErrInvalidConfig, *s.Duration)
			}
			si.MaxDuration = *s.Duration
		}
		return one(si), nil, nil
	case s.Duration != nil:
		switch {
		case len(s.Stages) > 0:
			return nil, nil, conflict("duration", "stages")
		case s.Scenarios != nil:
			return nil, nil, conflict("duration", "scenarios")
		case *s.Duration <= 0:
			return nil, nil, fmt.Errorf("%w: duration must be > 0, got %s", ErrInvalidConfig, *s.Duration)
		}
		if err := positive("vus", s.VUs); err != nil {
			return nil, nil, err
		}
		return one(ConstantVUs{VUs: int64Or(s.VUs, 0), Duration: *s.Duration}), nil, nil
	case len(s.Stages) > 0:
		if s.Scenarios != nil {
			return nil, nil, conflict("stages", "scenarios")
		}
		rv := RampingVUs{Stages: append([]Stage(nil), s.Stages...)}
		if s.VUs != nil {
			rv.StartVUs = new(*s.VUs)
		}
		return one(rv), nil, nil
	case s.VUs != nil:
		if err := positive("vus", s.VUs); err != nil {
			return nil, nil, err
		}
		var warnings []string
		if len(s.Scenarios) > 0 {
			warnings = append(warnings, "the vus option overrides the scenarios: running one shared-iterations scenario")
		}
		return one(SharedIterations{VUs: *s.VUs, Iterations: *s.VUs}), warnings, nil
	case len(s.Scenarios) > 0:
		return s.Scenarios, nil, nil
	}
	var warnings []string
	if s.Stages != nil {
		warnings = append(warnings, "stages is empty: running the default 1 iteration of 1 VU")
	}
	if s.Scenarios != nil {
		warnings = append(warnings, "scenarios is empty: running the default 1 iteration of 1 VU")
	}
	return one(PerVUIterations{}), warnings, nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ParseStage parses the CLI's --stage value "duration:target", such as
// "30s:10" or "1m30s:0"; the duration may be a number of milliseconds.
// [Stage.String] formats it back. Ranges are left to Validate.
func ParseStage(s string) (Stage, error) {
	d, t, ok := strings.Cut(s, ":")
	if !ok {
		return Stage{}, fmt.Errorf("invalid stage %q: want duration:target, such as 30s:10", s)
	}
	dur, err := duration.Parse(d)
	if err != nil {
		return Stage{}, fmt.Errorf("invalid stage %q: %w", s, err)
	}
	target, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil {
		return Stage{}, fmt.Errorf("invalid stage %q: target must be an integer", s)
	}
	return Stage{Duration: dur, Target: target}, nil
}
