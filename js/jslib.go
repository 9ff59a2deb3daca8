package js

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// jslibFiles are loadlens's own versions of k6's most imported jslib
// modules, for scripts that import them by URL.
//
//go:embed jslib/*.js
var jslibFiles embed.FS

// jslibURL matches the URLs of k6's jslib modules that loadlens answers
// without the network: https://jslib.k6.io/NAME/VERSION/index.js.
var jslibURL = regexp.MustCompile(`^https://jslib\.k6\.io/(k6-utils|k6-summary|url)/[0-9][0-9a-z.\-]*/index\.js$`)

// jslibModule returns the module standing in for a jslib URL: "" when
// there is none.
func jslibModule(specifier string) string {
	m := jslibURL.FindStringSubmatch(specifier)
	if m == nil {
		return ""
	}
	return m[1]
}

// summaryModule is jslib's k6-summary: textSummary(data, options) and
// jUnit(data, options) on the data handleSummary gets.
func summaryModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"textSummary": func(call sobek.FunctionCall) sobek.Value {
			d, res := vu.summaryArg(call.Argument(0))
			env := loadtest.SummaryEnv{TimeUnit: d.Options.SummaryTimeUnit, NoColor: true}
			var b strings.Builder
			if err := loadtest.WriteTextSummary(&b, res, env); err != nil {
				vu.throwError(err)
			}
			out := b.String()
			if o, ok := call.Argument(1).(*sobek.Object); ok {
				if indent := getStr(o, "indent"); indent != "" {
					out = indent + strings.ReplaceAll(strings.TrimRight(out, "\n"), "\n", "\n"+indent) + "\n"
				}
			}
			return vu.rt.ToValue(out)
		},
		"jUnit": func(call sobek.FunctionCall) sobek.Value {
			_, res := vu.summaryArg(call.Argument(0))
			name := "k6 thresholds"
			if o, ok := call.Argument(1).(*sobek.Object); ok && getStr(o, "name") != "" {
				name = getStr(o, "name")
			}
			return vu.rt.ToValue(junit(name, res))
		},
	}}, nil
}

// summaryArg reads handleSummary's data back into a result that the text
// summary can show.
func (vu *VU) summaryArg(v sobek.Value) (loadtest.SummaryData, loadtest.Result) {
	b, err := vu.stringify(v)
	if err != nil {
		vu.throwError(err)
	}
	var d loadtest.SummaryData
	if err := json.Unmarshal(b, &d); err != nil {
		vu.throwf("textSummary: the argument is not handleSummary's data: %v", err)
	}
	res := loadtest.Result{Metrics: map[string]loadtest.MetricSummary{}, RootGroup: d.RootGroup,
		Duration: time.Duration(d.State.TestRunDurationMs * float64(time.Millisecond))}
	res.Config.Options.SummaryTrendStats = d.Options.SummaryTrendStats
	names := make([]string, 0, len(d.Metrics))
	for name := range d.Metrics {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m := d.Metrics[name]
		ms := loadtest.MetricSummary{Type: m.Type, Contains: m.Contains, Values: m.Values}
		if parent, tags, ok := strings.Cut(name, "{"); ok {
			sub := map[string]string{}
			for _, kv := range strings.Split(strings.TrimSuffix(tags, "}"), ",") {
				if k, v, ok := strings.Cut(kv, ":"); ok {
					sub[k] = v
				}
			}
			ms.Submetric = &loadtest.SubmetricInfo{Parent: parent, Tags: sub}
		}
		res.Metrics[name] = ms
		srcs := make([]string, 0, len(m.Thresholds))
		for src := range m.Thresholds {
			srcs = append(srcs, src)
		}
		slices.Sort(srcs)
		for _, src := range srcs {
			th, err := metrics.ParseThreshold(src)
			if err != nil {
				continue
			}
			verdict := metrics.Verdict{Metric: name, Threshold: th, Status: metrics.Passed}
			if !m.Thresholds[src].OK {
				verdict.Status = metrics.Failed
			}
			if x, ok := m.Values[th.Aggregation.String()]; ok {
				verdict.Observed = x
			}
			res.Thresholds = append(res.Thresholds, verdict)
		}
	}
	return d, res
}

// junit renders thresholds as JUnit XML: one test case per threshold.
func junit(name string, res loadtest.Result) string {
	var b strings.Builder
	failures := 0
	for _, v := range res.Thresholds {
		if v.Status == metrics.Failed {
			failures++
		}
	}
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<testsuites tests=\"%d\" failures=\"%d\">\n", len(res.Thresholds), failures)
	fmt.Fprintf(&b, "<testsuite name=%q tests=\"%d\" failures=\"%d\">\n", html.EscapeString(name), len(res.Thresholds), failures)
	for _, v := range res.Thresholds {
		tc := html.EscapeString(v.Metric + " - " + v.Threshold.Source)
		if v.Status == metrics.Failed {
			fmt.Fprintf(&b, "<testcase name=\"%s\"><failure message=\"failed\" /></testcase>\n", tc)
		} else {
			fmt.Fprintf(&b, "<testcase name=\"%s\" />\n", tc)
		}
	}
	b.WriteString("</testsuite>\n</testsuites>\n")
	return b.String()
}
