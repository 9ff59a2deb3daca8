package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// ErrTestAborted is returned by [VU.Abort]: return it from an iteration to
// stop the test, as k6's exec.test.abort() does.
var ErrTestAborted = errors.New("test aborted")

// VU is one virtual user as its code sees it: identity, iteration counters,
// tags, checks, groups, custom metrics and HTTP. A VU runs one iteration at
// a time; call its methods only from the goroutine running the iteration
// (or from Program.NewVU).
type VU struct {
	id  uint64 // 1-based, unique in the run; 0 for setup and teardown
	run *run

	atRelease []func() // see AtRelease

	scenario       string // "" outside an iteration
	exec           string
	scenarioTags   metrics.Tags
	env            map[string]string
	iterInScenario uint64
	iterInTest     uint64
	iterInstance   uint64 // iterations this VU started, all scenarios

	group    string            // "::a::b"; "" at the root
	userTags map[string]string // k6 exec.vu.tags
	metadata map[string]string // k6 exec.vu.metrics.metadata
	pending  *[]metrics.Sample // samples not yet handed to the engine; nil when there are none

	// Tag sets are immutable and cost allocations to build, so the VU keeps
	// the ones it uses: base (run + scenario + user tags), tags (base +
	// group), and one per group and per check, until base changes.
	base      metrics.Tags
	tags      metrics.Tags
	groupTags map[string]metrics.Tags
	checkTags map[checkKey]metrics.Tags

	code      VUCode
	http      *k6http.Client
	req       k6http.Request   // reused by request
	resp      *k6http.Response // reused by request; made by the first (a JS VU needs none)
	ioEmitted bool             // emitIO has recorded data_sent and data_received once
}

// ID returns the VU's number, 1-based and unique in the run (k6's
// exec.vu.idInTest and __VU). Setup and teardown run on VU 0.
func (vu *VU) ID() uint64 { return vu.id }

// IterationState is the k6/execution view of the VU's current iteration.
type IterationState struct {
	Scenario            string    // name of the running scenario
	Executor            string    // its executor type
	ScenarioStart       time.Time // when the scenario started
	IterationInScenario uint64    // this instance's iteration number in the scenario
	IterationInTest     uint64    // iteration number across execution segments
	IterationInInstance uint64    // iterations this VU started before this one (__ITER)
}

// Iteration returns the state of the running iteration.
func (vu *VU) Iteration() IterationState {
	st := IterationState{Scenario: vu.scenario, IterationInScenario: vu.iterInScenario,
		IterationInTest: vu.iterInTest, IterationInInstance: vu.iterInstance}
	if sc := vu.run.scenarioByName(vu.scenario); sc != nil {
		st.Executor = sc.config.Type()
		st.ScenarioStart = sc.started()
	}
	return st
}

// Env returns the environment of the running scenario: the plan's
// SystemEnv and Env overlaid with the scenario's env. Do not modify it.
func (vu *VU) Env() map[string]string {
	if vu.env != nil {
		return vu.env
	}
	return vu.run.env
}

// Logger returns the run's logger, with the VU's id.
func (vu *VU) Logger() *slog.Logger { return vu.run.logger.With("vu", vu.id) }

// Registry returns the run's metric registry, where custom metrics live.
func (vu *VU) Registry() *metrics.Registry { return vu.run.registry }

// SetupData returns what setup returned (nil without setup).
func (vu *VU) SetupData() json.RawMessage { return vu.run.setupData }

// Tags returns the tags of the VU's next samples: the run's tags, the
// scenario and its tags, the VU's own tags and the current group.
func (vu *VU) Tags() metrics.Tags { return vu.tags }

// SetTag sets a tag on every later sample of this VU (k6's
// exec.vu.tags[key] = value). Setting "scenario" or "group" is refused, as
// in k6.
func (vu *VU) SetTag(key, value string) error {
	if key == "scenario" || key == "group" {
		return fmt.Errorf("tag %q is set by the engine", key)
	}
	if vu.userTags == nil {
		vu.userTags = make(map[string]string)
	}
	vu.userTags[key] = value
	vu.rebase()
	return nil
}

// DeleteTag removes a tag set with SetTag.
func (vu *VU) DeleteTag(key string) {
	delete(vu.userTags, key)
	vu.rebase()
}

// SetMetadata sets a non-indexable value on every later sample (k6's
// exec.vu.metrics.metadata); an empty value removes it.
func (vu *VU) SetMetadata(key, value string) {
	if value == "" {
		delete(vu.metadata, key)
		return
	}
	if vu.metadata == nil {
		vu.metadata = make(map[string]string)
	}
	vu.metadata[key] = value
}

type checkKey struct{ group, name string }

// tagCacheCap bounds the per-VU caches of group and check tag sets: names
// with ids in them must not grow memory without end.
const tagCacheCap = 256

// rebase recomputes the VU's base tags and forgets the derived ones.
func (vu *VU) rebase() {
	t := vu.run.runTags.Merge(vu.scenarioTags)
	for k, v := range vu.userTags {
		t = t.With(k, v)
	}
	if vu.scenario != "" && vu.run.sysTags.scenario {
		t = t.With("scenario", vu.scenario)
	}
	vu.base = t
	clear(vu.groupTags)
	clear(vu.checkTags)
	vu.regroup()
}

// regroup sets the VU's tags for its current group.
func (vu *VU) regroup() {
	if !vu.run.sysTags.group {
		vu.tags = vu.base
		return
	}
	if t, ok := vu.groupTags[vu.group]; ok {
		vu.tags = t
		return
	}
	vu.tags = vu.base.With("group", vu.group)
	if vu.groupTags == nil {
		vu.groupTags = make(map[string]metrics.Tags)
	}
	if len(vu.groupTags) < tagCacheCap {
		vu.groupTags[vu.group] = vu.tags
	}
}

// Emit records samples. Samples with a zero Time get the current time; nil
// Tags get the VU's tags.
func (vu *VU) Emit(samples ...metrics.Sample) {
	now := time.Now()
	for _, s := range samples {
		if s.Time.IsZero() {
			s.Time = now
		}
		if s.Tags.Len() == 0 {
			s.Tags = vu.tags
		}
		if s.Metadata == nil && len(vu.metadata) > 0 {
			s.Metadata = vu.metadata
		}
		vu.add(s)
	}
}

// add buffers samples, handing the buffer over when it is full. A VU
// takes a buffer from the run's pool when it has samples and hands it
// over with them, so that a VU that waits (in sleep(), in the pool of
// idle VUs) holds none: 64 samples are 5.8 KB.
func (vu *VU) add(samples ...metrics.Sample) {
	if vu.pending != nil && len(*vu.pending)+len(samples) > cap(*vu.pending) {
		vu.flush()
	}
	if vu.pending == nil {
		vu.pending = vu.run.batches.Get().(*[]metrics.Sample)
	}
	*vu.pending = append(*vu.pending, samples...)
}

// flushAt is how many samples a VU buffers before handing them over.
const flushAt = 64

func (vu *VU) flush() {
	if vu.pending == nil {
		return
	}
	vu.run.samples <- vu.pending
	vu.pending = nil
}

// Add records a value of the custom (or built-in) metric called name, with
// the VU's tags plus tags. It fails for unregistered metrics; register them
// in Plan.Metrics or with Registry().Register.
func (vu *VU) Add(name string, value float64, tags map[string]string) error {
	m := vu.run.registry.Get(name)
	if m == nil {
		return fmt.Errorf("metric %q is not registered", name)
	}
	t := vu.tags
	for k, v := range tags {
		t = t.With(k, v)
	}
	vu.Emit(metrics.Sample{Metric: m, Value: value, Tags: t})
	return nil
}

// Check records one k6 check: a checks sample tagged with the check's name
// (1 = passed). It returns ok.
func (vu *VU) Check(name string, ok bool) bool {
	v := 0.0
	if ok {
		v = 1
	}
	key := checkKey{vu.group, name}
	tags, cached := vu.checkTags[key]
	if !cached {
		tags = vu.tags.With("check", name)
		if vu.checkTags == nil {
			vu.checkTags = make(map[checkKey]metrics.Tags)
		}
		if len(vu.checkTags) < tagCacheCap {
			vu.checkTags[key] = tags
		}
	}
	vu.Emit(metrics.Sample{Metric: vu.run.builtin.checks, Value: v, Tags: tags})
	return ok
}

// Group runs fn inside the group called name (k6's group()): samples made
// meanwhile carry the group's path, and a group_duration sample measures
// fn. It returns fn's error. Names may not contain "::".
func (vu *VU) Group(name string, fn func() error) error {
	if strings.Contains(name, "::") {
		return errors.New("group and check names may not contain '::'") // k6's words
	}
	parent := vu.group
	vu.group = parent + "::" + name
	vu.regroup()
	start := time.Now()
	err := fn()
	vu.Emit(metrics.Sample{Metric: vu.run.builtin.groupDuration, Value: sinceMs(start), Tags: vu.tags})
	vu.group = parent
	vu.regroup()
	return err
}

// Sleep pauses for d or until ctx ends; it returns ctx's error then.
func (vu *VU) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	vu.flush() // no sample should wait out a sleep
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Abort stops the whole test (k6's exec.test.abort()): running iterations
// are interrupted and the result reports the reason. It returns an error
// wrapping ErrTestAborted for the iteration to return.
func (vu *VU) Abort(reason string) error {
	vu.run.abort(AbortByScript, reason)
	return fmt.Errorf("%w: %s", ErrTestAborted, reason)
}

// Fail marks the test failed but lets it go on (k6's exec.test.fail()).
func (vu *VU) Fail(reason string) { vu.run.markFailed(reason) }

// Instance returns counters of the whole run so far (k6's exec.instance).
func (vu *VU) Instance() InstanceState { return vu.run.instance() }

// InstanceState is the k6/execution view of the running instance.
type InstanceState struct {
	IterationsCompleted   uint64
	IterationsInterrupted uint64
	VUsActive             int64
	VUsInitialized        int64
	CurrentTestRunTime    time.Duration
}

// AtRelease registers fn to run when the run releases the VU, after its
// last iteration, with its HTTP client's connections: the place for the
// VU's code to close what it opened itself (gRPC connections). Call it from
// the VU's goroutine; the functions run in the reverse order.
func (vu *VU) AtRelease(fn func()) { vu.atRelease = append(vu.atRelease, fn) }

// release closes the VU's connections and runs its AtRelease functions.
func (vu *VU) release() {
	for i := len(vu.atRelease) - 1; i >= 0; i-- {
		vu.atRelease[i]()
	}
	vu.atRelease = nil
	_ = vu.http.Close()
}

// Iterate implements scenarios.VU: one iteration of the scenario's exec.
func (vu *VU) Iterate(ctx context.Context, it scenarios.Iteration) bool {
	vu.enter(it)
	start := time.Now()
	err := vu.code.Run(ctx, vu.exec)
	return vu.leave(ctx, start, err)
}

// leave ends an iteration that started at start and returned err. It is
// apart from Iterate to keep the frame under the VU's code small: a VU
// parks in sleep() under that frame, and its goroutine stack shrinks back
// to the minimum only when less than a quarter of it is in use.
func (vu *VU) leave(ctx context.Context, start time.Time, err error) bool {
	if min := vu.run.plan.Options.MinIterationDuration; min > 0 {
		if rest := min - time.Since(start); rest > 0 {
			_ = vu.Sleep(ctx, rest)
		}
	}
	completed := ctx.Err() == nil
	end := time.Now() // one reading for the iteration's samples: a clock reading is 0.1 µs here
	vu.emitIO(end)
	if completed {
		tags := vu.tags
		vu.Emit(
			metrics.Sample{Metric: vu.run.builtin.iterations, Time: end, Value: 1, Tags: tags},
			metrics.Sample{Metric: vu.run.builtin.iterationDuration, Time: end, Value: float64(end.Sub(start)) / float64(time.Millisecond), Tags: tags},
		)
		if err != nil && !errors.Is(err, ErrTestAborted) {
			vu.run.countIterationError(err)
		}
	}
	if vu.run.plan.Options.NoVUConnectionReuse {
		vu.http.CloseIdleConnections()
	}
	vu.flush()
	vu.iterInstance++
	return completed
}

func sinceMs(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }

// enter prepares the VU for an iteration of it.Scenario.
func (vu *VU) enter(it scenarios.Iteration) {
	vu.iterInScenario, vu.iterInTest = it.InScenario, it.InTest
	inRoot := vu.group == ""
	vu.group = ""
	switch {
	case vu.scenario != it.Scenario:
		sc := vu.run.scenarioByName(it.Scenario)
		vu.scenario, vu.exec, vu.scenarioTags, vu.env = it.Scenario, sc.exec, sc.tags, sc.env
		vu.rebase()
	case !inRoot: // a group the script left by an exception
		vu.regroup()
	}
	// Otherwise the tags are the root group's already: regroup follows
	// every change of group and base. (Its map lookup was 1.6 % of the
	// generator's CPU at 2 000 VUs, pprof.)
	vu.setSystemMetadata()
	if !vu.run.plan.Options.NoCookiesReset {
		vu.http.ResetCookies()
	}
}

// setSystemMetadata sets k6's non-indexable system tags vu and iter, when
// enabled, as sample metadata.
func (vu *VU) setSystemMetadata() {
	if vu.run.sysTags.vu {
		vu.SetMetadata("vu", strconv.FormatUint(vu.id, 10))
	}
	if vu.run.sysTags.iter {
		vu.SetMetadata("iter", strconv.FormatUint(vu.iterInstance, 10))
	}
}
