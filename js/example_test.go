package js_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// A script's options, custom metrics and exported functions are known
// once it is loaded.
func ExampleLoad() {
	prog, err := js.Load(context.Background(), js.Source{Filename: "script.js", Code: []byte(`
import { Trend } from 'k6/metrics';
const latency = new Trend('checkout_latency', true);
export const options = { vus: 10, duration: '30s', thresholds: { checkout_latency: ['p(95)<300'] } };
export function setup() {}
export default function () {}
`)}, js.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("execs:", prog.Execs())
	fmt.Println("vus:", *prog.Options().VUs, "duration:", *prog.Options().Duration)
	fmt.Println("metrics:", prog.Metrics())
	// Output:
	// execs: [default setup]
	// vus: 10 duration: 30s
	// metrics: [{checkout_latency trend time}]
}

// Plan layers CLI flags over the script's options; the plan runs on the
// engine like any other.
func ExamplePlan() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	src := js.Source{Filename: "script.js", Code: []byte(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 5, duration: '1m' };
export default function () {
  check(http.get(__ENV.BASE_URL), { 'status is 200': (r) => r.status === 200 });
}
`)}
	flags, _ := loadtest.DecodeK6Options([]byte(`{"vus": 2, "iterations": 6}`)) // -u 2 -i 6
	ctx := context.Background()
	plan, _, _, err := js.Plan(ctx, src, loadtest.K6Options{}, flags, js.Options{Env: map[string]string{"BASE_URL": srv.URL}})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := loadtest.Run(ctx, plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.Metrics["checks"].Values["passes"], "checks passed")
	// Output: passed 6 checks passed
}

// Extensions are Go modules the script imports from k6/x/...; a custom
// binary passes its own in Options.Modules.
func ExampleModuleFunc() {
	upper := js.ModuleFunc(func(vu *js.VU) (js.Exports, error) {
		return js.Exports{Named: map[string]any{
			"shout": func(call sobek.FunctionCall) sobek.Value {
				return vu.Runtime().ToValue(call.Argument(0).String() + "!")
			},
		}}, nil
	})
	prog, err := js.Load(context.Background(), js.Source{Code: []byte(`
import { shout } from 'k6/x/upper';
export const options = { tags: { greeting: shout('hello') } };
export default function () {}
`)}, js.Options{Modules: map[string]js.Module{"k6/x/upper": upper}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(prog.Options().Options.Tags["greeting"])
	// Output: hello!
}

// Errors in a script say where they are.
func ExampleScriptError() {
	_, err := js.Load(context.Background(), js.Source{Filename: "script.js", Code: []byte(`
export default function () {}
const config = JSON.parse('{oops');
`)}, js.Options{})
	var se *js.ScriptError
	if errors.As(err, &se) {
		fmt.Println(se.Line, se.Column, se.Message)
	}
	fmt.Println(errors.Is(err, js.ErrScript))
	// Output:
	// 3 26 SyntaxError: invalid character 'o'
	// true
}
