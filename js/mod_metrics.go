package js

import (
	"math"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/metrics"
)

// customMetric is one VU's handle on a custom metric.
type customMetric struct {
	m *metrics.Metric // nil in VUs without a test (VU 0)
}

// metricsModule is k6/metrics: the Counter, Gauge, Rate and Trend
// constructors.
func metricsModule(vu *VU) (Exports, error) {
	named := map[string]any{}
	for name, typ := range map[string]metrics.MetricType{
		"Counter": metrics.Counter, "Gauge": metrics.Gauge, "Rate": metrics.Rate, "Trend": metrics.Trend,
	} {
		named[name] = func(call sobek.ConstructorCall) *sobek.Object { return vu.newMetric(call, typ) }
	}
	return Exports{Named: named}, nil
}

// newMetric implements new Counter|Gauge|Rate|Trend(name, isTime): init
// code only; the metric is declared for the plan and registered in the
// run's registry.
func (vu *VU) newMetric(call sobek.ConstructorCall, typ metrics.MetricType) *sobek.Object {
	vu.mustInit("new " + typ.String() + "()")
	name := call.Argument(0).String()
	contains := metrics.Default
	if call.Argument(1).ToBoolean() {
		contains = metrics.Time
	}
	m, err := vu.RegisterMetric(name, typ, contains)
	if err != nil {
		vu.throwError(err)
	}
	cm := &customMetric{}
	if vu.state != nil {
		cm.m = m
	}
	o := call.This
	_ = o.DefineDataProperty("name", vu.rt.ToValue(name), sobek.FLAG_FALSE, sobek.FLAG_FALSE, sobek.FLAG_TRUE)
	_ = o.Set("add", func(c sobek.FunctionCall) sobek.Value { return vu.addMetric(cm, name, c) })
	return nil
}

// addMetric implements metric.add(value, tags): booleans count as 1 and
// 0; other non-numbers are rejected with a warning (or an exception with
// the throw option), as in k6. It returns true when it recorded.
func (vu *VU) addMetric(cm *customMetric, name string, call sobek.FunctionCall) sobek.Value {
	vu.mustNotInit("metric.add()")
	if cm.m == nil || vu.state == nil {
		vu.throwf("metric %q: add() needs a running test", name)
	}
	arg := call.Argument(0)
	var v float64
	switch x := arg.Export().(type) {
	case bool:
		if x {
			v = 1
		}
	case int64:
		v = float64(x)
	case float64:
		v = x
	default:
		vu.warnOrThrow("metric %q: add(%s): the value must be a number or a boolean", name, arg.String())
		return vu.rt.ToValue(false)
	}
	if math.IsNaN(v) {
		vu.warnOrThrow("metric %q: add(NaN) is ignored", name)
		return vu.rt.ToValue(false)
	}
	var tags metrics.Tags
	if o, ok := call.Argument(1).(*sobek.Object); ok {
		if extra := vu.tagsOf(o); extra.Len() > 0 {
			tags = vu.state.Tags().Merge(extra)
		}
	}
	vu.state.Emit(metrics.Sample{Metric: cm.m, Value: v, Tags: tags})
	return vu.rt.ToValue(true)
}
