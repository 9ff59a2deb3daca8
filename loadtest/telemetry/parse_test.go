package telemetry_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

const (
	textType = "text/plain; version=0.0.4; charset=utf-8"
	omType   = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

// parseCases are expositions and what they read as; the fuzz tests start
// from them.
var parseCases = []struct {
	name, contentType, body string
	want                    telemetry.Reading
	wantErr                 bool
}{
	{
		name: "counter and gauge", contentType: textType,
		body: "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n" +
			"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.048576e+06\n",
		want: telemetry.Reading{
			"process_cpu_seconds_total":     {Type: telemetry.TypeCounter, Value: 12.5},
			"process_resident_memory_bytes": {Type: telemetry.TypeGauge, Value: 1 << 20},
		},
	},
	{
		name: "label sets are summed", contentType: textType,
		body: "# TYPE http_requests_total counter\n" +
			"http_requests_total{code=\"200\",method=\"get\"} 10\nhttp_requests_total{code=\"500\",method=\"get\"} 3\n",
		want: telemetry.Reading{"http_requests_total": {Type: telemetry.TypeCounter, Value: 13}},
	},
	{
		name: "histogram", contentType: textType,
		body: "# TYPE req_seconds histogram\n" +
			"req_seconds_bucket{le=\"0.1\"} 3\nreq_seconds_bucket{le=\"+Inf\"} 4\nreq_seconds_sum 0.9\nreq_seconds_count 4\n",
		want: telemetry.Reading{"req_seconds": {Type: telemetry.TypeHistogram, Value: 0.9, Count: 4}},
	},
	{
		name: "summary", contentType: textType,
		body: "# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.2\nrpc_seconds_sum 2\nrpc_seconds_count 8\n",
		want: telemetry.Reading{"rpc_seconds": {Type: telemetry.TypeSummary, Value: 2, Count: 8}},
	},
	{
		name: "untyped, no content type", contentType: "",
		body: "go_goroutines 7\n",
		want: telemetry.Reading{"go_goroutines": {Type: telemetry.TypeUntyped, Value: 7}},
	},
	{
		name: "openmetrics", contentType: omType,
		body: "# TYPE jobs counter\njobs_total 5\n# TYPE temp gauge\ntemp 21.5\n# EOF\n",
		want: telemetry.Reading{
			"jobs_total": {Type: telemetry.TypeCounter, Value: 5},
			"temp":       {Type: telemetry.TypeGauge, Value: 21.5},
		},
	},
	{name: "empty", contentType: textType, body: "", want: telemetry.Reading{}},
	{name: "html", contentType: "text/html", body: "<html><body>not found</body></html>\n", wantErr: true},
	{name: "garbage value", contentType: textType, body: "x{a=\"b\"} twelve\n", wantErr: true},
	{name: "unterminated label", contentType: textType, body: "x{a=\"b} 1\n", wantErr: true},
	{name: "openmetrics without EOF", contentType: omType, body: "# TYPE temp gauge\ntemp 1\n", wantErr: true},
	{name: "two types for one name", contentType: textType, body: "# TYPE a gauge\n# TYPE a counter\na 1\n", wantErr: true},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := telemetry.Parse(strings.NewReader(tc.body), tc.contentType)
			if tc.wantErr {
				require.ErrorIs(t, err, telemetry.ErrFormat)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadingLookup(t *testing.T) {
	t.Parallel()
	rd := telemetry.Reading{
		"jobs_total":  {Type: telemetry.TypeCounter, Value: 5},
		"req_seconds": {Type: telemetry.TypeHistogram, Value: 0.9, Count: 4},
		"temp":        {Type: telemetry.TypeGauge, Value: 3},
		"odd_total":   {Type: telemetry.TypeGauge, Value: 1},
	}
	for _, tc := range []struct {
		name string
		want telemetry.Value
		ok   bool
	}{
		{"jobs_total", telemetry.Value{Type: telemetry.TypeCounter, Value: 5}, true},
		{"jobs", telemetry.Value{Type: telemetry.TypeCounter, Value: 5}, true},
		{"req_seconds", telemetry.Value{Type: telemetry.TypeHistogram, Value: 0.9, Count: 4}, true},
		{"req_seconds_count", telemetry.Value{Type: telemetry.TypeCounter, Value: 4}, true},
		{"req_seconds_sum", telemetry.Value{Type: telemetry.TypeCounter, Value: 0.9}, true},
		{"temp_count", telemetry.Value{}, false},
		{"odd", telemetry.Value{}, false}, // a gauge named _total is no counter
		{"nothing", telemetry.Value{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := rd.Lookup(tc.name)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestParseClientGolangRegistry reads what a real client_golang registry
// exposes, in every format it speaks, and finds the values it holds.
func TestParseClientGolangRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs."}, []string{"kind"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_bytes", Help: "Queue."})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "work_seconds", Help: "Work.", Buckets: []float64{0.1, 1}})
	reg.MustRegister(c, g, h, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	withGo := prometheus.NewRegistry()
	withGo.MustRegister(c, g, h, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	c.WithLabelValues("a").Add(3)
	c.WithLabelValues("b").Add(4)
	g.Set(2048)
	h.Observe(0.5)
	h.Observe(1.5)

	for _, tc := range []struct {
		format expfmt.Format
		reg    *prometheus.Registry
		want   []string
	}{
		{expfmt.NewFormat(expfmt.TypeTextPlain), withGo, telemetry.StandardMetrics()},
		{expfmt.NewFormat(expfmt.TypeProtoDelim), withGo, telemetry.StandardMetrics()},
		// The Go collector's go_memstats_alloc_bytes gauge and _total counter
		// share a name in OpenMetrics, which a strict parser refuses.
		{expfmt.NewFormat(expfmt.TypeOpenMetrics), reg, []string{telemetry.MetricRSS, telemetry.MetricCPU}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			t.Parallel()
			fams, err := tc.reg.Gather()
			require.NoError(t, err)
			var buf bytes.Buffer
			enc := expfmt.NewEncoder(&buf, tc.format)
			for _, f := range fams {
				require.NoError(t, enc.Encode(f))
			}
			if cl, ok := enc.(expfmt.Closer); ok {
				require.NoError(t, cl.Close())
			}
			rd, err := telemetry.Parse(&buf, string(tc.format))
			require.NoError(t, err)
			jobs, ok := rd.Lookup("jobs_total")
			require.True(t, ok)
			assert.Equal(t, telemetry.Value{Type: telemetry.TypeCounter, Value: 7}, jobs)
			assert.Equal(t, telemetry.Value{Type: telemetry.TypeGauge, Value: 2048}, rd["queue_bytes"])
			assert.Equal(t, telemetry.Value{Type: telemetry.TypeHistogram, Value: 2, Count: 2}, rd["work_seconds"])
			for _, name := range tc.want {
				v, ok := rd.Lookup(name)
				if assert.True(t, ok, name) && name != telemetry.MetricCPU { // CPU may still read 0
					assert.Positive(t, v.Value, name)
				}
			}
		})
	}
}

// FuzzParse: Parse never panics, and what it reads, written back in the
// text format, reads the same.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.body, tc.contentType)
	}
	f.Fuzz(func(t *testing.T, body, contentType string) {
		rd, err := telemetry.Parse(strings.NewReader(body), contentType)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		written := map[string]telemetry.Value{}
		for name, v := range rd {
			ok, err := writeValue(&buf, name, v)
			require.NoError(t, err)
			if ok {
				written[name] = v
			}
		}
		again, err := telemetry.Parse(&buf, textType)
		require.NoError(t, err, "%s", buf.String())
		require.Len(t, again, len(written))
		for name, v := range written {
			w := again[name]
			assert.Equal(t, v.Type, w.Type, name)
			assert.True(t, sameFloat(v.Value, w.Value) && sameFloat(v.Count, w.Count), "%s: %v != %v", name, v, w)
		}
	})
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// writeValue writes a folded value as a family of one metric, unless the
// text format cannot hold it (a count that is no uint64).
func writeValue(buf *bytes.Buffer, name string, v telemetry.Value) (bool, error) {
	n := uint64(0)
	if v.Type == telemetry.TypeHistogram || v.Type == telemetry.TypeSummary {
		if v.Count != math.Trunc(v.Count) || v.Count < 0 || v.Count >= 1<<63 {
			return false, nil
		}
		n = uint64(v.Count)
	}
	f := &dto.MetricFamily{Name: &name}
	m := &dto.Metric{}
	switch v.Type {
	case telemetry.TypeCounter:
		f.Type = dto.MetricType_COUNTER.Enum()
		m.Counter = &dto.Counter{Value: &v.Value}
	case telemetry.TypeGauge:
		f.Type = dto.MetricType_GAUGE.Enum()
		m.Gauge = &dto.Gauge{Value: &v.Value}
	case telemetry.TypeHistogram:
		f.Type = dto.MetricType_HISTOGRAM.Enum()
		m.Histogram = &dto.Histogram{SampleSum: &v.Value, SampleCount: &n}
	case telemetry.TypeSummary:
		f.Type = dto.MetricType_SUMMARY.Enum()
		m.Summary = &dto.Summary{SampleSum: &v.Value, SampleCount: &n}
	default:
		f.Type = dto.MetricType_UNTYPED.Enum()
		m.Untyped = &dto.Untyped{Value: &v.Value}
	}
	f.Metric = []*dto.Metric{m}
	_, err := expfmt.MetricFamilyToText(buf, f)
	return true, err
}
