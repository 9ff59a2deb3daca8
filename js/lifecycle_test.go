package js_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grafana/sobek"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

func TestLifecycle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		run   run
		exit  int
		check func(t *testing.T, o outcome)
	}{
		{name: "setup data is a JSON copy for iterations and teardown", exit: 0, run: script(`
import { check } from 'k6';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } } };
export function setup() { return { n: 1, list: [1, 2], when: new Date(0), skip: undefined }; }
export default function (data) {
  if (__ITER === 0) {
    check(data, { 'data': (d) => d.n === 1 && d.list.length === 2 && d.when === '1970-01-01T00:00:00.000Z' && !('skip' in d) });
  } else {
    check(data, { 'a VU keeps its copy, as in k6': (d) => d.n === 99 });
  }
  data.n = 99;
}
export function teardown(data) { console.log('teardown n=' + data.n + ' vu=' + __VU); }
`), check: func(t *testing.T, o outcome) {
			assert.Equal(t, 4.0, metricValue(t, o.res, "checks", "passes"))
			assert.JSONEq(t, `{"n":1,"list":[1,2],"when":"1970-01-01T00:00:00.000Z"}`, string(o.res.SetupData))
			assert.Len(t, o.logs.lines("teardown n=1 vu=0"), 1, o.logs.String())
		}},
		{name: "setup runs in group ::setup and its requests count", exit: 0, run: script(`
import http from 'k6/http';
export function setup() { http.get(__ENV.BASE + '/echo'); }
export default function () {}
`).env("BASE", testServer(t).URL), check: func(t *testing.T, o outcome) {
			assert.Equal(t, 1.0, metricValue(t, o.res, "http_reqs", "count"))
			require.NotEmpty(t, o.res.Endpoints)
			assert.Nil(t, o.res.SetupData)
		}},
		{name: "exception in init", exit: 107, run: script("export default function () {}\nnull.x;\n"), check: func(t *testing.T, o outcome) {
			var se *js.ScriptError
			require.ErrorAs(t, o.err, &se)
			assert.Equal(t, "/script.js", se.File)
			assert.Equal(t, 2, se.Line)
			assert.Contains(t, se.Message, "TypeError")
		}},
		{name: "exception in an imported file names that file", exit: 107,
			run: script("import { x } from './lib/throws.js';\nexport default function () {}\n", "lib/throws.js", "export const x = 1;\n\nnull.boom;\n"),
			check: func(t *testing.T, o outcome) {
				var se *js.ScriptError
				require.ErrorAs(t, o.err, &se)
				assert.Equal(t, "/lib/throws.js", se.File)
				assert.Equal(t, 3, se.Line)
			}},
		{name: "syntax error", exit: 107, run: script("export default function () {\n  let x = ;\n}\n"), check: func(t *testing.T, o outcome) {
			var se *js.ScriptError
			require.ErrorAs(t, o.err, &se)
			assert.Equal(t, "/script.js", se.File)
			assert.Equal(t, 2, se.Line)
			assert.Equal(t, 11, se.Column)
			assert.Contains(t, se.Error(), "/script.js:2:11: SyntaxError")
		}},
		{name: "unknown import", exit: 107, run: script("import x from 'k6/nope';\nexport default function () {}\n"), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, `"k6/nope"`)
		}},
		{name: "unknown named import", exit: 107, run: script("import { nope } from 'k6';\nexport default function () {}\n"), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "nope")
		}},
		{name: "missing file", exit: 107, run: script("import x from './none.js';\nexport default function () {}\n"), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "none.js")
		}},
		{name: "remote import", exit: 107, run: script("import x from 'https://jslib.k6.io/x.js';\nexport default function () {}\n"), check: func(t *testing.T, o outcome) {
			assert.ErrorIs(t, o.err, js.ErrModuleRefused, "no Options.Remote: remote modules are refused")
		}},
		{name: "TypeScript: positions of the TypeScript", exit: 107, run: run{src: js.Source{Filename: "t.ts", FS: fstest.MapFS{}, Code: []byte(
			"interface A { x: number }\nconst a: A = { x: 1 };\nthrow new Error('at ' + a.x);\nexport default function (): void {}\n")}},
			check: func(t *testing.T, o outcome) {
				var se *js.ScriptError
				require.ErrorAs(t, o.err, &se)
				assert.Equal(t, "Error: at 1", se.Message)
				assert.Equal(t, 3, se.Line, "the TypeScript's line, through the source map")
				assert.Equal(t, 6, se.Column, "as k6 reports it")
			}},
		{name: "TypeScript: a syntax error", exit: 107, run: run{src: js.Source{Filename: "t.ts", FS: fstest.MapFS{}, Code: []byte(
			"const a: = 1;\nexport default function () {}\n")}},
			check: func(t *testing.T, o outcome) {
				var se *js.ScriptError
				require.ErrorAs(t, o.err, &se)
				assert.Equal(t, 1, se.Line)
				assert.Contains(t, se.Message, "SyntaxError")
			}},
		{name: "exception in setup", exit: 107, run: script("export function setup() { throw new Error('no data'); }\nexport default function () {}\n"), check: func(t *testing.T, o outcome) {
			var se *js.ScriptError
			require.ErrorAs(t, o.err, &se)
			assert.Equal(t, "setup", se.Phase)
			assert.Equal(t, 1, se.Line)
			assert.Equal(t, "Error: no data", se.Message)
			assert.ErrorIs(t, o.err, loadtest.ErrSetup)
		}},
		{name: "setup timeout", exit: 107, run: script(`
import { sleep } from 'k6';
export const options = { setupTimeout: '200ms' };
export function setup() { sleep(5); }
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorIs(t, o.err, context.DeadlineExceeded)
			assert.ErrorIs(t, o.err, loadtest.ErrSetup)
		}},
		{name: "setup timeout stops a busy loop", exit: 107, run: script(`
export const options = { setupTimeout: '200ms' };
export function setup() { for (;;) {} }
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorIs(t, o.err, context.DeadlineExceeded)
		}},
		{name: "teardown timeout is a warning", exit: 0, run: script(`
export const options = { teardownTimeout: '200ms' };
export default function () {}
export function teardown() { for (;;) {} }
`), check: func(t *testing.T, o outcome) {
			assert.NotEmpty(t, o.res.Warnings)
		}},
		{name: "iteration exception counts and goes on", exit: 0, run: script(`
export const options = { iterations: 3 };
export default function () { throw new Error('iteration ' + __ITER); }
`), check: func(t *testing.T, o outcome) {
			assert.Equal(t, 3.0, metricValue(t, o.res, "iterations", "count"))
			require.Len(t, o.res.IterationErrors, 3)
			assert.Contains(t, o.res.IterationErrors[0].Message, "/script.js:3:")
			assert.Len(t, o.logs.lines("level=ERROR", "source=stacktrace", "Error: iteration"), 3)
		}},
		{name: "abort in an iteration", exit: 108, run: script(`
import exec from 'k6/execution';
import { sleep } from 'k6';
export const options = { vus: 2, duration: '10s' };
export default function () { if (__VU === 1 && __ITER === 2) { exec.test.abort('enough'); } sleep(0.01); }
`), check: func(t *testing.T, o outcome) {
			require.NotNil(t, o.res.Abort)
			assert.Equal(t, "enough", o.res.Abort.Reason)
			assert.Less(t, o.res.Duration, 5*time.Second)
		}},
		{name: "abort cannot be caught", exit: 108, run: script(`
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const after = new Counter('after_abort');
export default function () { try { exec.test.abort(); } catch (e) {} after.add(1); }
`), check: func(t *testing.T, o outcome) {
			_, ok := o.res.Metrics["after_abort"]
			assert.False(t, ok, "no code runs after abort()")
		}},
		{name: "abort in setup", exit: 108, run: script(`
import exec from 'k6/execution';
export function setup() { exec.test.abort('from setup'); }
export default function () {}
`)},
		{name: "abort in init", exit: 108, run: script(`
import exec from 'k6/execution';
exec.test.abort('from init');
export default function () {}
`)},
		{name: "fail marks the test failed and goes on", exit: 110, run: script(`
import exec from 'k6/execution';
export const options = { iterations: 3 };
export default function () { exec.test.fail('bad ' + __ITER); }
`), check: func(t *testing.T, o outcome) {
			assert.Equal(t, 3.0, metricValue(t, o.res, "iterations", "count"))
			assert.Equal(t, "bad 0", o.res.FailedBy)
		}},
		{name: "thresholds crossed", exit: 99, run: script(`
export const options = { iterations: 2, thresholds: { iterations: ['count>5'] } };
export default function () {}
`)},
		{name: "a scenario exec that is missing", exit: 104, run: script(`
export const options = { scenarios: { a: { executor: 'shared-iterations', exec: 'nope' } } };
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "nope")
		}},
		{name: "named exec functions per scenario", exit: 0, run: script(`
import { Counter } from 'k6/metrics';
const hits = new Counter('hits');
export const options = {
  scenarios: {
    first: { executor: 'shared-iterations', iterations: 3, exec: 'one' },
    second: { executor: 'per-vu-iterations', vus: 2, iterations: 2, exec: 'two', startTime: '0s' },
  },
  thresholds: { 'hits{fn:one}': ['count==3'], 'hits{fn:two}': ['count==4'], 'hits{scenario:second}': ['count==4'] },
};
export function one() { hits.add(1, { fn: 'one' }); }
export function two() { hits.add(1, { fn: 'two' }); }
`), check: func(t *testing.T, o outcome) {
			assert.Equal(t, loadtest.StatusPassed, o.res.Status, "%+v", o.res.Thresholds)
			assert.Equal(t, []string{"one", "two"}, o.prog.Execs())
		}},
		{name: "top-level await", exit: 0, run: script(`
const v = await Promise.resolve(5);
export const options = { iterations: 1 };
export default function () { if (v !== 5) throw new Error('no await'); }
`), check: func(t *testing.T, o outcome) {
			assert.Empty(t, o.res.IterationErrors)
		}},
		{name: "async iteration rejection is an iteration error", exit: 0, run: script(`
export const options = { iterations: 1 };
export default async function () { await null; throw new Error('late'); }
`), check: func(t *testing.T, o outcome) {
			require.Len(t, o.res.IterationErrors, 1)
			assert.Contains(t, o.res.IterationErrors[0].Message, "late")
		}},
		{name: "a runaway iteration is interrupted at gracefulStop", exit: 0, run: script(`
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '100ms' } } };
export default function () { for (;;) {} }
`), check: func(t *testing.T, o outcome) {
			require.Len(t, o.res.Scenarios, 1)
			assert.EqualValues(t, 1, o.res.Scenarios[0].Interrupted)
			assert.Less(t, o.res.Duration, 5*time.Second)
		}},
		{name: "a sleeping iteration is interrupted at gracefulStop", exit: 0, run: script(`
import { sleep } from 'k6';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '0s' } } };
export default function () { sleep(30); }
`), check: func(t *testing.T, o outcome) {
			assert.EqualValues(t, 2, o.res.Scenarios[0].Interrupted)
			assert.Less(t, o.res.Duration, 5*time.Second)
		}},
		{name: "the throw option makes network errors exceptions", exit: 0, run: script(`
import http from 'k6/http';
export const options = { iterations: 1, throw: true };
export default function () { http.get('http://127.0.0.1:1/'); }
`), check: func(t *testing.T, o outcome) {
			require.Len(t, o.res.IterationErrors, 1)
			assert.Contains(t, o.res.IterationErrors[0].Message, "http://127.0.0.1:1/")
		}},
		{name: "without throw a network error is data", exit: 0, run: script(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () { check(http.get('http://127.0.0.1:1/'), { refused: (r) => r.status === 0 && r.error_code === 1212 }); }
`), check: func(t *testing.T, o outcome) {
			assert.Empty(t, o.res.IterationErrors)
			assert.Equal(t, 1.0, metricValue(t, o.res, "checks", "passes"))
		}},
		{name: "open() stays inside the script's file system", exit: 107, run: script(`
const secret = open('../../../etc/hostname');
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "open(")
		}},
		// k6: "GoError: stat /no/such/dir/data.txt: no such file or
		// directory"; loadlens named it "no/such/dir/data.txt".
		{name: "open() names a missing file by its whole path", exit: 107, run: script(`
const data = open('/no/such/dir/data.txt');
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, `open("/no/such/dir/data.txt"): open /no/such/dir/data.txt: file does not exist`)
		}},
		{name: "a missing import is named by its whole path", exit: 107, run: script(`
import x from './lib/nope.js';
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, `open /lib/nope.js: file does not exist`)
		}},
		{name: "requests in init are refused", exit: 107, run: script(`
import http from 'k6/http';
http.get('http://127.0.0.1:1/');
export default function () {}
`), check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "init context")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := c.run.exec(t)
			assert.Equal(t, c.exit, o.exit, "exit code; err: %v\n%s", o.err, o.logs.String())
			if c.check != nil {
				c.check(t, o)
			}
		})
	}
}

func TestHandleSummary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		code  string
		ok    bool
		err   string
		check func(t *testing.T, out map[string][]byte)
	}{
		{name: "outputs", ok: true, code: `
export default function () {}
export function handleSummary(data) {
  return {
    stdout: 'iterations=' + data.metrics.iterations.values.count + '\n',
    stderr: 'keys=' + Object.keys(data).join(','),
    'out/summary.json': JSON.stringify(data),
    'bin.dat': new Uint8Array([1, 2, 3]).buffer,
  };
}`, check: func(t *testing.T, out map[string][]byte) {
			assert.Equal(t, "iterations=1\n", string(out["stdout"]))
			assert.Equal(t, "keys=root_group,options,state,metrics", string(out["stderr"]))
			assert.Equal(t, []byte{1, 2, 3}, out["bin.dat"])
			assert.Contains(t, string(out["out/summary.json"]), `"root_group"`)
		}},
		{name: "returns nothing", ok: false, code: "export default function () {}\nexport function handleSummary() {}\n"},
		{name: "no handleSummary", ok: false, code: "export default function () {}\n"},
		{name: "throws", err: "Error: no summary", code: "export default function () {}\nexport function handleSummary() { throw new Error('no summary'); }\n"},
		{name: "timeout", err: "deadline", code: `
export const options = { handleSummaryTimeout: '100ms' };
export default function () {}
export function handleSummary() { for (;;) {} }`},
		{name: "async", ok: true, code: `
export default function () {}
export async function handleSummary(data) { await null; return { stdout: 'async' }; }`, check: func(t *testing.T, out map[string][]byte) {
			assert.Equal(t, "async", string(out["stdout"]))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := script(c.code).exec(t)
			require.NoError(t, o.err)
			if c.err != "" {
				assert.ErrorContains(t, o.hsErr, c.err)
				return
			}
			require.NoError(t, o.hsErr)
			assert.Equal(t, c.ok, o.hsOK)
			if c.check != nil {
				c.check(t, o.summary)
			}
		})
	}
}

// TestOptionsLayers checks k6's precedence: CLI flags over the script's
// options over the base layer.
func TestOptionsLayers(t *testing.T) {
	t.Parallel()
	src := js.Source{Code: []byte(`
export const options = { vus: 3, iterations: 9, thresholds: { iterations: ['count>0'] }, tags: { from: 'script' }, handleSummaryTimeout: '5s' };
export default function () {}
`)}
	base, err := loadtest.DecodeK6Options([]byte(`{"vus": 7, "duration": "1m", "userAgent": "base"}`))
	require.NoError(t, err)
	top, err := loadtest.DecodeK6Options([]byte(`{"vus": 2, "iterations": 4, "thresholds": {"checks": ["rate>0"]}}`))
	require.NoError(t, err)
	plan, prog, _, err := js.Plan(t.Context(), src, base, top, js.Options{})
	require.NoError(t, err)
	require.IsType(t, scenarios.SharedIterations{}, plan.Scenarios["default"])
	si := plan.Scenarios["default"].(scenarios.SharedIterations)
	assert.Equal(t, int64(2), si.VUs)
	assert.Equal(t, int64(4), si.Iterations)
	assert.Contains(t, plan.Thresholds, "iterations")
	assert.Contains(t, plan.Thresholds, "checks")
	assert.Equal(t, "script", plan.Options.Tags["from"])
	assert.Equal(t, new("base"), plan.Options.UserAgent)
	assert.Equal(t, 5*time.Second, prog.HandleSummaryTimeout())
	assert.Same(t, prog, plan.Program)

	_, _, _, err = js.Plan(t.Context(), js.Source{Code: []byte(`export const options = { vus: 'many' }; export default function () {}`)},
		loadtest.K6Options{}, loadtest.K6Options{}, js.Options{})
	assert.ErrorIs(t, err, loadtest.ErrInvalidPlan)
	assert.ErrorContains(t, err, "options.vus")
}

// TestExtension checks the extension registry: a Go module under k6/x/.
func TestExtension(t *testing.T) {
	t.Parallel()
	var made int
	counter := js.ModuleFunc(func(vu *js.VU) (js.Exports, error) {
		made++
		n := 0
		return js.Exports{Named: map[string]any{
			"next":    func() int { n++; return n },
			"vu":      func(sobek.FunctionCall) sobek.Value { return vu.Runtime().ToValue(vu.ID()) },
			"running": func() bool { return vu.State() != nil && !vu.InitContext() },
		}}, nil
	})
	o := script(`
import { next, vu, running } from 'k6/x/counter';
import counter from 'k6/x/counter';
import { check } from 'k6';
export const options = { iterations: 2 };
export default function () {
  check(null, { 'next': () => next() === __ITER + 1, 'default export': () => typeof counter.next === 'function', 'vu': () => vu() === __VU, 'running': () => running() });
}`).withModules(map[string]js.Module{"k6/x/counter": counter}).exec(t)
	require.NoError(t, o.err)
	checks(t, o.res)
	assert.Equal(t, 8.0, metricValue(t, o.res, "checks", "passes"))
	assert.Equal(t, 2, made, "VU 0 and the one VU instantiate it")

	_, err := js.Load(t.Context(), js.Source{Code: []byte("import x from 'k6/x/none'; export default function () {}")}, js.Options{})
	assert.ErrorIs(t, err, js.ErrScript)
	assert.ErrorContains(t, err, "no such extension")
	_, err = js.Load(t.Context(), js.Source{Code: []byte("export default function () {}")}, js.Options{Modules: map[string]js.Module{"hello": counter}})
	assert.ErrorContains(t, err, `modules["hello"]`)
}

func (r run) withModules(m map[string]js.Module) run {
	r.opts.Modules = m
	return r
}

// TestGroupLeftByAnException: an iteration that throws inside group()
// leaves the group; the next iteration's checks are at the root again
// (the same paths as k6 v2.2.0's summary export).
func TestGroupLeftByAnException(t *testing.T) {
	t.Parallel()
	o := script(`
import { check, group } from 'k6';
export const options = { iterations: 3, vus: 1 };
export default function () {
  check(1, { ['iteration ' + __ITER]: () => true }); // a new name each time: no cached tags
  if (__ITER === 0) {
    group('g', () => { throw new Error('left by an exception'); });
  }
}
`).exec(t)
	require.NoError(t, o.err)
	var paths []string
	for _, c := range o.res.RootGroup.Checks {
		paths = append(paths, c.Path)
	}
	assert.Equal(t, []string{"::iteration 0", "::iteration 1", "::iteration 2"}, paths, "groups: %+v", o.res.RootGroup.Groups)
	assert.Len(t, o.logs.lines("left by an exception"), 1)
}
