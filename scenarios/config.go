package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
)

// k6's defaults and limits for scenario options.
const (
	DefaultGracefulStop     = 30 * time.Second // common gracefulStop
	DefaultGracefulRampDown = 30 * time.Second // ramping-vus gracefulRampDown
	DefaultMaxDuration      = 10 * time.Minute // shared- and per-vu-iterations maxDuration
	DefaultTimeUnit         = time.Second      // arrival-rate timeUnit
	DefaultExec             = "default"        // exported function a scenario runs
	// MinDuration is the shortest duration or maxDuration k6 accepts.
	MinDuration = time.Second
	// MaxVUs is the most VUs a stage may target (k6's maxConcurrentVUs).
	MaxVUs = 100_000_000
)

// Config is one scenario's configuration: one of [SharedIterations],
// [PerVUIterations], [ConstantVUs], [RampingVUs], [ConstantArrivalRate],
// [RampingArrivalRate] or [ExternallyControlled]. A nil *ExecutionTuple
// argument means the whole test.
type Config interface {
	// Type returns the k6 executor name, such as "constant-vus".
	Type() string
	// Base returns the options every executor shares.
	Base() Common
	// Validate reports every problem at once (errors.Join of *FieldError),
	// each with its JSON path relative to the scenario.
	Validate() error
	// NewExecutor returns an executor for this instance's share of the
	// scenario. It does not validate; Run fails on an invalid config.
	NewExecutor(name string, et *ExecutionTuple) Executor
	// Requirements returns how many VUs the scenario needs over time,
	// relative to its startTime, for this instance's share.
	Requirements(et *ExecutionTuple) []VUStep
	// End returns startTime + regular duration + gracefulStop: when the
	// scenario ends at the latest, from the test's start. It returns 0 when
	// the scenario has no end (externally-controlled with duration 0).
	End() time.Duration
	// Description returns k6's one-line summary, such as
	// "2 looping VUs for 5s (gracefulStop: 30s)", for this instance's share.
	Description(et *ExecutionTuple) string
}

// VUStep is a step of a scenario's VU requirement: from Offset (relative to
// the scenario's startTime) until the next step, the scenario needs Planned
// VUs initialised before the test, and may initialise up to Unplanned more
// while it runs (arrival-rate maxVUs above preAllocatedVUs).
type VUStep struct {
	Offset    time.Duration
	Planned   int64
	Unplanned int64
}

// Common holds the options every executor shares. Its zero value is k6's
// default for each field.
type Common struct {
	// StartTime delays the scenario from the test's start; >= 0.
	StartTime time.Duration
	// GracefulStop is how long running iterations may go on after the
	// scenario's regular end before they are interrupted. nil means
	// [DefaultGracefulStop] (30s); point at 0 (new(time.Duration(0))) for
	// none, as k6's gracefulStop: "0s".
	GracefulStop *time.Duration
	// Exec is the exported function the scenario runs; "" means "default".
	Exec string
	// Env adds environment variables (__ENV) for this scenario's VUs.
	Env map[string]string
	// Tags are added to every sample of this scenario's iterations.
	Tags map[string]string
	// Options are per-scenario options for extensions (k6's browser reads
	// options.browser.type). loadlens passes them through.
	Options map[string]any

	// jsonProblems are k6 errors visible only in the JSON form, such as an
	// explicit "vus": 0 where the Go zero value means the default.
	jsonProblems []error
}

// Base returns c itself; it makes every config a [Config].
func (c Common) Base() Common { return c }

// GracefulStopOrDefault returns GracefulStop, or 30s when it is nil.
func (c Common) GracefulStopOrDefault() time.Duration {
	if c.GracefulStop == nil {
		return DefaultGracefulStop
	}
	return *c.GracefulStop
}

// ExecOrDefault returns Exec, or "default" when it is empty.
func (c Common) ExecOrDefault() string {
	if c.Exec == "" {
		return DefaultExec
	}
	return c.Exec
}

func (c Common) validate(p *problems) {
	p.add(c.jsonProblems...)
	if c.StartTime < 0 {
		p.addf("startTime", "must be >= 0, got %s", c.StartTime)
	}
	if c.GracefulStop != nil && *c.GracefulStop < 0 {
		p.addf("gracefulStop", "must be >= 0, got %s", *c.GracefulStop)
	}
}

// info returns k6's parenthesised facts of a description: the executor's
// own facts first, then exec, startTime and gracefulStop.
func (c Common) info(facts ...string) string {
	if c.Exec != "" {
		facts = append(facts, "exec: "+c.Exec)
	}
	if c.StartTime > 0 {
		facts = append(facts, "startTime: "+c.StartTime.String())
	}
	if gs := c.GracefulStopOrDefault(); gs > 0 {
		facts = append(facts, "gracefulStop: "+gs.String())
	}
	if len(facts) == 0 {
		return ""
	}
	return " (" + strings.Join(facts, ", ") + ")"
}

// Stage is one step of a ramp: reach Target (VUs, or iterations per
// timeUnit) linearly over Duration. A zero Duration jumps to Target at once.
type Stage struct {
	Duration time.Duration
	Target   int64
}

// String formats the stage as the CLI's --stage flag: "30s:10".
func (s Stage) String() string {
	return duration.Format(s.Duration) + ":" + strconv.FormatInt(s.Target, 10)
}

type stageJSON struct {
	Duration json.RawMessage `json:"duration"`
	Target   *int64          `json:"target"`
}

// MarshalJSON writes {"duration":"30s","target":10}.
func (s Stage) MarshalJSON() ([]byte, error) {
	return json.Marshal(stageJSON{Duration: rawDuration(s.Duration), Target: &s.Target})
}

// UnmarshalJSON reads {"duration":"30s","target":10}; the duration may be a
// number of milliseconds. Both fields are required; others are rejected.
func (s *Stage) UnmarshalJSON(b []byte) error {
	var w stageJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	d := parseDuration(&errs, "duration", w.Duration)
	if d == nil && len(errs) == 0 {
		errs = append(errs, &FieldError{Path: "duration", Msg: "required"})
	}
	if w.Target == nil {
		errs = append(errs, &FieldError{Path: "target", Msg: "required"})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*s = Stage{Duration: *d, Target: *w.Target}
	return nil
}

// decodeStages decodes raw stages one by one so that errors carry their
// index ("stages[1].target: required").
func decodeStages(errs *[]error, raw []json.RawMessage) []Stage {
	if len(raw) == 0 {
		return nil
	}
	stages := make([]Stage, len(raw))
	for i, r := range raw {
		if err := stages[i].UnmarshalJSON(r); err != nil {
			*errs = append(*errs, prefixed(fmt.Sprintf("stages[%d]", i), err)...)
		}
	}
	return stages
}

func encodeStages(stages []Stage) []json.RawMessage {
	if len(stages) == 0 {
		return nil
	}
	out := make([]json.RawMessage, len(stages))
	for i, s := range stages {
		out[i], _ = s.MarshalJSON() // cannot fail
	}
	return out
}

// parseDuration decodes an optional duration (a k6 string or milliseconds);
// it returns nil when raw is absent or null.
func parseDuration(errs *[]error, path string, raw json.RawMessage) *time.Duration {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var d duration.Duration
	if err := json.Unmarshal(raw, &d); err != nil {
		*errs = append(*errs, &FieldError{Path: path, Msg: err.Error()})
		return nil
	}
	v := time.Duration(d)
	return &v
}

// rawDuration encodes d as a k6 duration string.
func rawDuration(d time.Duration) json.RawMessage {
	b, _ := json.Marshal(duration.Duration(d)) // cannot fail
	return b
}

// rawDurationOmitZero encodes d, or nothing when it is 0.
func rawDurationOmitZero(d time.Duration) json.RawMessage {
	if d == 0 {
		return nil
	}
	return rawDuration(d)
}

func durationOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

func int64Or(v *int64, def int64) int64 {
	if v == nil {
		return def
	}
	return *v
}

// stagesDuration returns the sum of the stage durations.
func stagesDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration
	}
	return d
}

func validateStages(p *problems, stages []Stage, unit string) {
	if len(stages) == 0 {
		p.addf("stages", "at least one stage is required")
	}
	for i, s := range stages {
		path := fmt.Sprintf("stages[%d]", i)
		if s.Duration < 0 {
			p.addf(path+".duration", "must be >= 0, got %s", s.Duration)
		}
		if s.Target < 0 {
			p.addf(path+".target", "must be >= 0, got %d", s.Target)
		}
		if unit == "VUs" && s.Target > MaxVUs {
			p.addf(path+".target", "must be <= %d VUs, got %d", MaxVUs, s.Target)
		}
	}
}

// FieldError is one problem of a configuration: Path is the JSON path of
// the offending field relative to what was validated ("stages[1].target";
// [Scenarios.Validate] prefixes "scenarios.NAME."), Msg says what is wrong.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors flattens err (as returned by Validate, possibly joined) into
// its field errors; an error that is not a *FieldError becomes one with an
// empty path.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, FieldErrors(e)...)
		}
		return out
	}
	if fe, ok := err.(*FieldError); ok {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

// prefixed returns err's field errors with prefix added to their paths.
func prefixed(prefix string, err error) []error {
	fes := FieldErrors(err)
	out := make([]error, len(fes))
	for i, fe := range fes {
		path := prefix
		if fe.Path != "" {
			path += "." + fe.Path
		}
		out[i] = &FieldError{Path: path, Msg: fe.Msg}
	}
	return out
}

// problems collects validation errors.
type problems []error

func (p *problems) add(errs ...error) { *p = append(*p, errs...) }

func (p *problems) addf(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }

// commonJSON is the wire form of [Common] plus the executor name.
// Durations stay raw so that their errors keep their JSON path.
type commonJSON struct {
	Executor     string            `json:"executor,omitempty"`
	StartTime    json.RawMessage   `json:"startTime,omitempty"`
	GracefulStop json.RawMessage   `json:"gracefulStop,omitempty"`
	Exec         string            `json:"exec,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	Options      map[string]any    `json:"options,omitempty"`
}

func (c Common) toJSON(executor string) commonJSON {
	w := commonJSON{
		Executor:  executor,
		StartTime: rawDurationOmitZero(c.StartTime),
		Exec:      c.Exec,
		Env:       c.Env,
		Tags:      c.Tags,
		Options:   c.Options,
	}
	if c.GracefulStop != nil {
		w.GracefulStop = rawDuration(*c.GracefulStop)
	}
	return w
}

// fromJSON checks the executor name and builds Common, adding decoding
// problems to errs. Empty maps become nil so that a decoded config
// round-trips through JSON unchanged.
func (w commonJSON) fromJSON(errs *[]error, executor string) Common {
	if w.Executor != "" && w.Executor != executor {
		*errs = append(*errs, &FieldError{Path: "executor", Msg: fmt.Sprintf("is %q, want %q", w.Executor, executor)})
	}
	c := Common{
		StartTime:    durationOr(parseDuration(errs, "startTime", w.StartTime), 0),
		GracefulStop: parseDuration(errs, "gracefulStop", w.GracefulStop),
		Exec:         w.Exec,
		Env:          w.Env,
		Tags:         w.Tags,
		Options:      w.Options,
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.Options) == 0 {
		c.Options = nil
	}
	return c
}

// explicitZero records the k6 error for a field given as 0 in JSON when the
// Go zero value means "use the default".
func (c *Common) explicitZero(path string, v *int64, msg string) {
	if v != nil && *v == 0 {
		c.jsonProblems = append(c.jsonProblems, &FieldError{Path: path, Msg: msg})
	}
}

func (c *Common) explicitZeroDuration(path string, v *time.Duration, msg string) {
	if v != nil && *v == 0 {
		c.jsonProblems = append(c.jsonProblems, &FieldError{Path: path, Msg: msg})
	}
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data; errors name the offending field.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Msg: "unexpected data after the JSON value"}
	}
	return nil
}

// jsonError turns encoding/json errors into field errors.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &FieldError{Path: te.Field, Msg: fmt.Sprintf("must be a JSON %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			return &FieldError{Path: n, Msg: "unknown field"}
		}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Msg: err.Error()}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "map", goKind == "struct":
		return "object"
	case goKind == "slice":
		return "array"
	}
	return goKind
}

// cloneCommon deep-copies the maps of c so that executors never share
// mutable state with the caller's config.
func cloneCommon(c Common) Common {
	c.Env = maps.Clone(c.Env)
	c.Tags = maps.Clone(c.Tags)
	c.Options = maps.Clone(c.Options)
	return c
}

// orOne returns v, or 1 when v is 0 (k6's default for vus and iterations).
func orOne(v int64) int64 {
	if v == 0 {
		return 1
	}
	return v
}

// nonZero returns &v, or nil when v is 0, for omitempty JSON fields.
func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// validateDuration checks a required duration of at least [MinDuration].
func validateDuration(p *problems, path string, d time.Duration) {
	switch {
	case d == 0:
		p.addf(path, "required, at least %s", MinDuration)
	case d < MinDuration:
		p.addf(path, "must be >= %s, got %s", MinDuration, d)
	}
}

func durationOrDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// validateMaxDuration checks an optional maxDuration (0 = 10m).
func validateMaxDuration(p *problems, d time.Duration) {
	if d != 0 && d < MinDuration {
		p.addf("maxDuration", "must be >= %s, got %s", MinDuration, d)
	}
}
