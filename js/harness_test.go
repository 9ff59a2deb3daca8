package js_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/cli/exitcode"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// outcome is what running a script the way the CLI does gives.
type outcome struct {
	exit     int
	err      error
	res      loadtest.Result
	prog     *js.Program
	warnings []string
	summary  map[string][]byte // handleSummary's outputs
	hsOK     bool
	hsErr    error
	logs     *logBuffer
	ndjson   []byte
	vus      *vusRecorder
}

// run is a script run as `loadlens run` would do it.
type run struct {
	src     js.Source
	top     loadtest.K6Options
	opts    js.Options
	outputs []loadtest.Output
	ndjson  bool
	vus     bool // record the vus samples in outcome.vus
}

// exec runs the script: plan, run, handleSummary, k6's exit code.
func (r run) exec(t testing.TB) outcome {
	t.Helper()
	ctx := t.Context()
	logs := &logBuffer{}
	if r.opts.Logger == nil {
		r.opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o := outcome{logs: logs}
	plan, prog, warnings, err := js.Plan(ctx, r.src, loadtest.K6Options{}, r.top, r.opts)
	o.prog, o.warnings = prog, warnings
	if err != nil {
		o.err, o.exit = err, exitcode.Of(loadtest.Result{}, err)
		return o
	}
	var buf bytes.Buffer
	outs := r.outputs
	if r.ndjson {
		outs = append(outs, loadtest.NewJSONOutput(&buf, false))
	}
	if r.vus {
		o.vus = &vusRecorder{}
		outs = append(outs, o.vus)
	}
	res, err := loadtest.Run(ctx, plan, outs...)
	o.res, o.err, o.exit = res, err, exitcode.Of(res, err)
	o.ndjson = buf.Bytes()
	if err == nil || !errors.Is(err, js.ErrScript) {
		o.summary, o.hsOK, o.hsErr = prog.HandleSummary(ctx, loadtest.NewSummaryData(res, loadtest.SummaryEnv{}))
	}
	return o
}

// script is a run of code in memory, with files beside it.
func script(code string, files ...string) run {
	fsys := fstest.MapFS{"script.js": {Data: []byte(code)}}
	for i := 0; i+1 < len(files); i += 2 {
		fsys[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return run{src: js.Source{Path: "script.js", FS: fsys}}
}

func (r run) env(kv ...string) run {
	if r.opts.Env == nil {
		r.opts.Env = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		r.opts.Env[kv[i]] = kv[i+1]
	}
	return r
}

func (r run) flags(t testing.TB, k6json string) run {
	t.Helper()
	o, err := loadtest.DecodeK6Options([]byte(k6json))
	require.NoError(t, err)
	r.top = o
	return r
}

// logBuffer collects log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the logged lines that contain all of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// metricValue returns a value of a metric of the result.
func metricValue(t testing.TB, res loadtest.Result, metric, agg string) float64 {
	t.Helper()
	m, ok := res.Metrics[metric]
	require.True(t, ok, "metric %s missing; have %v", metric, slices.Sorted(mapsKeys(res.Metrics)))
	v, ok := m.Values[agg]
	require.True(t, ok, "metric %s has no %s: %v", metric, agg, m.Values)
	return v
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// shape describes a JSON value's structure: object keys (recursively),
// array element shapes, and value kinds, without the values themselves.
func shape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q:%s", k, shape(x[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any: // the distinct shapes of the elements: lengths differ run to run
		seen := map[string]bool{}
		var parts []string
		for _, e := range x {
			if s := shape(e); !seen[s] {
				seen[s] = true
				parts = append(parts, s)
			}
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case float64:
		return "number"
	case string:
		return "string"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// jsonShape returns the shape of a JSON document.
func jsonShape(t testing.TB, b []byte) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return shape(v)
}

// vusRecorder is an output that keeps the vus samples and the span of the
// iterations, to tell the samples taken while the VUs looped.
type vusRecorder struct {
	samples     []metrics.Sample
	first, last time.Time     // the first and last iteration's end
	longest     time.Duration // the longest iteration
}

func (*vusRecorder) Start(loadtest.RunInfo) error { return nil }

func (v *vusRecorder) AddSamples(batch []metrics.Sample) {
	for _, s := range batch {
		switch s.Metric.Name {
		case metrics.VUs:
			v.samples = append(v.samples, s)
		case metrics.IterationDuration:
			if v.first.IsZero() || s.Time.Before(v.first) {
				v.first = s.Time
			}
			if s.Time.After(v.last) {
				v.last = s.Time
			}
			v.longest = max(v.longest, time.Duration(s.Value*float64(time.Millisecond)))
		}
	}
}

func (*vusRecorder) Stop(loadtest.Result) error { return nil }

// whileIterating returns the vus samples taken while every VU looped, for
// executors with a fixed number of VUs: those count their VUs active before
// the first iteration starts, and each VU loops until the regular duration
// is over, so at least until the last iteration began.
func (v *vusRecorder) whileIterating() []float64 {
	from, to := v.first, v.last.Add(-v.longest)
	var out []float64
	for _, s := range v.samples {
		if s.Time.After(from) && s.Time.Before(to) {
			out = append(out, s.Value)
		}
	}
	return out
}
