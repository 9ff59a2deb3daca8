package telemetry_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// BenchmarkParse parses what a small service exposes (process collector,
// a histogram with five label sets: ~100 lines) in the text format and in
// OpenMetrics: the scrape asks for text because the OpenMetrics parser is
// about a thousand times slower (see MaxOpenMetricsBytes).
func BenchmarkParse(b *testing.B) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "work_seconds", Help: "Work."}, []string{"route"})
	reg.MustRegister(h, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"a", "b", "c", "d", "e"} {
		h.WithLabelValues(r).Observe(0.1)
	}
	fams, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		format expfmt.Format
	}{{"text", expfmt.NewFormat(expfmt.TypeTextPlain)}, {"openmetrics", expfmt.NewFormat(expfmt.TypeOpenMetrics)}} {
		format := tc.format
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, format)
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				b.Fatal(err)
			}
		}
		if cl, ok := enc.(expfmt.Closer); ok {
			_ = cl.Close()
		}
		body := buf.Bytes()
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := telemetry.Parse(bytes.NewReader(body), string(format)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
