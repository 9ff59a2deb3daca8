package js

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlatAsModule runs each script twice, flattened (see flatModule) and
// evaluated as a module (a last line with import.meta keeps it from being
// flattened), and checks that both give the same exports, the same
// results and the same errors, positions and stacks included.
func TestFlatAsModule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, code string }{
		{"this and strict mode", `import http from 'k6/http';
export default function () { return [typeof this, (function () { return this === undefined })()].join(); }`},
		{"imports", `import http, { get as g } from 'k6/http';
import { check as c, sleep } from 'k6';
import 'k6/metrics';
export default function () { return [typeof http.get, typeof g, typeof c, typeof sleep, require('k6/http') === http].join(); }`},
		{"an import is constant", `import { check } from 'k6';
export default function () { try { check = 1; return 'assigned'; } catch (e) { return e.name + ': ' + e.message; } }`},
		{"anonymous default function's name", `import { check } from 'k6';
export default function () { return (0, eval)('1') + ' ' + new Error('x').stack; }`},
		{"named default function", `import { check } from 'k6';
export default function main() { return main.name; }`},
		{"default expression", `import { check } from 'k6';
export default {
  a: 1 }`},
		{"default arrow", "import { check } from 'k6';\nexport default () => { return 'arrow'; }"},
		{"default arrow with an expression body (module)", "import { check } from 'k6';\nexport default () => 'arrow'"},
		{"namespace import (module)", "import * as k6 from 'k6';\nexport default function () { return typeof k6.check; }"},
		{"file import (module)", "import { x } from './lib.js';\nexport default function () { return x; }"},
		{"default class", "import { check } from 'k6';\nexport default class { run() { return 'class'; } }\n"},
		{"exports, live", `import { check } from 'k6';
export let counter = 0;
export var v = 1, w = 2;
const hidden = 3;
export { hidden as shown };
export function inc() { counter++; return counter; }
export class K {}
export const options = { vus: 2 };
export default function () { inc(); return counter; }`},
		{"exception in init", `import http from 'k6/http';
const x = 1;
throw new Error('boom ' + x);
export default function () {}`},
		{"exception in default", `import http from 'k6/http';
function inner() { null.x; }
export default function () {
  inner();
}`},
		{"code on line 1 (module)", `import { check } from 'k6'; export default function () { undefinedName(); }`},
		{"exception on line 1 after a comment", `// a comment is no code
import { check } from 'k6'; export default function () { undefinedName(); }`},
		{"comments and ASI", `// leading
import /* a */ { check } /* b */ from 'k6' // c
export /* d */ const a = 1
export default function () { return a }
(function () {})`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			flat := outcomeOf(t, tc.code, !strings.HasSuffix(tc.name, "(module)"))
			module := outcomeOf(t, tc.code+"\n;void import.meta;\n", false)
			assert.Equal(t, module, flat)
		})
	}
}

// flatOutcome is what a script did, for comparison.
type flatOutcome struct {
	Exports  []string
	Result   string
	Counter  string
	Err      string
	Position [3]any
	Stack    string
}

func outcomeOf(t *testing.T, code string, wantFlat bool) flatOutcome {
	t.Helper()
	var o flatOutcome
	fsys := fstest.MapFS{"lib.js": {Data: []byte("export const x = 'lib';\n")}}
	prog, err := Load(t.Context(), Source{Code: []byte(code), FS: fsys}, Options{})
	if err != nil {
		describeErr(&o, err)
		return o
	}
	assert.Equal(t, wantFlat, prog.loader.flat != nil, "flattened")
	vu, err := prog.newVU(t.Context(), nil, 1)
	require.NoError(t, err)
	o.Exports = vu.ns.Keys()
	if vu.export("default") == nil {
		b, err := vu.stringify(vu.ns.Get("default"))
		require.NoError(t, err)
		o.Result = string(b)
		return o
	}
	ret, err := vu.call(t.Context(), "default", vu.export("default"))
	if err != nil {
		describeErr(&o, err)
		return o
	}
	o.Result = ret.String()
	if c := vu.ns.Get("counter"); c != nil {
		o.Counter = c.String()
	}
	if fn := vu.ns.Get("default"); fn != nil {
		o.Result += " / name " + fn.ToObject(vu.rt).Get("name").String()
	}
	return o
}

func describeErr(o *flatOutcome, err error) {
	o.Err = err.Error()
	var se *ScriptError
	if errors.As(err, &se) {
		o.Position = [3]any{se.File, se.Line, se.Column}
		o.Stack = strings.TrimSpace(se.Stack)
	}
}

// TestEnvPerVU checks that __ENV reads the run's variables and that what
// one VU's script sets or deletes in it stays in that VU.
func TestEnvPerVU(t *testing.T) {
	t.Parallel()
	prog, err := Load(t.Context(), Source{Code: []byte(`// __ENV
export default function () {
  const before = JSON.stringify(__ENV);
  __ENV.B = 'vu' + __VU;
  delete __ENV.A;
  return [before, JSON.stringify(__ENV), Object.keys(__ENV).join(), 'A' in __ENV, __ENV.hasOwnProperty('B'), typeof __ENV.NONE].join(' ');
}`)}, Options{Env: map[string]string{"A": "1", "C": "3"}})
	require.NoError(t, err)
	for _, id := range []uint64{1, 2} {
		vu, err := prog.newVU(t.Context(), nil, id)
		require.NoError(t, err)
		ret, err := vu.call(t.Context(), "default", vu.export("default"))
		require.NoError(t, err)
		assert.Equal(t, `{"A":"1","C":"3"} {"B":"vu`+string(rune('0'+id))+`","C":"3"} B,C false true undefined`, ret.String())
	}
}

// TestTypicalScriptsRunFlat guards the biggest saving in a VU's memory:
// scripts shaped as k6's documentation writes them run flat, not as
// modules (about 20 KB more per VU; see flatModule and BenchmarkNewVU).
func TestTypicalScriptsRunFlat(t *testing.T) {
	t.Parallel()
	for name, code := range map[string]string{
		"options, setup, default": `import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Trend, Counter } from 'k6/metrics';

export const options = { vus: 10, duration: '30s', thresholds: { http_req_duration: ['p(95)<500'] } };
const waiting = new Trend('waiting');
const errors = new Counter('errors');

export function setup() { return { base: __ENV.BASE_URL }; }

export default function (data) {
  group('home', () => {
    const res = http.get(data.base + '/');
    check(res, { 'status is 200': (r) => r.status === 200 }) || errors.add(1);
    waiting.add(res.timings.waiting);
  });
  sleep(1);
}

export function handleSummary(data) { return { stdout: JSON.stringify(data.metrics.http_reqs) }; }
`,
		"comment first, named default": `// A smoke test.
import http from 'k6/http';
export default function main() { http.get('http://127.0.0.1/'); }
`,
		"scenarios with exec functions": `import http from 'k6/http';
import exec from 'k6/execution';
export const options = { scenarios: { a: { executor: 'shared-iterations', exec: 'browse' } } };
export function browse() { http.get('http://127.0.0.1/' + exec.vu.idInTest); }
export const teardown = () => {};
`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prog, err := Load(t.Context(), Source{Code: []byte(code)}, Options{})
			require.NoError(t, err)
			assert.NotNil(t, prog.loader.flat, "the script runs flat")
		})
	}
}
