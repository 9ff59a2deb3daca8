package scenarios

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Scenarios maps scenario names to their configs, as k6's
// options.scenarios. Names must match ^[0-9a-zA-Z_-]+$.
type Scenarios map[string]Config

// executorTypes lists the executor names [DecodeConfig] accepts.
func executorTypes() []string {
	return []string{
		typeSharedIterations, typePerVUIterations, typeConstantVUs, typeRampingVUs,
		typeConstantArrivalRate, typeRampingArrivalRate, typeExternallyControlled,
	}
}

// DecodeConfig decodes one scenario's JSON, choosing the config type by its
// "executor" field. Decoding is strict: unknown fields are errors. Errors
// are *FieldError values (joined), with paths relative to the scenario.
func DecodeConfig(b []byte) (Config, error) {
	var head struct {
		Executor *string `json:"executor"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, jsonError(err)
	}
	if head.Executor == nil {
		return nil, &FieldError{Path: "executor", Msg: fmt.Sprintf("required, one of %q", executorTypes())}
	}
	switch *head.Executor {
	case typeSharedIterations:
		return decodeAs[SharedIterations](b)
	case typePerVUIterations:
		return decodeAs[PerVUIterations](b)
	case typeConstantVUs:
		return decodeAs[ConstantVUs](b)
	case typeRampingVUs:
		return decodeAs[RampingVUs](b)
	case typeConstantArrivalRate:
		return decodeAs[ConstantArrivalRate](b)
	case typeRampingArrivalRate:
		return decodeAs[RampingArrivalRate](b)
	case typeExternallyControlled:
		return decodeAs[ExternallyControlled](b)
	}
	return nil, &FieldError{Path: "executor", Msg: fmt.Sprintf("unknown executor %q, want one of %q", *head.Executor, executorTypes())}
}

func decodeAs[T any, PT interface {
	*T
	json.Unmarshaler
}](b []byte) (Config, error) {
	var c T
	if err := PT(&c).UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return any(c).(Config), nil
}

// UnmarshalJSON decodes k6's options.scenarios object with [DecodeConfig],
// reporting the problems of every scenario at once, each prefixed with
// "scenarios.NAME".
func (s *Scenarios) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.Join(prefixed("scenarios", jsonError(err))...)
	}
	if raw == nil {
		*s = nil
		return nil
	}
	out := make(Scenarios, len(raw))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		c, err := DecodeConfig(raw[name])
		if err != nil {
			errs = append(errs, prefixed("scenarios."+name, err)...)
			continue
		}
		out[name] = c
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*s = out
	return nil
}

// validName reports whether name matches ^[0-9a-zA-Z_-]+$.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Validate reports every problem of every scenario at once, as *FieldError
// values joined, each path prefixed with "scenarios.NAME.". Scenarios are
// checked in name order.
func (s Scenarios) Validate() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s)) {
		prefix := "scenarios." + name
		if !validName(name) {
			errs = append(errs, &FieldError{Path: prefix, Msg: "name must match ^[0-9a-zA-Z_-]+$"})
		}
		c := s[name]
		if c == nil {
			errs = append(errs, &FieldError{Path: prefix, Msg: "no config"})
			continue
		}
		if err := c.Validate(); err != nil {
			errs = append(errs, prefixed(prefix, err)...)
		}
	}
	return errors.Join(errs...)
}

// Sorted returns the scenario names in k6's order: by startTime, then name.
func (s Scenarios) Sorted() []string {
	names := slices.Collect(maps.Keys(s))
	start := func(n string) time.Duration {
		if s[n] == nil {
			return 0
		}
		return s[n].Base().StartTime
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(start(a), start(b)), cmp.Compare(a, b))
	})
	return names
}

// End returns when the last scenario ends at the latest (k6's "max
// duration (incl. graceful stop)"), and false when one has no end.
func (s Scenarios) End() (time.Duration, bool) {
	var end time.Duration
	for _, c := range s {
		if c == nil {
			continue
		}
		e := c.End()
		if e == 0 {
			return 0, false
		}
		end = max(end, e)
	}
	return end, true
}

// VUCeiling reads the VU counts the configs ask for, without the schedule
// math: highest is the largest VU count any one scenario names (vus, a
// stage target, startVUs or maxVUs), total their sum, which bounds PeakVUs'
// maxVUs for the whole test. It costs O(stages) where PeakVUs costs O(VUs),
// so a VU limit can be checked before the exact count is worth computing: a
// test whose highest is over the limit asks for too many VUs; one whose
// total is within it does not.
func (s Scenarios) VUCeiling() (total, highest int64) {
	for _, c := range s {
		var n int64
		switch c := c.(type) {
		case ConstantVUs:
			n = c.vus()
		case SharedIterations:
			n = c.vus()
		case PerVUIterations:
			n = c.vus()
		case RampingVUs:
			n = c.peak()
		case ConstantArrivalRate:
			n = c.maxVUs()
		case RampingArrivalRate:
			n = c.maxVUs()
		case ExternallyControlled:
			n = c.maxVUs()
		case nil:
			continue
		default:
			n = MaxVUs
		}
		n = min(max(n, 0), MaxVUs)
		total = min(total+n, math.MaxInt64/2)
		highest = max(highest, n)
	}
	return total, highest
}

// PeakVUs returns how many VUs this instance needs: planned is the peak of
// planned VUs of the scenarios running at the same time (k6 initialises
// that many before the test starts and reuses VUs across scenarios that do
// not overlap); maxVUs adds the unplanned VUs arrival-rate scenarios may
// initialise while running (k6's vus_max can grow to it). For k6's
// scripts/scenarios.js (car: preAllocatedVUs 1, maxVUs 2; si: vus 2,
// overlapping) it returns 3 and 4; that run reported vus_max=4 because
// car initialised its second VU after dropping iterations.
func (s Scenarios) PeakVUs(et *ExecutionTuple) (planned, maxVUs int64) {
	type change struct {
		at                 time.Duration
		planned, unplanned int64
	}
	var changes []change
	for _, c := range s {
		if c == nil {
			continue
		}
		start := c.Base().StartTime
		var prev VUStep
		for _, st := range c.Requirements(et) {
			changes = append(changes, change{start + st.Offset, st.Planned - prev.Planned, st.Unplanned - prev.Unplanned})
			prev = st
		}
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.at, b.at) })
	var curPlanned, curUnplanned int64
	for i, ch := range changes {
		curPlanned += ch.planned
		curUnplanned += ch.unplanned
		if i+1 < len(changes) && changes[i+1].at == ch.at {
			continue // one scenario may end as another starts
		}
		planned = max(planned, curPlanned)
		maxVUs = max(maxVUs, curPlanned+curUnplanned)
	}
	return planned, maxVUs
}
