package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const typeExternallyControlled = "externally-controlled"

// ErrVUsOutOfRange is returned by [ExternalExecutor.SetVUs] for a count
// below 0 or above maxVUs.
var ErrVUsOutOfRange = errors.New("VU count out of range")

// ErrNotRunning is returned by [ExternalExecutor.SetVUs] once the run has
// ended.
var ErrNotRunning = errors.New("executor is not running")

// ExternallyControlled is k6's externally-controlled executor (removed from
// k6 v2, kept here): VUs loop iterations like constant-vus, and their number
// changes while the test runs through [ExternalExecutor.SetVUs], between 0
// and MaxVUs. A VU removed that way finishes its iteration first. There is
// no gracefulStop: at the end of Duration, or when the run is cancelled,
// running iterations are interrupted. It cannot be split across execution
// segments (k6: not distributable).
type ExternallyControlled struct {
	Common
	// VUs is how many VUs loop at the start; >= 0.
	VUs int64
	// MaxVUs bounds SetVUs; 0 means VUs; >= VUs; > 0.
	MaxVUs int64
	// Duration is how long the scenario runs; 0 means until the context
	// given to Run is cancelled. Otherwise >= 1s.
	Duration time.Duration
}

var _ Config = ExternallyControlled{}

// Type returns "externally-controlled".
func (ExternallyControlled) Type() string { return typeExternallyControlled }

func (c ExternallyControlled) maxVUs() int64 { return max(c.MaxVUs, c.VUs) }

// Validate implements [Config].
func (c ExternallyControlled) Validate() error {
	var p problems
	c.Common.validate(&p)
	if c.GracefulStop != nil {
		p.addf("gracefulStop", "not supported by %s", typeExternallyControlled)
	}
	if c.VUs < 0 {
		p.addf("vus", "must be >= 0, got %d", c.VUs)
	}
	switch {
	case c.MaxVUs < 0 || (c.MaxVUs != 0 && c.MaxVUs < c.VUs):
		p.addf("maxVUs", "must be >= vus (%d), got %d", c.VUs, c.MaxVUs)
	case c.maxVUs() == 0:
		p.addf("maxVUs", "must be > 0")
	case c.maxVUs() > MaxVUs:
		p.addf("maxVUs", "must be <= %d, got %d", MaxVUs, c.maxVUs())
	}
	if c.Duration != 0 && c.Duration < MinDuration {
		p.addf("duration", "must be 0 (no end) or >= %s, got %s", MinDuration, c.Duration)
	}
	return p.err()
}

// End implements [Config]; 0 when Duration is 0.
func (c ExternallyControlled) End() time.Duration {
	if c.Duration == 0 {
		return 0
	}
	return c.StartTime + c.Duration
}

// Requirements implements [Config]: VUs planned, the rest up to MaxVUs
// unplanned, with no end when Duration is 0.
func (c ExternallyControlled) Requirements(*ExecutionTuple) []VUStep {
	steps := []VUStep{{Planned: c.VUs, Unplanned: c.maxVUs() - c.VUs}}
	if c.Duration > 0 {
		steps = append(steps, VUStep{Offset: c.Duration})
	}
	return steps
}

// Description implements [Config]: "Externally controlled execution with 10
// VUs, 50 max VUs, 10m0s duration".
func (c ExternallyControlled) Description(*ExecutionTuple) string {
	d := "unlimited"
	if c.Duration > 0 {
		d = c.Duration.String()
	}
	base := c.Common
	base.GracefulStop = new(time.Duration(0)) // not supported: not shown
	return fmt.Sprintf("Externally controlled execution with %d VUs, %d max VUs, %s duration%s", c.VUs, c.maxVUs(), d, base.info())
}

// NewExecutor implements [Config]; the executor is an *ExternalExecutor.
func (c ExternallyControlled) NewExecutor(name string, et *ExecutionTuple) Executor {
	c.Common = cloneCommon(c.Common)
	e := &ExternalExecutor{tracker: newTracker(name, typeExternallyControlled, c.Duration), cfg: c, et: et, changed: make(chan struct{}, 1)}
	e.want = c.VUs
	return e
}

// ExternalExecutor runs an [ExternallyControlled] scenario; [SetVUs] changes
// its VU count while it runs. It is safe for concurrent use.
//
// [SetVUs]: ExternalExecutor.SetVUs
type ExternalExecutor struct {
	tracker
	cfg     ExternallyControlled
	et      *ExecutionTuple
	changed chan struct{} // capacity 1: a pending change
	mu      sync.Mutex
	want    int64
	over    bool
}

var _ Executor = (*ExternalExecutor)(nil)

// SetVUs sets how many VUs loop, from 0 to maxVUs; removed VUs, newest
// first, finish their iteration. It may be called before Run starts; it
// fails with [ErrVUsOutOfRange] outside the bounds and with [ErrNotRunning]
// after Run has returned.
func (e *ExternalExecutor) SetVUs(n int64) error {
	if n < 0 || n > e.cfg.maxVUs() {
		return fmt.Errorf("scenario %q: %w: vus %d must be between 0 and maxVUs %d", e.scenario, ErrVUsOutOfRange, n, e.cfg.maxVUs())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.over {
		return fmt.Errorf("scenario %q: %w", e.scenario, ErrNotRunning)
	}
	e.want = n
	select {
	case e.changed <- struct{}{}:
	default:
	}
	return nil
}

// VUs returns the VU count last set (or configured).
func (e *ExternalExecutor) VUs() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.want
}

// Run implements [Executor].
func (e *ExternalExecutor) Run(ctx context.Context, rt Runtime) error {
	defer func() {
		e.mu.Lock()
		e.over = true
		e.mu.Unlock()
	}()
	if err := e.begin(rt, e.cfg.Validate); err != nil {
		return err
	}
	defer e.finish()
	if !e.et.isWhole() {
		return fmt.Errorf("scenario %q: %s cannot be split across execution segments (%s)", e.scenario, typeExternallyControlled, e.et)
	}
	e.vus.Store(e.cfg.maxVUs())
	var next atomic.Int64
	set := &vuSet{t: &e.tracker, rt: rt, iterate: func(ctx context.Context, vu VU) {
		n := next.Add(1) - 1
		e.iterate(ctx, vu, Iteration{Scenario: e.scenario, InScenario: uint64(n), InTest: uint64(n)})
	}}
	set.st = newStopper(ctx, e.started(), e.cfg.Duration, 0)
	err := e.control(set)
	set.drain()
	set.st.release()
	return err
}

// control applies the wanted VU count whenever it changes, until the
// scenario ends.
func (e *ExternalExecutor) control(set *vuSet) error {
	for {
		if err := set.scale(set.st.soft, int(e.VUs()), time.Now(), noRampDownLimit); err != nil {
			if set.st.soft.Err() != nil {
				return nil // ended while waiting for a VU
			}
			set.st.cancelSoft(err)
			set.st.cancelHard(err)
			return fmt.Errorf("scenario %q: %w", e.scenario, err)
		}
		select {
		case <-e.changed:
		case <-set.st.soft.Done():
			return nil
		}
	}
}

type externallyControlledJSON struct {
	commonJSON
	VUs      *int64          `json:"vus,omitempty"`
	MaxVUs   *int64          `json:"maxVUs,omitempty"`
	Duration json.RawMessage `json:"duration,omitempty"`
}

// MarshalJSON writes k6's JSON form; duration is always written, since k6
// requires it (0 = no end).
func (c ExternallyControlled) MarshalJSON() ([]byte, error) {
	return json.Marshal(externallyControlledJSON{
		commonJSON: c.toJSON(typeExternallyControlled),
		VUs:        nonZero(c.VUs),
		MaxVUs:     nonZero(c.MaxVUs),
		Duration:   rawDuration(c.Duration),
	})
}

// UnmarshalJSON reads k6's JSON form strictly: unknown fields are errors.
func (c *ExternallyControlled) UnmarshalJSON(b []byte) error {
	var w externallyControlledJSON
	if err := decodeStrict(b, &w); err != nil {
		return err
	}
	var errs []error
	d := parseDuration(&errs, "duration", w.Duration)
	out := ExternallyControlled{
		Common:   w.fromJSON(&errs, typeExternallyControlled),
		VUs:      int64Or(w.VUs, 0),
		MaxVUs:   int64Or(w.MaxVUs, 0),
		Duration: durationOr(d, 0),
	}
	if d == nil && len(errs) == 0 {
		out.jsonProblems = append(out.jsonProblems, &FieldError{Path: "duration", Msg: "required (0 for no end)"})
	}
	if w.VUs != nil && *w.VUs > 0 {
		out.explicitZero("maxVUs", w.MaxVUs, fmt.Sprintf("must be >= vus (%d), got 0", *w.VUs))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}
