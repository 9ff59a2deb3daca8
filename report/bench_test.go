package report_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/browsertest"
	"github.com/loadlens/loadlens/report"
)

// maxReportBytes is the size budget of the HTML report of a one-hour run.
const maxReportBytes = 2 << 20

// TestLongRunReportSize: the report of a one-hour run, every series at
// full resolution, stays under 2 MB. (Size is deterministic; how fast a
// browser opens it is BenchmarkBrowserOpen1h.)
func TestLongRunReportSize(t *testing.T) {
	t.Parallel()
	in := longRun(t)
	require.GreaterOrEqual(t, in.Result.Timeline.Len(), 3600)
	require.GreaterOrEqual(t, len(in.Result.Timeline.Series), 25)
	b := renderHTML(t, in)
	assert.Less(t, len(b), maxReportBytes, "HTML report of a 1-hour run")
	t.Logf("1-hour report: %d bytes, %d series of %d points", len(b), len(in.Result.Timeline.Series), in.Result.Timeline.Len())
	require.NoError(t, os.WriteFile(filepath.Join(artifactDir(t), "1h.html"), b, 0o644))

	// A day-long run is downsampled to the same budget.
	day := longRun(t)
	for i := range day.Result.Timeline.Series {
		s := &day.Result.Timeline.Series[i]
		for len(s.Values) < 24*3600 {
			s.Values = append(s.Values, s.Values...)
		}
	}
	assert.Less(t, len(renderHTML(t, day)), maxReportBytes, "HTML report of a 24-hour run")
}

// BenchmarkWriteHTML1h writes the report of a one-hour run.
func BenchmarkWriteHTML1h(b *testing.B) {
	in := longRun(b)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := report.WriteHTML(&buf, in); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/report")
}

// BenchmarkWriteJSON1h writes the JSON report of a one-hour run.
func BenchmarkWriteJSON1h(b *testing.B) {
	in := longRun(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := report.WriteJSON(io.Discard, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrowserOpen1h opens the report of a one-hour run in headless
// Chromium from disk until every chart is drawn; ms-to-drawn is the page's
// own time from navigation start to the end of its script.
//
//	go test -run '^$' -bench BrowserOpen1h -benchtime 5x ./report/
func BenchmarkBrowserOpen1h(b *testing.B) {
	br := browsertest.New(b)
	path := filepath.Join(b.TempDir(), "1h.html")
	if err := os.WriteFile(path, renderHTML(b, longRun(b)), 0o644); err != nil {
		b.Fatal(err)
	}
	var drawn float64
	for b.Loop() {
		if err := openReport(br, path); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(br.Ctx, chromedp.Evaluate[float64](`performance.getEntriesByName("loadlens-charts-drawn")[0].startTime`))
		if err != nil {
			b.Fatal(err)
		}
		drawn += ms
	}
	b.ReportMetric(drawn/float64(b.N), "ms-to-drawn")
	if errs := br.ConsoleErrors(); len(errs) > 0 {
		b.Fatalf("console errors: %v", errs)
	}
}
