package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

//go:embed report.html.tmpl history.html.tmpl live.html.tmpl assets/live.js assets/report.js assets/report.css assets/uPlot.iife.min.js assets/uPlot.min.css
var files embed.FS

// pageTemplate is parsed once; templates are safe for concurrent use.
var pageTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"value":    pageValue,
	"optValue": optValue,
	"signed":   signed,
	"change":   formatChange,
	"pvalue":   formatP,
	"offset":   formatOffset,
	"pct":      func(v float64) string { return formatValue(v, "ratio") },
	"num":      func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"count":    func(v int64) string { return fmt.Sprintf("%d", v) },
	"sevClass": func(s anomaly.Severity) string { return "sev-" + s.String() },
	"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"dur":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"tags":     tagString,
	"evidence": sortedEvidence,
	"statuses": statusList,
	"errors":   errorCodeList,
}).ParseFS(files, "report.html.tmpl", "history.html.tmpl"))

// asset returns an embedded file's content.
func asset(name string) string {
	b, err := files.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// page is what the template renders.
type page struct {
	In          Input
	Title       string
	Verdict     string
	VerdictOK   bool
	Stats       []keyStat
	Thresholds  []thresholdRow
	Endpoints   []endpointRow
	Findings    []anomaly.Finding
	Windowless  int // findings not shaded on the charts
	ConfigJSON  string
	ChartData   template.JS
	Charts      []chartSpec
	Script      template.JS
	UPlot       template.JS
	Style       template.CSS
	UPlotStyle  template.CSS
	ChangedThrs []ThresholdChange
	Metrics     []loadtest.SummaryRow // every metric, as k6's full summary
	History     *historySection
	Timings     []timingRow // the HTTP timing breakdown
}

// timingRow is one phase of HTTP requests (k6's http_req_* timings).
type timingRow struct {
	Phase, Metric string
	Avg, P95      float64
	Share         float64 // of the average request's duration, 0 … 100
}

type keyStat struct{ Label, Value string }

type thresholdRow struct {
	Metric, Expression, Status, Observed string
}

type endpointRow struct {
	loadtest.EndpointStats
	FailRate float64
}

// WriteHTML writes the report as one self-contained HTML page that works
// offline: a header with the verdict and key numbers, the thresholds, the
// charts over time (with finding windows shaded), the checks and groups
// tree, the endpoints, the findings, the AI analysis (labelled as such),
// the comparison when there is one, the history when there is one, and
// the run's config with secrets redacted.
//
// All text from the target and the model is escaped (html/template for
// the page, JSON with <, >, &, U+2028 and U+2029 escaped for the chart
// data); the page's script only ever sets textContent.
func WriteHTML(w io.Writer, in Input) error {
	p, err := newPage(in)
	if err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	return nil
}

func newPage(in Input) (page, error) {
	r := Redact(in.Result)
	in.Result = r
	p := page{In: in, Title: r.Name, Findings: in.Analysis.Findings}
	if p.Title == "" {
		p.Title = "Load test"
	}
	p.Verdict, p.VerdictOK = verdict(r)
	p.Stats = keyStats(r)
	for _, v := range r.Thresholds {
		row := thresholdRow{Metric: v.Metric, Expression: v.Threshold.Source, Status: v.Status.String(), Observed: "–"}
		if v.Status != metrics.NoData {
			row.Observed = r.Observed(v) // with its unit, as the terminal says it
		}
		p.Thresholds = append(p.Thresholds, row)
	}
	for _, e := range r.Endpoints {
		p.Endpoints = append(p.Endpoints, endpointRow{EndpointStats: e, FailRate: failRate(e)})
	}
	p.Metrics = loadtest.SummaryRows(r)
	p.Timings = timingRows(r)
	var cfg bytes.Buffer // html/template escapes it: no need for \u003c
	enc := json.NewEncoder(&cfg)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.Config); err != nil {
		return page{}, fmt.Errorf("config: %w", err)
	}
	p.ConfigJSON = strings.TrimSpace(cfg.String())
	cd := newChartData(r, in.Analysis.Findings, maxChartPoints)
	p.Charts = cd.Charts
	p.Windowless = len(in.Analysis.Findings) - len(cd.Windows)
	data, err := json.Marshal(cd) // escapes <, >, &, U+2028, U+2029: safe inside <script>
	if err != nil {
		return page{}, fmt.Errorf("chart data: %w", err)
	}
	p.ChartData = template.JS(data)
	p.Script = template.JS(asset("report.js"))
	p.UPlot = template.JS(asset("uPlot.iife.min.js"))
	p.Style = template.CSS(asset("report.css"))
	p.UPlotStyle = template.CSS(asset("uPlot.min.css"))
	p.History = newHistorySection(in)
	if in.Comparison != nil {
		for _, t := range in.Comparison.Thresholds {
			if t.Changed() {
				p.ChangedThrs = append(p.ChangedThrs, t)
			}
		}
	}
	return p, nil
}

// verdict returns the headline and whether it is good news.
func verdict(r loadtest.Result) (string, bool) {
	switch r.Status {
	case loadtest.StatusPassed:
		return "PASSED", true
	case loadtest.StatusThresholdsFailed:
		return "FAILED: thresholds crossed", false
	case loadtest.StatusAborted:
		return "ABORTED", false
	case loadtest.StatusMarkedFailed:
		return "FAILED: marked failed by the script", false
	case loadtest.StatusErrored:
		return "ERRORED", false
	}
	return strings.ToUpper(string(r.Status)), false
}

func keyStats(r loadtest.Result) []keyStat {
	var out []keyStat
	add := func(label, metric, key, unit string) {
		if v, ok := r.Metric(metric).Value(key); ok {
			out = append(out, keyStat{label, pageValue(v, unit)})
		}
	}
	add("requests", "http_reqs", "count", "count")
	add("throughput", "http_reqs", "rate", "1/s")
	add("failed requests", "http_req_failed", "rate", "ratio")
	add("p95 duration", "http_req_duration", "p(95)", "ms")
	add("p99 duration", "http_req_duration", "p(99)", "ms")
	add("iterations", "iterations", "count", "count")
	add("checks passed", "checks", "rate", "ratio")
	add("max VUs", "vus_max", "max", "count")
	add("data received", "data_received", "count", "bytes")
	g := r.Generator
	if g.CPUs > 0 {
		out = append(out, keyStat{"generator CPU", fmt.Sprintf("avg %s, max %s of %d CPUs", pageValue(g.CPUAvg, "%"), pageValue(g.CPUMax, "%"), g.CPUs)})
	}
	if g.RSSMaxBytes > 0 {
		out = append(out, keyStat{"generator memory", pageValue(g.RSSMaxBytes, "bytes") + " peak"})
	}
	return out
}

// formatOffset formats an offset from the run's start as h:mm:ss or m:ss.
func formatOffset(d time.Duration) string {
	s := int64(math.Round(d.Seconds()))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

type kv struct {
	Key   string
	Value string
}

func sortedEvidence(ev map[string]float64) []kv {
	out := make([]kv, 0, len(ev))
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		out = append(out, kv{k, fmt.Sprintf("%.4g", ev[k])})
	}
	return out
}

// timingRows breaks the average request down into k6's phases: blocked
// (waiting for a connection), connecting, TLS handshaking, sending,
// waiting (time to first byte) and receiving. Blocked includes connecting
// and TLS, so shares are of sending + waiting + receiving + blocked.
func timingRows(r loadtest.Result) []timingRow {
	var rows []timingRow
	total := 0.0
	for _, t := range []struct{ phase, metric string }{
		{"blocked", metrics.HTTPReqBlocked}, {"connecting", metrics.HTTPReqConnecting},
		{"TLS handshaking", metrics.HTTPReqTLSHandshaking}, {"sending", metrics.HTTPReqSending},
		{"waiting", metrics.HTTPReqWaiting}, {"receiving", metrics.HTTPReqReceiving},
	} {
		m := r.Metric(t.metric)
		avg, ok := m.Value("avg")
		if !ok {
			continue
		}
		p95, _ := m.Percentile(95)
		rows = append(rows, timingRow{Phase: t.phase, Metric: t.metric, Avg: avg, P95: p95})
		switch t.metric {
		case metrics.HTTPReqBlocked, metrics.HTTPReqSending, metrics.HTTPReqWaiting, metrics.HTTPReqReceiving:
			total += avg
		}
	}
	for i := range rows {
		if total > 0 {
			rows[i].Share = 100 * rows[i].Avg / total
		}
	}
	return rows
}

// pageValue formats a value with its unit, sizes in the terminal
// summary's SI units (kB, MB) rather than the comparison text's KiB.
func pageValue(v float64, unit string) string {
	if unit == "bytes" && finiteNum(v) {
		return loadtest.FormatBytes(v)
	}
	return formatValue(v, unit)
}

// errorCodeList formats counts by k6 error code with what each means,
// largest first: "1212 connection refused ×385, 1503 HTTP 503 Service
// Unavailable ×12".
func errorCodeList(m map[string]int64) string {
	parts := strings.Split(statusList(m), ", ")
	for i, p := range parts {
		code, n, ok := strings.Cut(p, "×")
		if c, err := strconv.Atoi(code); ok && err == nil {
			if text := k6http.CodeText(c); text != "" {
				parts[i] = code + " " + text + " ×" + n
			}
		}
	}
	return strings.Join(parts, ", ")
}

// statusList formats counts by key, largest first: "200×950, 503×50".
func statusList(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case m[a] > m[b]:
			return -1
		case m[a] < m[b]:
			return 1
		}
		return 0
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
