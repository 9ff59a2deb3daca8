// Package hello is an example loadlens extension: a JavaScript module
// written in Go that k6 scripts import as "k6/x/hello", as they would an
// xk6 extension. A custom binary passes it to the script runtime in
// js.Options.Modules; nothing registers itself globally.
package hello

import (
	"fmt"
	"strings"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/metrics"
)

// ImportPath is where scripts import the module from.
const ImportPath = "k6/x/hello"

// Module returns the module: each VU gets its own instance, with a greet
// function, a counter of its own greetings, and record(value), which adds
// to the custom trend metric hello_values (declared here, so that
// thresholds may name it).
func Module() js.Module {
	return js.ModuleFunc(func(vu *js.VU) (js.Exports, error) {
		values, err := vu.RegisterMetric("hello_values", metrics.Trend, metrics.Default)
		if err != nil {
			return js.Exports{}, err
		}
		greeted := 0
		return js.Exports{Named: map[string]any{
			// Plain Go functions are converted by the runtime.
			"greet": func(name string) string {
				greeted++
				return fmt.Sprintf("Hello, %s!", strings.TrimSpace(name))
			},
			"greeted": func() int { return greeted },
			// func(sobek.FunctionCall) sobek.Value is the fastest form and
			// sees the VU: its tags, its metrics, the running iteration.
			"record": func(call sobek.FunctionCall) sobek.Value {
				st := vu.State()
				if st == nil || vu.InitContext() {
					panic(vu.Runtime().NewTypeError("hello.record() works only while the test runs"))
				}
				st.Emit(metrics.Sample{Metric: values, Value: call.Argument(0).ToFloat()})
				return sobek.Undefined()
			},
		}}, nil
	})
}
