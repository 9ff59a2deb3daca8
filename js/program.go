package js

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// Program is a loaded k6 script: compiled once, run by any number of VUs.
// It implements loadtest.Program (NewVU runs the init code in a new
// runtime), loadtest.Setupper, loadtest.Teardowner and
// loadtest.ExecLister, and runs handleSummary. It is safe for concurrent
// use.
type Program struct {
	opts     Options
	loader   *loader
	main     sobek.ModuleRecord
	logger   *slog.Logger  // the script's, secrets redacted
	redactor *secretValues // the secrets scripts got

	k6opts   loadtest.K6Options
	rawOpts  json.RawMessage // the script's options as JSON; nil without
	extraOps extraOptions
	execs    []string
	exported map[string]bool

	metricsMu sync.Mutex
	metrics   []metrics.Metric // custom metrics, in the order the script declared them

	registry *metrics.Registry // checks custom metrics declared outside a run
	settings atomic.Pointer[runSettings]
	zeroVUs  sync.Map // *loadtest.VU → *VU: the engine's setup and teardown VUs
	protos   sync.Map // k6/net/grpc's compiled .proto files, by load's arguments
	warned   sync.Map // the warnings logged once a program, by text
	envVals  envValues
}

// warnOnce logs a warning the first time a program meets it, as k6 does
// for a deprecated module however many VUs import it.
func (p *Program) warnOnce(msg string) {
	if _, seen := p.warned.LoadOrStore(msg, true); !seen {
		p.logger.Warn(msg)
	}
}

// runSettings are what the runtime needs of the options the run uses: the
// script's, or the consolidated ones once Plan has layered them.
type runSettings struct {
	options   json.RawMessage // exec.test.options
	scenarios scenarios.Scenarios
	sysVU     bool // the vu and iter system tags: sample metadata
	sysIter   bool
	discard   bool   // discardResponseBodies
	userAgent string // of requests that set none; "" sends none
}

// extraOptions are the k6 options the script runtime itself uses.
type extraOptions struct {
	HandleSummaryTimeout time.Duration
	Throw                bool
	Batch, BatchPerHost  *int64 // nil: k6's defaults (20, 6); 0: no limit
}

// extraKeys are the option keys of extraOptions: the runtime takes them
// out before the engine reads the rest.
var extraKeys = []string{"handleSummaryTimeout", "throw", "batch", "batchPerHost"}

// batchLimit reads the batch or batchPerHost option: a count >= 0.
func batchLimit(v json.RawMessage) (*int64, error) {
	var n int64
	if err := json.Unmarshal(v, &n); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("must be >= 0, got %d", n)
	}
	return &n, nil
}

// batchLimits are the limits of http.batch: k6's batch and batchPerHost,
// where 0 means no limit.
func (o extraOptions) batchLimits() k6http.BatchLimits {
	var l k6http.BatchLimits
	for _, x := range []struct {
		opt *int64
		lim *int
	}{{o.Batch, &l.Parallel}, {o.BatchPerHost, &l.PerHost}} {
		switch {
		case x.opt == nil:
		case *x.opt == 0:
			*x.lim = -1
		default:
			*x.lim = int(*x.opt)
		}
	}
	return l
}

// Options returns the script's `export const options`, as the engine reads
// them; the zero value when the script has none.
func (p *Program) Options() loadtest.K6Options { return p.k6opts }

// RawOptions returns the script's options as JSON (what
// JSON.stringify(options) gives), or nil when it exports none.
func (p *Program) RawOptions() json.RawMessage { return slices.Clone(p.rawOpts) }

// Metrics returns the custom metrics the script's init code declares, for
// Plan.Metrics: thresholds may then name them.
func (p *Program) Metrics() []metrics.Metric {
	p.metricsMu.Lock()
	defer p.metricsMu.Unlock()
	return slices.Clone(p.metrics)
}

// Execs implements loadtest.ExecLister: the exported functions.
func (p *Program) Execs() []string { return slices.Clone(p.execs) }

// HasHandleSummary reports whether the script exports handleSummary.
func (p *Program) HasHandleSummary() bool { return p.exported["handleSummary"] }

// HandleSummaryTimeout returns the script's handleSummaryTimeout option,
// or k6's default of 120 s.
func (p *Program) HandleSummaryTimeout() time.Duration {
	if d := p.extraOps.HandleSummaryTimeout; d > 0 {
		return d
	}
	return DefaultHandleSummaryTimeout
}

func (p *Program) extra() extraOptions { return p.extraOps }

// setFinal records the options the run uses (exec.test.options, the
// scenarios' configs, system tags).
func (p *Program) setFinal(o loadtest.K6Options) {
	st := &runSettings{options: json.RawMessage("{}")}
	var plan loadtest.Plan
	if _, err := o.Apply(&plan); err == nil {
		st.scenarios = plan.Scenarios
	}
	sys := o.Options.SystemTags
	st.sysVU, st.sysIter = slices.Contains(sys, "vu"), slices.Contains(sys, "iter")
	st.discard = o.Options.DiscardResponseBodies
	st.userAgent = k6http.DefaultUserAgent
	if ua := o.Options.UserAgent; ua != nil {
		st.userAgent = *ua
	}
	st.options = p.consolidated(o, st.scenarios)
	p.settings.Store(st)
}

// consolidated is exec.test.options: k6's option keys with their
// defaults, under the run's options and the scenarios they resolve to.
func (p *Program) consolidated(o loadtest.K6Options, scs scenarios.Scenarios) json.RawMessage {
	m := map[string]any{
		"paused": nil, "executionSegment": nil, "executionSegmentSequence": nil, "noSetup": nil,
		"setupTimeout": "60s", "noTeardown": nil, "teardownTimeout": "60s", "handleSummaryTimeout": "120s",
		"rps": nil, "dns": map[string]any{"ttl": "5m", "select": "random", "policy": "preferIPv4"},
		"maxRedirects": 10, "userAgent": k6http.DefaultUserAgent, "batch": 20, "batchPerHost": 6,
		"httpDebug": nil, "insecureSkipTLSVerify": nil, "tlsCipherSuites": nil, "tlsVersion": nil,
		"tlsAuth": nil, "throw": nil, "thresholds": nil, "blacklistIPs": nil, "blockHostnames": nil,
		"hosts": nil, "noConnectionReuse": nil, "noVUConnectionReuse": nil, "minIterationDuration": nil,
		"ext": nil, "summaryTrendStats": []string{"avg", "min", "med", "max", "p(90)", "p(95)"},
		"summaryTimeUnit": nil, "systemTags": k6http.DefaultSystemTags(), "tags": nil,
		"metricSamplesBufferSize": nil, "noCookiesReset": nil, "discardResponseBodies": nil,
		"features": nil, "consoleOutput": nil, "localIPs": nil,
	}
	var layers []map[string]json.RawMessage
	for _, b := range [][]byte{p.rawOpts, rawJSON(o)} {
		var l map[string]json.RawMessage
		if json.Unmarshal(b, &l) == nil {
			layers = append(layers, l)
		}
	}
	for _, l := range layers {
		for k, v := range l {
			switch k {
			case "vus", "duration", "iterations", "stages":
				continue // k6 shows the scenarios they make
			}
			m[k] = v
		}
	}
	if scs != nil {
		m["scenarios"] = scs
	}
	return rawJSON(m)
}

func (p *Program) run() *runSettings {
	if st := p.settings.Load(); st != nil {
		return st
	}
	return &runSettings{options: json.RawMessage("{}")}
}

// testOptions returns the options exec.test.options shows.
func (p *Program) testOptions() json.RawMessage { return p.run().options }

// scenarioConfig returns the config of the named scenario, or nil.
func (p *Program) scenarioConfig(name string) scenarios.Config { return p.run().scenarios[name] }

// discardBodies reports whether response bodies are discarded by default.
func (p *Program) discardBodies() bool { return p.run().discard }

// systemMetadata reports whether the run's system tags include vu and
// iter (k6 writes them as sample metadata).
func (p *Program) systemMetadata() (vu, iter bool) {
	st := p.run()
	return st.sysVU, st.sysIter
}

// declareMetric records a custom metric that init code declares.
func (p *Program) declareMetric(m metrics.Metric) error {
	p.metricsMu.Lock()
	defer p.metricsMu.Unlock()
	for _, have := range p.metrics {
		if have.Name == m.Name {
			if have.Type != m.Type || have.Contains != m.Contains {
				return fmt.Errorf("metric %q is already declared as a %s of %s values", m.Name, have.Type, have.Contains)
			}
			return nil
		}
	}
	p.metrics = append(p.metrics, m)
	return nil
}

// inspect runs the init code once, as k6's VU 0, to read the options, the
// custom metrics and the exported functions.
func (p *Program) inspect(ctx context.Context) error {
	vu, err := p.newVU(ctx, nil, 0)
	if err != nil {
		return err
	}
	p.exported = map[string]bool{}
	for _, k := range vu.ns.Keys() {
		if _, ok := sobek.AssertFunction(vu.ns.Get(k)); ok {
			p.exported[k] = true
			p.execs = append(p.execs, k)
		}
	}
	slices.Sort(p.execs)
	ov := vu.ns.Get("options")
	if isNullish(ov) {
		p.setFinal(p.k6opts)
		return nil
	}
	raw, err := vu.stringify(ov)
	if err != nil {
		return newScriptError(err, "init")
	}
	if raw == nil {
		p.setFinal(p.k6opts)
		return nil
	}
	p.rawOpts = raw
	if err := p.parseOptions(raw); err != nil {
		return err
	}
	p.setFinal(p.k6opts)
	return nil
}

// parseOptions splits the script's options into the engine's and the
// runtime's own.
func (p *Program) parseOptions(raw []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return fmt.Errorf("%w: options: want an object: %w", loadtest.ErrInvalidPlan, err)
	}
	var errs []error
	for _, k := range extraKeys {
		v, ok := all[k]
		if !ok {
			continue
		}
		delete(all, k)
		if string(v) == "null" {
			continue
		}
		var err error
		switch k {
		case "handleSummaryTimeout":
			var d duration.Duration
			if err = json.Unmarshal(v, &d); err == nil && d <= 0 {
				err = fmt.Errorf("must be > 0, got %s", time.Duration(d))
			}
			p.extraOps.HandleSummaryTimeout = time.Duration(d)
		case "throw":
			err = json.Unmarshal(v, &p.extraOps.Throw)
		case "batch":
			p.extraOps.Batch, err = batchLimit(v)
		case "batchPerHost":
			p.extraOps.BatchPerHost, err = batchLimit(v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("options.%s: %w", k, err))
		}
	}
	o, err := loadtest.DecodeK6Options(rawJSON(all))
	if err != nil {
		errs = append(errs, err)
	}
	p.k6opts = o
	if err := errors.Join(errs...); err != nil {
		return loadtest.Invalid(err)
	}
	return nil
}

// NewVU implements loadtest.Program: a new runtime that has run the
// script's init code, for the engine's VU state.
//
// The engine's VU 0 runs setup and teardown: when the script has neither,
// its init code is not run for it (k6 would run it and then do nothing);
// otherwise Setup and Teardown use the runtime made here.
func (p *Program) NewVU(ctx context.Context, state *loadtest.VU) (loadtest.VUCode, error) {
	if state.ID() == 0 && !p.exported["setup"] && !p.exported["teardown"] {
		return idleVU{}, nil
	}
	vu, err := p.newVU(ctx, state, state.ID())
	if err != nil {
		return nil, err
	}
	if state.ID() == 0 {
		p.zeroVUs.Store(state, vu)
	}
	return vu, nil
}

// idleVU is the code of an engine VU 0 when there is no setup or teardown.
type idleVU struct{}

func (idleVU) Run(context.Context, string) error { return nil }

// zeroVU returns the runtime NewVU made for the engine's VU 0, or makes
// one.
func (p *Program) zeroVU(ctx context.Context, state *loadtest.VU) (*VU, error) {
	if v, ok := p.zeroVUs.LoadAndDelete(state); ok {
		return v.(*VU), nil
	}
	return p.newVU(ctx, state, 0)
}

// Setup implements loadtest.Setupper: it runs the script's setup() in a
// VU of its own and returns its result as JSON (nil when it returns
// undefined). Without setup() it does nothing.
func (p *Program) Setup(ctx context.Context, state *loadtest.VU) (json.RawMessage, error) {
	if !p.exported["setup"] {
		p.zeroVUs.Delete(state)
		return nil, nil
	}
	vu, err := p.zeroVU(ctx, state)
	if err != nil {
		return nil, err
	}
	ret, err := vu.call(ctx, "setup", vu.export("setup"))
	vu.unwatch()
	if err != nil {
		return nil, err
	}
	if ret == nil || sobek.IsUndefined(ret) {
		return nil, nil
	}
	b, err := vu.stringify(ret)
	if err != nil {
		return nil, newScriptError(err, "setup")
	}
	return b, nil
}

// Teardown implements loadtest.Teardowner: it runs teardown(data) in a VU
// of its own. Without teardown() it does nothing.
func (p *Program) Teardown(ctx context.Context, state *loadtest.VU, data json.RawMessage) error {
	if !p.exported["teardown"] {
		p.zeroVUs.Delete(state)
		return nil
	}
	vu, err := p.zeroVU(ctx, state)
	if err != nil {
		return err
	}
	arg := sobek.Undefined()
	if len(data) > 0 {
		if arg, err = vu.parseJSON(data); err != nil {
			return newScriptError(err, "teardown")
		}
	}
	_, err = vu.call(ctx, "teardown", vu.export("teardown"), arg)
	vu.unwatch()
	return err
}

// HandleSummary runs the script's handleSummary(data) in a VU of its own,
// within HandleSummaryTimeout, and returns what it returned: contents by
// "stdout", "stderr" or a file path. ok is false when the script has no
// handleSummary or it returned nothing; then k6 prints its default
// summary. Writing the files and printing is the caller's job; so is
// printing the default summary when ok is true but outputs has no
// "stdout" (k6 then prints none). An exception is returned as a
// *ScriptError; k6 logs it and prints the default summary.
func (p *Program) HandleSummary(ctx context.Context, data loadtest.SummaryData) (outputs map[string][]byte, ok bool, err error) {
	if !p.HasHandleSummary() {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.HandleSummaryTimeout())
	defer cancel()
	vu, err := p.newVU(ctx, nil, 0)
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, false, fmt.Errorf("handleSummary: summary data: %w", err)
	}
	arg, err := vu.parseJSON(b)
	if err != nil {
		return nil, false, fmt.Errorf("handleSummary: summary data: %w", err)
	}
	ret, err := vu.call(ctx, "handleSummary", vu.export("handleSummary"), arg)
	vu.unwatch()
	if err != nil {
		return nil, false, err
	}
	if isNullish(ret) {
		return nil, false, nil
	}
	obj, isObj := ret.(*sobek.Object)
	if !isObj {
		return nil, false, &ScriptError{Phase: "handleSummary", Message: fmt.Sprintf("TypeError: handleSummary must return an object, got %s", ret.String())}
	}
	outputs = map[string][]byte{}
	for _, k := range obj.Keys() {
		v := obj.Get(k)
		if b, isBuf := vu.bytesOf(v); isBuf {
			outputs[k] = slices.Clone(b)
			continue
		}
		outputs[k] = []byte(v.String())
	}
	return outputs, true, nil
}
