package report

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// maxChartPoints is how many points a chart series keeps: a run of up to
// about an hour at one point per second is drawn at full resolution,
// longer runs are downsampled into buckets (the mean of counts and rates,
// the max of latencies, errors and resources, so spikes stay visible).
const maxChartPoints = 4000

// maxEndpointCharts is how many endpoints (the busiest) get a line on the
// per-endpoint latency chart.
const maxEndpointCharts = 6

// chartData is the JSON blob the page's script draws from. X values are
// seconds from the run's start.
type chartData struct {
	X0      float64       `json:"x0"`   // seconds from the run's start of point 0
	Step    float64       `json:"step"` // seconds between points
	N       int           `json:"n"`    // points per series
	Charts  []chartSpec   `json:"charts"`
	Windows []chartWindow `json:"windows"`
}

type chartSpec struct {
	ID     string      `json:"id"`
	Title  string      `json:"title"`
	Unit   string      `json:"unit"`            // of the left axis: "ms", "%", "1/s", "bytes", "bytes/s", ""
	Unit2  string      `json:"unit2,omitempty"` // of the right axis, when a series uses it
	Series []chartLine `json:"series"`
	// Thresholds are drawn as dashed lines at their bound, on the left
	// axis.
	Thresholds []chartThreshold `json:"thresholds,omitempty"`
}

// chartThreshold is a threshold drawn on a chart.
type chartThreshold struct {
	Value  float64 `json:"value"`
	Label  string  `json:"label"`  // "http_req_duration p(95)<500"
	Failed bool    `json:"failed"` // drawn red
}

type chartLine struct {
	Label  string      `json:"label"`
	Color  string      `json:"color"`
	Axis2  bool        `json:"axis2,omitempty"`
	Values chartValues `json:"values"`
}

// chartWindow is a finding's window, shaded on every chart.
type chartWindow struct {
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	Severity string  `json:"severity"`
	Label    string  `json:"label"`
	ID       string  `json:"id"`
}

// chartValues are written with four significant digits, NaN as null.
type chartValues []float64

// MarshalJSON implements json.Marshaler.
func (v chartValues) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+6*len(v))
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'g', 4, 64)
	}
	return append(b, ']'), nil
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// lineDef picks a series of the timeline for a chart.
type lineDef struct {
	name  string
	tags  map[string]string
	label string
	scale float64 // multiply values by it (0: 1)
	axis2 bool
	mean  bool // downsample by mean (counts, rates) instead of max
	// perSource draws one line per telemetry source of the series (target
	// series are tagged with where they were scraped).
	perSource bool
}

type chartDef struct {
	id, title, unit, unit2 string
	lines                  []lineDef
	// threshold says whether a threshold on metric with the aggregation
	// agg is drawn on the chart, and at which value of its left axis.
	threshold func(metric, agg string, bound float64) (float64, bool)
}

var chartDefs = []chartDef{
	{id: "vus", title: "Virtual users", lines: []lineDef{
		{name: loadtest.SeriesVUs, label: "VUs", mean: true}, {name: loadtest.SeriesVUsMax, label: "VUs initialised", mean: true}}},
	{id: "throughput", title: "Requests and iterations per second", unit: "1/s", lines: []lineDef{
		{name: loadtest.SeriesRequests, label: "requests/s", mean: true}, {name: loadtest.SeriesIterations, label: "iterations/s", mean: true}},
		threshold: anyOf(thresholdOn(metrics.HTTPReqs, 1, "rate"), thresholdOn(metrics.Iterations, 1, "rate"))},
	{id: "latency", title: "Request duration", unit: "ms", lines: []lineDef{
		{name: loadtest.SeriesLatencyP50, label: "p50"}, {name: loadtest.SeriesLatencyP90, label: "p90"},
		{name: loadtest.SeriesLatencyP95, label: "p95"}, {name: loadtest.SeriesLatencyP99, label: "p99"}},
		threshold: thresholdOn(metrics.HTTPReqDuration, 1)},
	{id: "errors", title: "Error rate", unit: "%", lines: []lineDef{
		{name: loadtest.SeriesFailedRate, label: "failed requests", scale: 100}, {name: loadtest.SeriesChecksFail, label: "failed checks", scale: 100}},
		// The chart draws failed checks: a checks rate>0.99 is 1 % of them.
		threshold: anyOf(thresholdOn(metrics.HTTPReqFailed, 100, "rate"), func(m, agg string, bound float64) (float64, bool) {
			return 100 * (1 - bound), m == metrics.Checks && agg == "rate"
		})},
	{id: "dropped", title: "Dropped iterations and lateness", unit: "1/s", unit2: "ms", lines: []lineDef{
		{name: loadtest.SeriesDropped, label: "dropped iterations/s", mean: true}, {name: loadtest.SeriesLatenessP99, label: "lateness p99", axis2: true}}},
	{id: "generator-cpu", title: "Load generator CPU", unit: "%", lines: []lineDef{
		{name: loadtest.SeriesGeneratorCPU, label: "generator CPU"}}},
	{id: "generator-memory", title: "Load generator memory", unit: "bytes", lines: []lineDef{
		{name: loadtest.SeriesGeneratorRSS, label: "generator RSS"}}},
	{id: "target-cpu", title: "Target CPU (% of one CPU)", unit: "%", lines: []lineDef{
		{name: loadtest.SeriesTargetCPU, perSource: true, label: "target CPU"}}},
	{id: "target-memory", title: "Target memory", unit: "bytes", lines: []lineDef{
		{name: loadtest.SeriesTargetRSS, perSource: true, label: "target RSS"}, {name: loadtest.SeriesTargetHeap, perSource: true, label: "target heap in use"}}},
	{id: "target-goroutines", title: "Target goroutines", lines: []lineDef{
		{name: loadtest.SeriesTargetGoroutines, perSource: true, label: "goroutines"}}},
}

// alwaysCharts are drawn even without data (they say "no data"); the
// others only when the run has their series.
var alwaysCharts = map[string]bool{"vus": true, "throughput": true, "latency": true, "errors": true,
	"dropped": true, "generator-cpu": true, "generator-memory": true}

// newChartData picks, aligns and downsamples the series the page charts,
// to at most maxPoints points each.
func newChartData(r loadtest.Result, findings []anomaly.Finding, maxPoints int) chartData {
	tl := r.Timeline
	step := tl.Step
	if step <= 0 {
		step = time.Second
	}
	n := tl.Len()
	bucket := 1
	if n > maxPoints {
		bucket = (n + maxPoints - 1) / maxPoints
	}
	x0 := 0.0
	if !tl.Start.IsZero() && !r.Start.IsZero() {
		x0 = tl.Start.Sub(r.Start).Seconds()
	}
	d := chartData{X0: x0, Step: step.Seconds() * float64(bucket), N: (n + bucket - 1) / bucket, Charts: []chartSpec{}, Windows: []chartWindow{}}
	defs := slices.Clone(chartDefs)
	after := 3 // the latency chart
	if ep := endpointChart(r); len(ep.lines) > 0 {
		defs = slices.Insert(defs, after, ep)
		after++
	}
	defs = slices.Insert(defs, after, sliceCharts(r)...)
	defs = append(defs, customCharts(r)...)
	for _, def := range defs {
		spec := chartSpec{ID: def.id, Title: def.title, Unit: def.unit, Unit2: def.unit2, Series: []chartLine{}}
		for _, l := range def.lines {
			for _, s := range chartSeries(tl, l) {
				label := l.label
				if l.perSource && len(chartSeries(tl, l)) > 1 {
					label += " (" + s.Tags["source"] + ")"
				}
				spec.Series = append(spec.Series, chartLine{Label: label, Color: palette[len(spec.Series)%len(palette)],
					Axis2: l.axis2, Values: downsample(s.Values, n, bucket, l.scale, l.mean)})
			}
		}
		spec.Thresholds = chartThresholds(r, def)
		if len(spec.Series) > 0 || alwaysCharts[def.id] {
			d.Charts = append(d.Charts, spec)
		}
	}
	runEnd := r.Duration
	for _, f := range findings {
		if f.End <= f.Start || (f.Start <= 0 && f.End >= runEnd) {
			continue // no window, or the whole run: listed, not shaded
		}
		d.Windows = append(d.Windows, chartWindow{Start: f.Start.Seconds(), End: f.End.Seconds(), Severity: f.Severity.String(),
			Label: string(f.Kind) + " " + f.Metric + tagString(f.Tags), ID: f.ID})
	}
	return d
}

// chartThresholds returns the thresholds a chart draws: those on the
// metric it charts, with an aggregation it plots, their bound in the
// chart's unit.
func chartThresholds(r loadtest.Result, def chartDef) []chartThreshold {
	if def.threshold == nil {
		return nil
	}
	var out []chartThreshold
	for _, v := range r.Thresholds {
		value, ok := def.threshold(v.Metric, v.Threshold.Aggregation.Name, v.Threshold.Bound)
		if !ok {
			continue
		}
		out = append(out, chartThreshold{Value: value, Label: v.Metric + " " + v.Threshold.Source, Failed: v.Status == metrics.Failed})
	}
	return out
}

// thresholdOn draws thresholds on metric with one of aggs (any but count
// when aggs is empty), the bound multiplied by scale.
func thresholdOn(metric string, scale float64, aggs ...string) func(string, string, float64) (float64, bool) {
	return func(m, agg string, bound float64) (float64, bool) {
		if m != metric || len(aggs) == 0 && agg == "count" || len(aggs) > 0 && !slices.Contains(aggs, agg) {
			return 0, false
		}
		return scale * bound, true
	}
}

// anyOf draws the thresholds any of fs draws.
func anyOf(fs ...func(string, string, float64) (float64, bool)) func(string, string, float64) (float64, bool) {
	return func(m, agg string, bound float64) (float64, bool) {
		for _, f := range fs {
			if v, ok := f(m, agg, bound); ok {
				return v, ok
			}
		}
		return 0, false
	}
}

// sliceCharts chart the p95 latency of each scenario (when there are
// several) and each group, with the thresholds on their sub-metrics.
func sliceCharts(r loadtest.Result) []chartDef {
	var defs []chartDef
	for _, sl := range []struct{ tag, id, title string }{
		{"scenario", "scenario-latency", "Request duration p95 by scenario"},
		{"group", "group-latency", "Request duration p95 by group"},
	} {
		def := chartDef{id: sl.id, title: sl.title, unit: "ms"}
		var ths []func(string, string, float64) (float64, bool)
		for _, s := range r.Timeline.Series {
			v, ok := s.Tags[sl.tag]
			if s.Name != loadtest.SeriesLatencyP95 || !ok || len(s.Tags) != 1 {
				continue
			}
			def.lines = append(def.lines, lineDef{name: loadtest.SeriesLatencyP95, tags: s.Tags, label: v})
			ths = append(ths, thresholdOn(metrics.HTTPReqDuration+"{"+sl.tag+":"+v+"}", 1))
		}
		if sl.tag == "scenario" && len(def.lines) < 2 {
			continue // one scenario is the whole run
		}
		if len(def.lines) > 0 {
			def.threshold = anyOf(ths...)
			defs = append(defs, def)
		}
	}
	return defs
}

// customCharts chart each custom metric as its type aggregates per second:
// a trend's p95, a counter's rate, a rate's percent, a gauge's value.
func customCharts(r loadtest.Result) []chartDef {
	var defs []chartDef
	for _, s := range r.Timeline.Series {
		metric, ok := s.Tags["metric"]
		if !ok || len(s.Tags) != 1 {
			continue
		}
		def := chartDef{id: "custom-" + strconv.Itoa(len(defs)), unit: s.Unit}
		line := lineDef{name: s.Name, tags: s.Tags, label: metric}
		switch s.Name {
		case loadtest.SeriesCustomP95:
			def.title, line.label = metric+" (trend)", "p95"
			def.threshold = thresholdOn(metric, 1)
		case loadtest.SeriesCustomCount:
			def.title, line.label, line.mean = metric+" (counter)", "per second", true
			def.threshold = thresholdOn(metric, 1, "rate")
		case loadtest.SeriesCustomRate:
			def.title, def.unit, line.label, line.scale, line.mean = metric+" (rate)", "%", "non-zero", 100, true
			def.threshold = thresholdOn(metric, 100, "rate")
		case loadtest.SeriesCustomValue:
			def.title, line.label = metric+" (gauge)", "value"
			def.threshold = thresholdOn(metric, 1, "value", "min", "max")
		default:
			continue
		}
		def.lines = []lineDef{line}
		defs = append(defs, def)
	}
	return defs
}

// endpointChart charts the p95 latency of the busiest endpoints.
func endpointChart(r loadtest.Result) chartDef {
	def := chartDef{id: "endpoint-latency", title: "Request duration p95 by endpoint", unit: "ms"}
	for _, e := range r.Endpoints {
		if len(def.lines) == maxEndpointCharts {
			break
		}
		tags := map[string]string{"name": e.Name}
		if r.Timeline.Find(loadtest.SeriesLatencyP95, tags) == nil {
			continue
		}
		def.lines = append(def.lines, lineDef{name: loadtest.SeriesLatencyP95, tags: tags, label: e.Name})
	}
	return def
}

// downsample pads vs to n points with NaN, scales them, and aggregates
// buckets of size bucket (mean or max of the finite values; NaN when a
// bucket has none).
func downsample(vs []float64, n, bucket int, scale float64, mean bool) chartValues {
	if scale == 0 {
		scale = 1
	}
	out := make(chartValues, 0, (n+bucket-1)/bucket)
	for i := 0; i < n; i += bucket {
		agg, cnt := 0.0, 0
		for j := i; j < min(i+bucket, n); j++ {
			if j >= len(vs) || !finiteNum(vs[j]) {
				continue
			}
			v := vs[j] * scale
			switch {
			case cnt == 0:
				agg = v
			case mean:
				agg += v
			default:
				agg = max(agg, v)
			}
			cnt++
		}
		switch {
		case cnt == 0:
			out = append(out, math.NaN())
		case mean:
			out = append(out, agg/float64(cnt))
		default:
			out = append(out, agg)
		}
	}
	return out
}

// chartSeries returns the series a line draws: the one with its name and
// tags, or, per source, every series with its name.
func chartSeries(tl loadtest.Timeline, l lineDef) []*loadtest.Series {
	if !l.perSource {
		if s := tl.Find(l.name, l.tags); s != nil {
			return []*loadtest.Series{s}
		}
		return nil
	}
	var out []*loadtest.Series
	for i := range tl.Series {
		if tl.Series[i].Name == l.name {
			out = append(out, &tl.Series[i])
		}
	}
	return out
}
