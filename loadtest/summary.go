package loadtest

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// SummaryData is the object k6 passes to handleSummary(data), in k6's
// default (legacy) shape: ground truth k6-handlesummary.json.
type SummaryData struct {
	RootGroup Group                    `json:"root_group"`
	Options   SummaryDataOptions       `json:"options"`
	State     SummaryState             `json:"state"`
	Metrics   map[string]SummaryMetric `json:"metrics"`
	SetupData json.RawMessage          `json:"setup_data,omitempty"`
}

// SummaryDataOptions are the summary options handleSummary sees.
type SummaryDataOptions struct {
	SummaryTrendStats []string `json:"summaryTrendStats"`
	SummaryTimeUnit   string   `json:"summaryTimeUnit"`
	NoColor           bool     `json:"noColor"`
}

// SummaryState is the run state handleSummary sees.
type SummaryState struct {
	IsStdOutTTY       bool    `json:"isStdOutTTY"`
	IsStdErrTTY       bool    `json:"isStdErrTTY"`
	TestRunDurationMs float64 `json:"testRunDurationMs"`
}

// SummaryMetric is one metric of SummaryData.
type SummaryMetric struct {
	Type       metrics.MetricType     `json:"type"`
	Contains   metrics.ValueType      `json:"contains"`
	Values     map[string]float64     `json:"values"`
	Thresholds map[string]ThresholdOK `json:"thresholds,omitempty"`
}

// ThresholdOK is a threshold's outcome in SummaryData: ok is false when it
// failed. A threshold without data is ok, as in k6.
type ThresholdOK struct {
	OK bool `json:"ok"`
}

// SummaryEnv is what the summary needs to know about where it is shown.
type SummaryEnv struct {
	StdoutTTY, StderrTTY bool
	NoColor              bool
	// Full is k6's --summary-mode full: every HTTP timing in the text
	// summary, and, with Breakdown, a section per scenario and per group.
	Full bool
	// Breakdown, an output of the run, holds the metrics of each scenario
	// and group for Full's sections; nil writes TOTAL RESULTS only.
	Breakdown *Breakdown
	// TimeUnit fixes the unit of time values in the text summary: "s",
	// "ms" or "us"; "" picks one per value.
	TimeUnit string
}

// trendStatNames returns the summaryTrendStats the run used.
func trendStatNames(res *Result) []string {
	stats, err := res.Config.Options.trendStats()
	if err != nil {
		stats = metrics.DefaultTrendStats()
	}
	names := make([]string, len(stats))
	for i, a := range stats {
		names[i] = a.String()
	}
	return names
}

// summaryValues returns the values a k6 summary shows for a metric: for
// trends only the summaryTrendStats.
func summaryValues(m MetricSummary, trendStats []string) map[string]float64 {
	out := map[string]float64{}
	if m.Type != metrics.Trend {
		for k, v := range m.Values {
			out[k] = v
		}
		return out
	}
	for _, s := range trendStats {
		if v, ok := m.Values[s]; ok {
			out[s] = v
		}
	}
	return out
}

// inK6Shapes reports whether a metric belongs in k6's summaries (text,
// handleSummary's data, --summary-export): all but loadlens's own
// iteration_lateness, which k6 lacks, unless a threshold names it. The
// Result, reports and the analysis always have it.
func inK6Shapes(res *Result, name string) bool {
	parent, _, _ := strings.Cut(name, "{")
	if parent != metrics.IterationLateness {
		return true
	}
	return slices.ContainsFunc(res.Thresholds, func(v metrics.Verdict) bool { return v.Metric == name })
}

// NewSummaryData builds the handleSummary data object of a result.
func NewSummaryData(res Result, env SummaryEnv) SummaryData {
	stats := trendStatNames(&res)
	d := SummaryData{
		RootGroup: res.RootGroup,
		Options:   SummaryDataOptions{SummaryTrendStats: stats, SummaryTimeUnit: env.TimeUnit, NoColor: env.NoColor},
		State: SummaryState{IsStdOutTTY: env.StdoutTTY, IsStdErrTTY: env.StderrTTY,
			TestRunDurationMs: float64(res.Duration) / float64(time.Millisecond)},
		Metrics:   map[string]SummaryMetric{},
		SetupData: res.SetupData,
	}
	if d.RootGroup.Groups == nil && d.RootGroup.Checks == nil {
		d.RootGroup = Group{ID: md5hex(""), Groups: []Group{}, Checks: []Check{}}
	}
	for name, m := range res.Metrics {
		if !inK6Shapes(&res, name) {
			continue
		}
		d.Metrics[name] = SummaryMetric{Type: m.Type, Contains: m.Contains, Values: summaryValues(m, stats)}
	}
	for _, v := range res.Thresholds {
		m, ok := d.Metrics[v.Metric]
		if !ok {
			continue
		}
		if m.Thresholds == nil {
			m.Thresholds = map[string]ThresholdOK{}
		}
		m.Thresholds[v.Threshold.Source] = ThresholdOK{OK: v.Status != metrics.Failed}
		d.Metrics[v.Metric] = m
	}
	return d
}

// WriteSummaryExport writes a result in the shape of k6's --summary-export:
// metrics flattened to their values (a rate's "rate" is called "value"),
// thresholds as {expression: failed}, groups and checks as objects keyed by
// name, four-space indentation. Ground truth: k6-summary.json.
func WriteSummaryExport(w io.Writer, res Result) error {
	stats := trendStatNames(&res)
	out := struct {
		Metrics   map[string]map[string]any `json:"metrics"`
		RootGroup exportGroup               `json:"root_group"`
		SetupData json.RawMessage           `json:"setup_data,omitempty"`
	}{Metrics: map[string]map[string]any{}, RootGroup: newExportGroup(res.RootGroup), SetupData: res.SetupData}
	for name, m := range res.Metrics {
		if !inK6Shapes(&res, name) {
			continue
		}
		flat := map[string]any{}
		for k, v := range summaryValues(m, stats) {
			if m.Type == metrics.Rate && k == "rate" {
				k = "value"
			}
			flat[k] = v
		}
		out.Metrics[name] = flat
	}
	for _, v := range res.Thresholds {
		flat, ok := out.Metrics[v.Metric]
		if !ok {
			continue
		}
		ths, _ := flat["thresholds"].(map[string]bool)
		if ths == nil {
			ths = map[string]bool{}
			flat["thresholds"] = ths
		}
		ths[v.Threshold.Source] = v.Status == metrics.Failed
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

type exportGroup struct {
	Name   string                 `json:"name"`
	Path   string                 `json:"path"`
	ID     string                 `json:"id"`
	Groups map[string]exportGroup `json:"groups"`
	Checks map[string]Check       `json:"checks"`
}

func newExportGroup(g Group) exportGroup {
	e := exportGroup{Name: g.Name, Path: g.Path, ID: g.ID, Groups: map[string]exportGroup{}, Checks: map[string]Check{}}
	if e.ID == "" {
		e.ID = md5hex(g.Path)
	}
	for _, sub := range g.Groups {
		e.Groups[sub.Name] = newExportGroup(sub)
	}
	for _, c := range g.Checks {
		e.Checks[c.Name] = c
	}
	return e
}
