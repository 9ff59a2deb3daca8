package js

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// VU is one virtual user's JavaScript runtime as Go modules see it: its
// sobek runtime, the engine's VU behind it, and the context of what it
// runs now. A VU runs on one goroutine at a time; call its methods and use
// its runtime only from the Go functions that its script calls (or from
// Module.Instantiate).
type VU struct {
	prog  *Program
	rt    *sobek.Runtime
	state *loadtest.VU // nil in the VUs that only run init code or handleSummary
	id    uint64

	// ctx is the context of what the VU runs now: its init code, setup,
	// an iteration. It is kept for the Go functions the script calls,
	// which have no other way to get it, and replaced by each phase.
	ctx   context.Context
	phase string
	init  bool

	ns         *sobek.Object // the main module's exports
	execs      map[string]sobek.Callable
	lastExec   string // export's last answer
	lastExecFn sobek.Callable
	loop       eventLoop

	intMu     sync.Mutex // guards the three below, shared with the watch's callback
	watched   context.Context
	stopWatch func() bool
	running   bool

	setupArgv  []sobek.Value // setup's data as the one argument of an iteration; nil until parsed
	scenario   string        // the scenario of the last iteration; __ENV was made for it
	iterInScen uint64        // this VU's iterations in that scenario, before the current one
	iterated   bool

	jsonParse     sobek.Callable
	jsonStringify sobek.Callable
	metadata      map[string]string // the engine VU's metadata, mirrored for HTTP requests
	http          *httpState
	cjs           map[*cjsModule]*cjsInstance  // the CommonJS files this VU ran
	goMods        []*goInstance                // the Go modules it imported or required
	jsFiles       map[*sobek.Object]*jsFile    // k6/experimental/fs Files, for csv
	cryptoKeys    map[*sobek.Object]*cryptoKey // WebCrypto's CryptoKeys
}

// Runtime returns the VU's JavaScript runtime.
func (vu *VU) Runtime() *sobek.Runtime { return vu.rt }

// Context returns the context of what the VU runs now (init code, setup,
// an iteration, teardown, handleSummary). Blocking Go code called from the
// script must give up when it ends.
func (vu *VU) Context() context.Context { return vu.ctx }

// State returns the engine's VU: tags, metrics, checks, groups and its
// HTTP client. It is nil in the VU that reads the options and in the one
// that runs handleSummary.
func (vu *VU) State() *loadtest.VU { return vu.state }

// InitContext reports whether the VU runs its init code, where k6 allows
// open(), new SharedArray() and metric constructors, and forbids requests.
func (vu *VU) InitContext() bool { return vu.init }

// ID returns __VU: 1-based for VUs running iterations, 0 for the others.
func (vu *VU) ID() uint64 { return vu.id }

// RegisterMetric declares a custom metric, as the script's new Counter()
// etc. do: call it from Module.Instantiate, so that the plan declares the
// metric and thresholds may name it. It returns the metric of the run
// (of a registry of its own in VUs without a test); keep it per instance.
func (vu *VU) RegisterMetric(name string, typ metrics.MetricType, contains metrics.ValueType) (*metrics.Metric, error) {
	reg := vu.prog.registry
	if vu.state != nil {
		reg = vu.state.Registry()
	}
	m, err := reg.Register(name, typ, contains)
	if err != nil {
		return nil, err
	}
	if err := vu.prog.declareMetric(metrics.Metric{Name: name, Type: typ, Contains: contains}); err != nil {
		return nil, err
	}
	return m, nil
}

// Logger returns the script's logger.
func (vu *VU) Logger() *slog.Logger { return vu.prog.logger }

// newVU creates a runtime and runs the script's init code in it.
func (p *Program) newVU(ctx context.Context, state *loadtest.VU, id uint64) (*VU, error) {
	rt := sobek.New()
	rt.SetFieldNameMapper(sobek.UncapFieldNameMapper())
	vu := &VU{prog: p, rt: rt, state: state, id: id, ctx: ctx, init: true, phase: "init", loop: newEventLoop()}
	if err := vu.installGlobals(); err != nil {
		return nil, err
	}
	p.loader.vus.Store(rt, vu)
	defer p.loader.vus.Delete(rt)

	watching := vu.watch(ctx)
	err := vu.evaluateMain()
	if watching {
		vu.endWatch()
	}
	vu.unwatch()
	if err != nil {
		return nil, vu.classify(err, "init")
	}
	vu.init = false
	return vu, nil
}

// evaluateMain runs the entry script and sets vu.ns to its exports. A
// CommonJS script and a flat ES module (see flatModule) run as functions;
// any other ES module is evaluated as a module, with its top-level await.
func (vu *VU) evaluateMain() error {
	p, rt := vu.prog, vu.rt
	if fm := p.loader.flat; fm != nil {
		ns, err := vu.runFlat(fm)
		if err != nil {
			return err
		}
		vu.ns = ns
		return nil
	}
	if m, ok := p.main.(*cjsModule); ok { // a CommonJS script: its exports are its functions and options
		inst, err := vu.runCJS(m)
		if err != nil {
			return err
		}
		vu.ns = inst.exports().ToObject(rt)
		return nil
	}
	prom := p.main.Evaluate(rt)
	if prom.State() == sobek.PromiseStatePending { // top-level await
		if err := vu.loop.run(vu.ctx); err != nil {
			return err
		}
	}
	switch prom.State() {
	case sobek.PromiseStateRejected:
		return promiseError(prom.Result())
	case sobek.PromiseStatePending:
		return errors.New("the script's top-level await never settled")
	}
	vu.ns = rt.NamespaceObjectFor(p.main)
	return nil
}

// promiseError turns a rejection reason into an error.
func promiseError(v sobek.Value) error {
	if v == nil {
		return errors.New("rejected")
	}
	switch x := v.Export().(type) {
	case error:
		return x
	case nil:
		return errors.New(v.String())
	}
	if o, ok := v.(*sobek.Object); ok {
		if s := o.Get("stack"); s != nil && !sobek.IsUndefined(s) {
			return &ScriptError{Message: v.String(), Stack: s.String()}
		}
	}
	return &ScriptError{Message: v.String()}
}

// watch interrupts the runtime when ctx ends, until endWatch is called,
// and reports whether it watches (a context that never ends needs no
// watch). Iterations of a scenario share one context, so the watch on it
// is kept from one call to the next instead of being made again. It
// returns a bool rather than the stop function: the method value
// vu.endWatch was an allocation per iteration (pprof -memprofilerate 1).
func (vu *VU) watch(ctx context.Context) bool {
	if ctx.Done() == nil {
		return false
	}
	vu.intMu.Lock()
	if ctx != vu.watched {
		if vu.stopWatch != nil {
			vu.stopWatch()
		}
		vu.watched = ctx
		vu.stopWatch = context.AfterFunc(ctx, func() {
			vu.intMu.Lock()
			defer vu.intMu.Unlock()
			if vu.running && vu.watched == ctx {
				vu.rt.Interrupt(context.Cause(ctx))
			}
		})
	}
	vu.running = true
	vu.intMu.Unlock()
	return true
}

// endWatch ends what watch started; it also clears an interrupt that came
// too late to matter.
func (vu *VU) endWatch() {
	vu.intMu.Lock()
	vu.running = false
	vu.intMu.Unlock()
	vu.rt.ClearInterrupt()
}

// unwatch drops the watch on the last context, so that a long-lived
// context (the caller's, in Load or HandleSummary) does not keep the
// runtime alive.
func (vu *VU) unwatch() {
	vu.intMu.Lock()
	defer vu.intMu.Unlock()
	if vu.stopWatch != nil {
		vu.stopWatch()
	}
	vu.stopWatch, vu.watched = nil, nil
}

// classify turns what a call returned into the error the engine gets: the
// cause of an interruption (a cancelled context, test.abort()) as it is, a
// JavaScript exception as a *ScriptError.
func (vu *VU) classify(err error, phase string) error {
	if err == nil {
		return nil
	}
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		if e, ok := ie.Value().(error); ok {
			return e
		}
		return fmt.Errorf("interrupted: %v", ie.Value())
	}
	if errors.Is(err, loadtest.ErrTestAborted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return newScriptError(err, phase)
}

// call runs an exported function with the VU in phase, waits for its
// timers and promise, and returns its result.
func (vu *VU) call(ctx context.Context, phase string, fn sobek.Callable, args ...sobek.Value) (sobek.Value, error) {
	vu.ctx, vu.phase = ctx, phase
	if vu.watch(ctx) {
		defer vu.endWatch()
	}
	ret, err := fn(sobek.Undefined(), args...)
	if err == nil && vu.loop.pending() {
		err = vu.loop.run(ctx)
	}
	if err != nil {
		err = vu.classify(err, phase)
		var se *ScriptError
		if ctx.Err() != nil && errors.As(err, &se) {
			// Interrupted: what a Go function threw on its way out (a
			// request's "gracefulRampDown expired") is no script error,
			// and k6 logs nothing.
			err = context.Cause(ctx)
		}
		vu.loop.clear(err)
		return nil, err
	}
	if p, ok := ret.Export().(*sobek.Promise); ok {
		switch p.State() {
		case sobek.PromiseStateRejected:
			return nil, vu.classify(promiseError(p.Result()), phase)
		case sobek.PromiseStateFulfilled:
			ret = p.Result()
		}
	}
	return ret, nil
}

// export returns the main module's exported function name, or nil. The
// last answer is kept beside the map: an iteration asks for the previous
// one's function (pprof at 2 000 VUs: the map lookup was 0.8 %).
func (vu *VU) export(name string) sobek.Callable {
	if name == vu.lastExec && vu.lastExecFn != nil {
		return vu.lastExecFn
	}
	fn, ok := vu.execs[name]
	if !ok {
		fn, _ = sobek.AssertFunction(vu.ns.Get(name))
		if vu.execs == nil {
			vu.execs = make(map[string]sobek.Callable)
		}
		vu.execs[name] = fn
	}
	vu.lastExec, vu.lastExecFn = name, fn
	return fn
}

// Run implements loadtest.VUCode: one iteration of the exec function.
func (vu *VU) Run(ctx context.Context, exec string) error {
	fn := vu.export(exec)
	if fn == nil {
		return fmt.Errorf("%w: no exported function %q", ErrScript, exec)
	}
	vu.enterScenario()
	args, err := vu.setupArgs()
	if err != nil {
		return err
	}
	_, err = vu.call(ctx, exec, fn, args...)
	if err != nil {
		vu.logException(err, exec)
	}
	return err
}

// logException logs a script's exception as k6 does. It is apart from Run
// to keep the frame under the script small (see loadtest.VU.Iterate).
func (vu *VU) logException(err error, exec string) {
	var se *ScriptError
	if errors.As(err, &se) {
		vu.prog.logger.Error(se.Message, "source", "stacktrace", "at", se.position(), "exec", exec, "vu", vu.id)
	}
}

// setupArgs returns the arguments of an iteration: setup's data for this
// VU, parsed once (k6 gives every VU its own copy). The slice is kept
// too: made per call, it was an allocation per iteration.
func (vu *VU) setupArgs() ([]sobek.Value, error) {
	if vu.setupArgv != nil {
		return vu.setupArgv, nil
	}
	data := sobek.Undefined()
	if vu.state != nil {
		if raw := vu.state.SetupData(); len(raw) > 0 {
			v, err := vu.parseJSON(raw)
			if err != nil {
				vu.setupArgv = []sobek.Value{data}
				return nil, fmt.Errorf("setup data: %w", err)
			}
			data = v
		}
	}
	vu.setupArgv = []sobek.Value{data}
	return vu.setupArgv, nil
}

// parseJSON parses JSON with the runtime's JSON.parse.
func (vu *VU) parseJSON(b []byte) (sobek.Value, error) { return vu.parseJSONString(string(b)) }

// parseJSONString parses JSON with the runtime's JSON.parse.
func (vu *VU) parseJSONString(s string) (sobek.Value, error) {
	if vu.jsonParse == nil {
		j := vu.rt.Get("JSON").ToObject(vu.rt)
		vu.jsonParse, _ = sobek.AssertFunction(j.Get("parse"))
		vu.jsonStringify, _ = sobek.AssertFunction(j.Get("stringify"))
	}
	return vu.jsonParse(sobek.Undefined(), vu.rt.ToValue(s))
}

// stringify is JSON.stringify; undefined gives nil.
func (vu *VU) stringify(v sobek.Value, indent ...sobek.Value) ([]byte, error) {
	if vu.jsonStringify == nil {
		if _, err := vu.parseJSON([]byte("null")); err != nil {
			return nil, err
		}
	}
	args := append([]sobek.Value{v}, indent...)
	if len(indent) > 0 {
		args = []sobek.Value{v, sobek.Null(), indent[0]}
	}
	s, err := vu.jsonStringify(sobek.Undefined(), args...)
	if err != nil {
		return nil, err
	}
	if s == nil || sobek.IsUndefined(s) {
		return nil, nil
	}
	return []byte(s.String()), nil
}

// enterScenario counts the VU's iterations per scenario and refreshes
// __ENV when the VU moves to another scenario, whose env adds to the
// plan's.
func (vu *VU) enterScenario() {
	if vu.state == nil {
		return
	}
	it := vu.state.Iteration()
	if it.Scenario == vu.scenario && vu.iterated {
		vu.iterInScen++
		return
	}
	vu.scenario, vu.iterInScen, vu.iterated = it.Scenario, 0, true
	vu.setEnv(vu.state.Env())
}

// throwError throws err as a JavaScript exception from a Go function: a
// JavaScript exception or an interruption as it is, anything else as an
// Error with err's message.
func (vu *VU) throwError(err error) {
	var ie *sobek.InterruptedError
	if errors.As(err, &ie) {
		panic(ie)
	}
	var ex *sobek.Exception
	if errors.As(err, &ex) {
		panic(ex)
	}
	panic(vu.rt.NewGoError(err))
}

// throwf throws a new Error.
func (vu *VU) throwf(format string, args ...any) {
	panic(vu.rt.ToValue(vu.rt.NewGoError(fmt.Errorf(format, args...))))
}

// typeErrorf throws a TypeError.
func (vu *VU) typeErrorf(format string, args ...any) {
	panic(vu.rt.NewTypeError(fmt.Sprintf(format, args...)))
}

// mustInit throws unless the VU runs init code.
func (vu *VU) mustInit(what string) {
	if !vu.init {
		vu.throwf("%s is only available in the init context (the script's top level)", what)
	}
}

// mustNotInit throws when the VU runs init code.
func (vu *VU) mustNotInit(what string) {
	if vu.init {
		vu.throwf("%s is not available in the init context; call it from a function such as default or setup", what)
	}
}

// throwOption reports whether network errors and bad metric values throw.
func (vu *VU) throwOption() bool { return vu.prog.opts.Throw || vu.prog.extra().Throw }

// warnOrThrow logs a warning, or throws it with the throw option.
func (vu *VU) warnOrThrow(format string, args ...any) {
	if vu.throwOption() {
		vu.throwf(format, args...)
	}
	vu.prog.logger.Warn(fmt.Sprintf(format, args...), "vu", vu.id)
}

// rawJSON is a helper to marshal Go values for the script.
func rawJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// position returns "file:line:column", or "" when unknown.
func (e *ScriptError) position() string {
	if e.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
}
