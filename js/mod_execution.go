package js

import (
	"fmt"
	"slices"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// executionModule is k6/execution: instance, scenario, vu and test, each
// an object whose properties read the VU's state when they are read.
func executionModule(vu *VU) (Exports, error) {
	rt := vu.rt
	instance := vu.getters(map[string]func() any{
		"iterationsCompleted":    func() any { return vu.instance().IterationsCompleted },
		"iterationsInterrupted":  func() any { return vu.instance().IterationsInterrupted },
		"vusActive":              func() any { return vu.instance().VUsActive },
		"vusInitialized":         func() any { return vu.instance().VUsInitialized },
		"currentTestRunDuration": func() any { return ms(vu.instance().CurrentTestRunTime) },
	}, "currentTestRunDuration", "iterationsCompleted", "iterationsInterrupted", "vusActive", "vusInitialized")

	scenario := vu.getters(map[string]func() any{
		"name":                func() any { return vu.iteration().Scenario },
		"executor":            func() any { return vu.iteration().Executor },
		"startTime":           func() any { return vu.iteration().ScenarioStart.UnixMilli() },
		"progress":            func() any { return vu.scenarioProgress() },
		"iterationInInstance": func() any { return vu.iteration().IterationInScenario },
		"iterationInTest":     func() any { return vu.iteration().IterationInTest },
	}, "name", "executor", "startTime", "progress", "iterationInInstance", "iterationInTest")

	tags := rt.NewDynamicObject(&vuTags{vu: vu})
	metadata := rt.NewDynamicObject(&vuMetadata{vu: vu})
	vmetrics := rt.NewObject()
	_ = vmetrics.Set("tags", tags)
	_ = vmetrics.Set("metadata", metadata)
	vuObj := vu.getters(map[string]func() any{
		"idInInstance":        func() any { return vu.id },
		"idInTest":            func() any { return vu.id },
		"iterationInInstance": func() any { return vu.iteration().IterationInInstance },
		"iterationInScenario": func() any { vu.iteration(); return vu.iterInScen },
	}, "idInInstance", "idInTest", "iterationInInstance", "iterationInScenario")
	_ = vuObj.DefineDataProperty("tags", tags, sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
	_ = vuObj.DefineDataProperty("metrics", vmetrics, sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)

	test := rt.NewObject()
	_ = test.Set("abort", vu.abortTest)
	_ = test.Set("fail", vu.failTest)
	var options sobek.Value
	_ = test.DefineAccessorProperty("options", rt.ToValue(func(sobek.FunctionCall) sobek.Value {
		if options == nil {
			v, err := vu.parseJSON(vu.prog.testOptions())
			if err != nil {
				vu.throwError(err)
			}
			if o, ok := v.(*sobek.Object); ok {
				freeze(rt, o)
			}
			options = v
		}
		return options
	}), nil, sobek.FLAG_FALSE, sobek.FLAG_TRUE)

	named := map[string]any{"instance": instance, "scenario": scenario, "vu": vuObj, "test": test}
	def := rt.NewObject()
	for _, k := range []string{"instance", "scenario", "test", "vu"} {
		_ = def.DefineDataProperty(k, rt.ToValue(named[k]), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
	}
	return Exports{Default: def, Named: named}, nil
}

// getters returns an object with one enumerable, read-only property per
// function, in order.
func (vu *VU) getters(fns map[string]func() any, order ...string) *sobek.Object {
	o := vu.rt.NewObject()
	for _, k := range order {
		fn := fns[k]
		_ = o.DefineAccessorProperty(k, vu.rt.ToValue(func(sobek.FunctionCall) sobek.Value {
			return vu.rt.ToValue(fn())
		}), nil, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
	}
	return o
}

func freeze(rt *sobek.Runtime, o *sobek.Object) {
	if f, ok := sobek.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze")); ok {
		_, _ = f(sobek.Undefined(), o)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// instance returns the run's counters; outside a test, zeros.
func (vu *VU) instance() instanceState {
	if vu.state == nil {
		return instanceState{}
	}
	st := vu.state.Instance()
	return instanceState(st)
}

type instanceState struct {
	IterationsCompleted   uint64
	IterationsInterrupted uint64
	VUsActive             int64
	VUsInitialized        int64
	CurrentTestRunTime    time.Duration
}

// iteration returns the running iteration; outside of one it throws, as
// k6 does for scenario information.
func (vu *VU) iteration() iterationState {
	if vu.state == nil || vu.init {
		vu.throwf("scenario and iteration information is only available while a scenario runs")
	}
	return iterationState(vu.state.Iteration())
}

type iterationState struct {
	Scenario            string
	Executor            string
	ScenarioStart       time.Time
	IterationInScenario uint64
	IterationInTest     uint64
	IterationInInstance uint64
}

// scenarioProgress estimates k6's exec.scenario.progress from the
// scenario's config: iterations done for iteration-based executors, time
// elapsed for the others.
func (vu *VU) scenarioProgress() float64 {
	it := vu.iteration()
	sc := vu.prog.scenarioConfig(it.Scenario)
	if sc == nil {
		return 0
	}
	var p float64
	switch c := sc.(type) {
	case scenarios.SharedIterations:
		if c.Iterations > 0 {
			p = float64(it.IterationInTest) / float64(c.Iterations)
		}
	case scenarios.PerVUIterations:
		if c.Iterations > 0 {
			p = float64(vu.iterInScen) / float64(c.Iterations)
		}
	default:
		regular := sc.End() - sc.Base().StartTime - sc.Base().GracefulStopOrDefault()
		if regular > 0 {
			p = float64(time.Since(it.ScenarioStart)) / float64(regular)
		}
	}
	return min(max(p, 0), 1)
}

// abortTest implements exec.test.abort(reason): the whole test stops.
func (vu *VU) abortTest(call sobek.FunctionCall) sobek.Value {
	reason := "test aborted"
	if a := call.Argument(0); !isNullish(a) {
		reason = a.String()
	}
	var err error
	if vu.state != nil {
		err = vu.state.Abort(reason)
	} else {
		err = fmt.Errorf("%w: %s", loadtest.ErrTestAborted, reason)
	}
	vu.rt.Interrupt(err)
	return sobek.Undefined()
}

// failTest implements exec.test.fail(reason): the test goes on and fails
// at the end.
func (vu *VU) failTest(call sobek.FunctionCall) sobek.Value {
	reason := "test marked as failed"
	if a := call.Argument(0); !isNullish(a) {
		reason = a.String()
	}
	if vu.state == nil {
		vu.throwf("test.fail() needs a running test")
	}
	vu.state.Fail(reason)
	return sobek.Undefined()
}

// vuTags is exec.vu.tags: reading gives the VU's tags, setting one adds it
// to every later sample of the VU.
type vuTags struct{ vu *VU }

func (t *vuTags) tags() metrics.Tags {
	if t.vu.state == nil {
		return metrics.Tags{}
	}
	return t.vu.state.Tags()
}

func (t *vuTags) Get(key string) sobek.Value {
	if v, ok := t.tags().Get(key); ok {
		return t.vu.rt.ToValue(v)
	}
	return nil
}

func (t *vuTags) Set(key string, val sobek.Value) bool {
	vu := t.vu
	if vu.state == nil {
		vu.throwf("exec.vu.tags can only be set while a test runs")
	}
	if _, isObj := val.(*sobek.Object); isObj || isNullish(val) {
		vu.warnOrThrow("exec.vu.tags[%q]: only strings, numbers and booleans can be tag values", key)
		return true
	}
	if err := vu.state.SetTag(key, val.String()); err != nil {
		vu.warnOrThrow("exec.vu.tags[%q]: %v", key, err)
	}
	return true
}

func (t *vuTags) Has(key string) bool { _, ok := t.tags().Get(key); return ok }

func (t *vuTags) Delete(key string) bool {
	if t.vu.state != nil {
		t.vu.state.DeleteTag(key)
	}
	return true
}

func (t *vuTags) Keys() []string {
	var keys []string
	for k := range t.tags().All() {
		keys = append(keys, k)
	}
	return keys
}

// vuMetadata is exec.vu.metrics.metadata: values set on every later
// sample of the VU without being tags.
type vuMetadata struct{ vu *VU }

func (m *vuMetadata) Get(key string) sobek.Value {
	if v, ok := m.vu.metadata[key]; ok {
		return m.vu.rt.ToValue(v)
	}
	return nil
}

func (m *vuMetadata) Set(key string, val sobek.Value) bool {
	vu := m.vu
	if vu.state == nil {
		vu.throwf("exec.vu.metrics.metadata can only be set while a test runs")
	}
	if isNullish(val) {
		return m.Delete(key)
	}
	if _, isObj := val.(*sobek.Object); isObj {
		vu.warnOrThrow("exec.vu.metrics.metadata[%q]: only strings, numbers and booleans can be values", key)
		return true
	}
	s := val.String()
	vu.state.SetMetadata(key, s)
	if vu.metadata == nil {
		vu.metadata = map[string]string{}
	}
	vu.metadata[key] = s
	return true
}

func (m *vuMetadata) Has(key string) bool { _, ok := m.vu.metadata[key]; return ok }

func (m *vuMetadata) Delete(key string) bool {
	if m.vu.state != nil {
		m.vu.state.SetMetadata(key, "")
	}
	delete(m.vu.metadata, key)
	return true
}

func (m *vuMetadata) Keys() []string {
	keys := make([]string, 0, len(m.vu.metadata))
	for k := range m.vu.metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
