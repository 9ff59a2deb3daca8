package js

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/metrics"
)

// builtinModules returns k6's modules that loadlens has, by import path.
func builtinModules() map[string]Module {
	return map[string]Module{
		"k6":                         &builtin{names: []string{"check", "fail", "group", "randomSeed", "sleep"}, inst: k6Module},
		"k6/http":                    httpModule(),
		"k6/metrics":                 &builtin{names: []string{"Counter", "Gauge", "Rate", "Trend"}, inst: metricsModule},
		"k6/execution":               &builtin{names: []string{"instance", "scenario", "test", "vu"}, inst: executionModule},
		"k6/data":                    &builtin{names: []string{"SharedArray"}, inst: dataModule},
		"k6/encoding":                &builtin{names: []string{"b64decode", "b64encode"}, inst: encodingModule},
		"k6/crypto":                  &builtin{names: cryptoExportNames(), inst: cryptoModule},
		"k6/html":                    &builtin{names: []string{"parseHTML"}, inst: htmlModule},
		"k6/secrets":                 &builtin{names: []string{"get", "source"}, inst: secretsModule},
		"k6/experimental/fs":         &builtin{names: []string{"SeekMode", "open"}, inst: fsModule},
		"k6/experimental/csv":        &builtin{names: []string{"Parser", "parse"}, inst: csvModule},
		"k6/net/grpc":                &builtin{names: grpcExportNames(), inst: grpcModule},
		"k6/ws":                      &builtin{names: []string{"connect"}, inst: wsModule},
		"k6/websockets":              &builtin{names: []string{"WebSocket"}, inst: websocketsModule},
		"k6/experimental/websockets": &builtin{names: []string{"WebSocket"}, inst: experimentalWebsocketsModule},
		"k6/timers":                  &builtin{names: []string{"clearInterval", "clearTimeout", "setInterval", "setTimeout"}, inst: timersModule},
	}
}

// builtinNames lists the import paths of k6's modules that loadlens has.
func builtinNames() []string {
	var names []string
	for k := range builtinModules() {
		if strings.HasPrefix(k, "k6") {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// k6Module is k6: check, group, sleep, fail, randomSeed.
func k6Module(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"check": vu.check, "group": vu.group, "sleep": vu.sleep, "fail": vu.fail, "randomSeed": vu.randomSeed,
	}}, nil
}

// check implements check(value, checks, tags): one checks sample per
// check, true when all passed. A check function that throws counts as
// failed and its exception goes on.
func (vu *VU) check(call sobek.FunctionCall) sobek.Value {
	vu.mustNotInit("check()")
	st := vu.state
	if st == nil {
		vu.throwf("check() needs a running test")
	}
	if len(call.Arguments) < 2 {
		vu.throwf("no checks provided to `check`")
	}
	val := call.Argument(0)
	// As in k6: null and undefined throw a TypeError, a string's
	// characters are checks named by their index, a number has none.
	sets := call.Arguments[1].ToObject(vu.rt)
	var extra metrics.Tags
	if tags, ok := call.Argument(2).(*sobek.Object); ok {
		extra = vu.tagsOf(tags)
	}
	all := true
	for _, name := range sets.Keys() {
		if strings.Contains(name, "::") {
			vu.throwf("group and check names may not contain '::'")
		}
		v := sets.Get(name)
		passed := false
		var thrown error
		if fn, isFn := sobek.AssertFunction(v); isFn {
			res, err := fn(sobek.Undefined(), val)
			switch {
			case err != nil:
				thrown = err
			case isPromise(res):
				vu.throwf("the built-in check() does not support async functions as arguments. " +
					"Use the JavaScript utils library as a replacement. " +
					"Refer to https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/check/ for more info")
			default:
				passed = res.ToBoolean()
			}
		} else {
			passed = v.ToBoolean()
		}
		if extra.Len() == 0 {
			st.Check(name, passed)
		} else {
			value := 0.0
			if passed {
				value = 1
			}
			t := st.Tags().Merge(extra).With("check", name)
			st.Emit(metrics.Sample{Metric: st.Registry().Get(metrics.Checks), Value: value, Tags: t})
		}
		if thrown != nil {
			vu.throwError(thrown)
		}
		all = all && passed
	}
	return vu.rt.ToValue(all)
}

func isPromise(v sobek.Value) bool {
	if o, ok := v.(*sobek.Object); ok {
		_, p := o.Export().(*sobek.Promise)
		return p
	}
	return false
}

// tagsOf reads a tags object: values are strings (numbers and booleans
// are converted; objects are dropped with a warning, as in k6).
func (vu *VU) tagsOf(o *sobek.Object) metrics.Tags {
	keys := o.Keys()
	if len(keys) == 0 {
		return metrics.Tags{}
	}
	kv := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		v := o.Get(k)
		if isNullish(v) {
			continue
		}
		if _, isObj := v.(*sobek.Object); isObj {
			vu.prog.logger.Warn("tag values must be strings, numbers or booleans; dropping the tag", "tag", k)
			continue
		}
		kv = append(kv, k, v.String())
	}
	return metrics.NewTags(kv...)
}

// group implements group(name, fn): it runs fn inside the group and
// returns what fn returns.
func (vu *VU) group(call sobek.FunctionCall) sobek.Value {
	vu.mustNotInit("group()")
	name := call.Argument(0).String()
	fn, ok := sobek.AssertFunction(call.Argument(1))
	if !ok {
		vu.throwf("group() requires a callback as a second argument")
	}
	// As k6: an async function is refused before it runs; a function
	// that returns a promise is not.
	if tag := call.Argument(1).(*sobek.Object).GetSymbol(sobek.SymToStringTag); tag != nil && tag.String() == "AsyncFunction" {
		vu.throwf("group() does not support async functions as arguments, " +
			"please see https://grafana.com/docs/k6/latest/javascript-api/k6/group/ for more info")
	}
	if vu.state == nil {
		vu.throwf("group() needs a running test")
	}
	var ret sobek.Value
	err := vu.state.Group(name, func() error {
		var err error
		ret, err = fn(sobek.Undefined())
		return err
	})
	if err != nil {
		vu.throwError(err)
	}
	return ret
}

// sleep implements sleep(seconds); it ends early when the iteration is
// interrupted.
func (vu *VU) sleep(call sobek.FunctionCall) sobek.Value {
	secs := call.Argument(0).ToFloat()
	if !(secs > 0) {
		return sobek.Undefined()
	}
	d := time.Duration(secs * float64(time.Second))
	if vu.state != nil {
		_ = vu.state.Sleep(vu.ctx, d) // an interruption stops the runtime by itself
		return sobek.Undefined()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-vu.ctx.Done():
	}
	return sobek.Undefined()
}

// fail implements fail(message): it throws, ending the iteration.
func (vu *VU) fail(call sobek.FunctionCall) sobek.Value {
	msg := "fail"
	if a := call.Argument(0); !sobek.IsUndefined(a) {
		msg = a.String()
	}
	panic(vu.rt.NewGoError(failError(msg)))
}

type failError string

func (e failError) Error() string { return string(e) }

// randomSeed implements randomSeed(seed): Math.random repeats for a seed.
func (vu *VU) randomSeed(call sobek.FunctionCall) sobek.Value {
	seed := uint64(call.Argument(0).ToInteger())
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vu.rt.SetRandSource(r.Float64)
	return sobek.Undefined()
}

// timersModule is k6/timers.
func timersModule(vu *VU) (Exports, error) {
	named := map[string]any{}
	for k, fn := range vu.timerFuncs() {
		named[k] = fn
	}
	return Exports{Named: named}, nil
}
