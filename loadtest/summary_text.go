package loadtest

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// WriteTextSummary writes k6's end-of-test text summary (its compact
// mode): THRESHOLDS, then TOTAL RESULTS with checks and the metrics grouped
// as CUSTOM, HTTP, EXECUTION and NETWORK. With env.Full it is k6's full
// mode: every HTTP timing, and with env.Breakdown a SCENARIO section per
// scenario holding a GROUP section per group, each with the metrics and
// checks of its own samples.
func WriteTextSummary(w io.Writer, res Result, env SummaryEnv) error {
	var b strings.Builder
	f := summaryFormatter{res: &res, unit: env.TimeUnit, full: env.Full, indent: "    ", arrow: "  "}
	f.thresholds(&b)
	b.WriteString("\n  █ TOTAL RESULTS \n")
	f.body(&b)
	if env.Full && env.Breakdown != nil {
		for _, sec := range env.Breakdown.summarySections(&res) {
			sf := f
			sf.res = &sec.res
			if sec.group == "" {
				fmt.Fprintf(&b, "\n  █ SCENARIO: %s \n", sec.scenario)
			} else {
				// k6 indents a group two more spaces per level, and
				// its failed checks' ↳ lines two more again.
				names := strings.Split(strings.TrimPrefix(sec.group, "::"), "::")
				sf.indent = strings.Repeat("  ", len(names)+1)
				sf.arrow = "    "
				fmt.Fprintf(&b, "%s↳ GROUP: %s \n", sf.indent, names[len(names)-1])
				sf.indent += "  "
			}
			sf.body(&b)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type summaryFormatter struct {
	res  *Result
	unit string
	full bool // every HTTP metric, as k6's full mode
	// indent starts the lines of checks and metrics; arrow is the more a
	// failed check's ↳ line takes.
	indent, arrow string
}

// builtinSections puts each built-in metric in its section of the summary;
// checks are shown apart and group_duration only in k6's full mode.
var builtinSections = map[string]string{
	metrics.HTTPReqs: "HTTP", metrics.HTTPReqFailed: "HTTP", metrics.HTTPReqDuration: "HTTP",
	metrics.HTTPReqBlocked: "HTTP", metrics.HTTPReqConnecting: "HTTP", metrics.HTTPReqTLSHandshaking: "HTTP",
	metrics.HTTPReqSending: "HTTP", metrics.HTTPReqWaiting: "HTTP", metrics.HTTPReqReceiving: "HTTP",
	metrics.Iterations: "EXECUTION", metrics.IterationDuration: "EXECUTION", metrics.DroppedIterations: "EXECUTION",
	metrics.IterationLateness: "EXECUTION", metrics.VUs: "EXECUTION", metrics.VUsMax: "EXECUTION",
	metrics.DataSent: "NETWORK", metrics.DataReceived: "NETWORK",
	metrics.Checks: "", metrics.GroupDuration: "",
}

// k6's compact summary shows only these HTTP metrics.
var compactHTTP = map[string]bool{metrics.HTTPReqs: true, metrics.HTTPReqFailed: true, metrics.HTTPReqDuration: true}

func (f *summaryFormatter) thresholds(b *strings.Builder) {
	if len(f.res.Thresholds) == 0 {
		return
	}
	b.WriteString("\n  █ THRESHOLDS \n")
	byKey := map[string][]metrics.Verdict{}
	var keys []string
	for _, v := range f.res.Thresholds {
		if _, ok := byKey[v.Metric]; !ok {
			keys = append(keys, v.Metric)
		}
		byKey[v.Metric] = append(byKey[v.Metric], v)
	}
	sort.Strings(keys)
	for _, key := range keys {
		parent, suffix, isSub := splitKey(key)
		indent := "    "
		title := key
		if isSub && byKey[parent] != nil {
			indent, title = "      ", "{"+suffix+"}"
		}
		fmt.Fprintf(b, "\n%s%s\n", indent, title)
		m := f.res.Metrics[key]
		for _, v := range byKey[key] {
			mark, shown := "✓", v.Threshold.Aggregation.String()+"="+f.aggValue(m, v.Threshold.Aggregation, v.Observed)
			switch v.Status {
			case metrics.Failed:
				mark = "✗"
			case metrics.NoData:
				shown = "no data"
			}
			fmt.Fprintf(b, "%s%s '%s' %s\n", indent, mark, v.Threshold.Source, shown)
		}
	}
	b.WriteString("\n")
}

// splitKey splits "metric{k:v}" into metric and "k:v".
func splitKey(key string) (parent, suffix string, ok bool) {
	i := strings.IndexByte(key, '{')
	if i < 0 || !strings.HasSuffix(key, "}") {
		return key, "", false
	}
	return key[:i], key[i+1 : len(key)-1], true
}

// aggValue formats one aggregation of a metric for a threshold line.
func (f *summaryFormatter) aggValue(m MetricSummary, a metrics.Aggregation, v float64) string {
	switch {
	case m.Type == metrics.Rate:
		return percent(v)
	case m.Type == metrics.Counter && a.Name == "rate":
		return f.number(m, v) + "/s"
	}
	return f.number(m, v)
}

// number formats a value by what the metric contains.
func (f *summaryFormatter) number(m MetricSummary, v float64) string {
	switch m.Contains {
	case metrics.Time:
		return formatMillis(v, f.unit)
	case metrics.Data:
		return FormatBytes(v)
	}
	return formatPlain(v)
}

func percent(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }

func formatPlain(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// formatMillis formats a time value in ms as k6 does: 302.68µs, 1.11ms,
// 102.62ms, 1.2s, 1m3s; unit "s", "ms" or "us" fixes the unit. Like k6 it
// cuts, not rounds, to two decimals: 1.11973 ms is 1.11ms (ground truth
// k6-run-basic.txt with k6-summary.json).
func formatMillis(ms float64, unit string) string {
	trim := func(v float64, suffix string) string {
		// The relative nudge keeps 302.68 (302.67999… in binary) whole.
		s := strconv.FormatFloat(math.Trunc(v*100*(1+1e-12))/100, 'f', 2, 64)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s + suffix
	}
	switch unit {
	case "s":
		return trim(ms/1000, "s")
	case "ms":
		return trim(ms, "ms")
	case "us":
		return trim(ms*1000, "µs")
	}
	switch a := math.Abs(ms); {
	case a == 0:
		return "0s"
	case a < 0.001:
		return trim(ms*1e6, "ns")
	case a < 1:
		return trim(ms*1000, "µs")
	case a < 1000:
		return trim(ms, "ms")
	case a < 60_000:
		return trim(ms/1000, "s")
	}
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Second).String()
}

// FormatBytes formats a size as k6's summary does (SI units): 399 B,
// 7.0 kB, 20 kB. Reports use it too, so that a size reads the same
// everywhere.
func FormatBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " B"
	}
	if math.Abs(v) < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + units[i]
}

type summaryRow struct {
	name         string
	cells        []string
	trend, gauge bool
}

// SummaryRow is one metric as the text summary shows it.
type SummaryRow struct {
	// Section is k6's: CUSTOM, HTTP, EXECUTION or NETWORK.
	Section string `json:"section"`
	// Metric is the metric's key: "http_req_duration", or a sub-metric's
	// "http_req_duration{status:200}".
	Metric string             `json:"metric"`
	Type   metrics.MetricType `json:"type"`
	// Cells are its values with their units: "avg=59.48ms", "p(95)=…"
	// for a trend; "12", "3.2/s" for a counter; "1.25%", "30 out of
	// 2400" for a rate; "5", "min=1", "max=9" for a gauge.
	Cells []string `json:"cells"`
}

// SummaryRows returns every metric of k6's full summary (all but checks
// and group_duration, which are shown otherwise), by section and name, as
// the text summary writes them.
func SummaryRows(res Result) []SummaryRow {
	f := summaryFormatter{res: &res, full: true}
	return f.rows()
}

// rows are the metrics of TOTAL RESULTS, sorted by section and name.
func (f *summaryFormatter) rows() []SummaryRow {
	var names []string
	for name := range f.res.Metrics {
		if inK6Shapes(f.res, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	stats := trendStatNames(f.res)
	var out []SummaryRow
	for _, section := range summarySections {
		for _, name := range names {
			parent, _, _ := splitKey(name)
			sec, builtin := builtinSections[parent]
			if !builtin {
				sec = "CUSTOM"
			}
			if sec != section || section == "HTTP" && !f.full && !compactHTTP[parent] {
				continue
			}
			m := f.res.Metrics[name]
			out = append(out, SummaryRow{Section: section, Metric: name, Type: m.Type, Cells: f.cells(m, stats)})
		}
	}
	return out
}

// summarySections are k6's sections of TOTAL RESULTS, in order.
var summarySections = []string{"CUSTOM", "HTTP", "EXECUTION", "NETWORK"}

// body writes the checks and the metrics of a section: TOTAL RESULTS,
// a scenario or a group.
func (f *summaryFormatter) body(b *strings.Builder) {
	f.checks(b)
	sections := map[string][]summaryRow{}
	for _, r := range f.rows() {
		row := summaryRow{name: r.Metric, cells: r.Cells, trend: r.Type == metrics.Trend, gauge: r.Type == metrics.Gauge}
		if _, suffix, isSub := splitKey(r.Metric); isSub {
			row.name = "  { " + suffix + " }"
		}
		sections[r.Section] = append(sections[r.Section], row)
	}
	var all []summaryRow
	for _, rows := range sections {
		all = append(all, rows...)
	}
	nameWidth, trendWidths, plainWidths := columnWidths(all)
	for _, section := range summarySections {
		rows := sections[section]
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s%s\n", f.indent, section)
		for _, r := range rows {
			widths := plainWidths
			if r.trend {
				widths = trendWidths
			}
			b.WriteString(f.indent + r.name + strings.Repeat(".", nameWidth-len([]rune(r.name))) + ": ")
			// Cells are padded to their column and parted by a space, as
			// k6 does; a counter's or rate's last cell is not padded.
			for i, c := range r.cells {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(c)
				if r.trend || r.gauge || i < len(r.cells)-1 {
					b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))))
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
}

// cells returns a metric's values as the summary shows them.
func (f *summaryFormatter) cells(m MetricSummary, trendStats []string) []string {
	v := m.Values
	switch m.Type {
	case metrics.Counter:
		return []string{f.number(m, v["count"]), f.number(m, v["rate"]) + "/s"}
	case metrics.Gauge:
		return []string{f.number(m, v["value"]), "min=" + f.number(m, v["min"]), "max=" + f.number(m, v["max"])}
	case metrics.Rate:
		return []string{percent(v["rate"]), fmt.Sprintf("%s out of %s", formatPlain(v["passes"]), formatPlain(v["passes"]+v["fails"]))}
	}
	cells := make([]string, 0, len(trendStats))
	for _, s := range trendStats {
		x, ok := v[s]
		if !ok {
			cells = append(cells, s+"=-")
			continue
		}
		if s == "count" {
			cells = append(cells, s+"="+formatPlain(x))
			continue
		}
		cells = append(cells, s+"="+f.number(m, x))
	}
	return cells
}

func columnWidths(rows []summaryRow) (name int, trend, plain []int) {
	for _, r := range rows {
		name = max(name, len([]rune(r.name))+3)
		widths := &plain
		if r.trend {
			widths = &trend
		}
		for i, c := range r.cells {
			if i >= len(*widths) {
				*widths = append(*widths, 0)
			}
			(*widths)[i] = max((*widths)[i], len([]rune(c)))
		}
	}
	return name, trend, plain
}

// checks writes the checks block: totals, then each check.
func (f *summaryFormatter) checks(b *strings.Builder) {
	m, ok := f.res.Metrics[metrics.Checks]
	if !ok {
		return
	}
	passes, fails := m.Values["passes"], m.Values["fails"]
	total := passes + fails
	rate := 0.0
	if secs := f.res.Duration.Seconds(); secs > 0 {
		rate = total / secs
	}
	rows := [][2]string{
		{"checks_total", formatPlain(total)},
		{"checks_succeeded", percent(passes / math.Max(total, 1))},
		{"checks_failed", percent(fails / math.Max(total, 1))},
	}
	tails := []string{strconv.FormatFloat(rate, 'f', 6, 64) + "/s",
		fmt.Sprintf("%s out of %s", formatPlain(passes), formatPlain(total)),
		fmt.Sprintf("%s out of %s", formatPlain(fails), formatPlain(total))}
	w := len("checks_succeeded") + 3
	cw := 0
	for _, r := range rows {
		cw = max(cw, len(r[1]))
	}
	b.WriteString("\n")
	for i, r := range rows {
		fmt.Fprintf(b, "%s%s%s: %s%s %s\n", f.indent, r[0], strings.Repeat(".", w-len(r[0])), r[1], strings.Repeat(" ", cw-len(r[1])), tails[i])
	}
	b.WriteString("\n")
	var walk func(g Group)
	walk = func(g Group) {
		for _, c := range g.Checks {
			if c.Fails == 0 {
				fmt.Fprintf(b, "%s✓ %s\n", f.indent, c.Name)
				continue
			}
			pct := 100 * float64(c.Passes) / float64(c.Passes+c.Fails)
			fmt.Fprintf(b, "%s✗ %s\n%s%s↳  %.0f%% — ✓ %d / ✗ %d\n", f.indent, c.Name, f.indent, f.arrow, pct, c.Passes, c.Fails)
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(f.res.RootGroup)
}
