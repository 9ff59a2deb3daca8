package loadtest

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/k6/" + name)
	require.NoError(t, err)
	return b
}

// resultFromHandleSummary rebuilds a Result from k6's handleSummary data, so
// that the writers can be checked against k6's own output.
func resultFromHandleSummary(t *testing.T, b []byte) Result {
	t.Helper()
	var d struct {
		RootGroup Group `json:"root_group"`
		State     struct {
			TestRunDurationMs float64 `json:"testRunDurationMs"`
		} `json:"state"`
		Metrics map[string]struct {
			Type       metrics.MetricType `json:"type"`
			Contains   metrics.ValueType  `json:"contains"`
			Values     map[string]float64 `json:"values"`
			Thresholds map[string]struct {
				OK bool `json:"ok"`
			} `json:"thresholds"`
		} `json:"metrics"`
		SetupData json.RawMessage `json:"setup_data"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	res := Result{Metrics: map[string]MetricSummary{}, RootGroup: d.RootGroup, SetupData: d.SetupData,
		Duration: time.Duration(d.State.TestRunDurationMs * float64(time.Millisecond))}
	for name, m := range d.Metrics {
		res.Metrics[name] = MetricSummary{Type: m.Type, Contains: m.Contains, Values: m.Values}
		for expr, ok := range m.Thresholds {
			th, err := metrics.ParseThreshold(expr)
			require.NoError(t, err)
			st := metrics.Passed
			if !ok.OK {
				st = metrics.Failed
			}
			res.Thresholds = append(res.Thresholds, metrics.Verdict{Metric: name, Threshold: th, Status: st,
				Observed: m.Values[th.Aggregation.String()]})
		}
	}
	return res
}

func TestSummaryDataMatchesK6(t *testing.T) {
	t.Parallel()
	golden := readGolden(t, "k6-handlesummary.json")
	res := resultFromHandleSummary(t, golden)
	out, err := json.Marshal(NewSummaryData(res, SummaryEnv{}))
	require.NoError(t, err)
	assert.JSONEq(t, string(golden), string(out))
}

// resultFromSummaryExport rebuilds a Result from k6's --summary-export file,
// telling metric types apart by their keys.
func resultFromSummaryExport(t *testing.T, b []byte) Result {
	t.Helper()
	var d struct {
		Metrics   map[string]map[string]json.RawMessage `json:"metrics"`
		SetupData json.RawMessage                       `json:"setup_data"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	res := Result{Metrics: map[string]MetricSummary{}, SetupData: d.SetupData}
	for name, flat := range d.Metrics {
		m := MetricSummary{Values: map[string]float64{}}
		for k, raw := range flat {
			if k == "thresholds" {
				var ths map[string]bool
				require.NoError(t, json.Unmarshal(raw, &ths))
				for expr, failed := range ths {
					th, err := metrics.ParseThreshold(expr)
					require.NoError(t, err)
					st := metrics.Passed
					if failed {
						st = metrics.Failed
					}
					res.Thresholds = append(res.Thresholds, metrics.Verdict{Metric: name, Threshold: th, Status: st})
				}
				continue
			}
			var v float64
			require.NoError(t, json.Unmarshal(raw, &v))
			m.Values[k] = v
		}
		switch _, hasPasses := m.Values["passes"]; {
		case hasPasses:
			m.Type = metrics.Rate
			m.Values["rate"] = m.Values["value"]
			delete(m.Values, "value")
		case m.Values["avg"] != 0 || m.Values["med"] != 0:
			m.Type = metrics.Trend
		case len(m.Values) == 3:
			m.Type = metrics.Gauge
		default:
			m.Type = metrics.Counter
		}
		res.Metrics[name] = m
	}
	return res
}

func TestSummaryExportMatchesK6(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"k6-summary.json", "k6-summary-setupdata.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			golden := readGolden(t, name)
			res := resultFromSummaryExport(t, golden)
			var root struct {
				RootGroup exportGroup `json:"root_group"`
			}
			require.NoError(t, json.Unmarshal(golden, &root))
			res.RootGroup = groupFromExport(root.RootGroup)
			var out strings.Builder
			require.NoError(t, WriteSummaryExport(&out, res))
			assert.JSONEq(t, string(golden), out.String())
			assert.True(t, strings.HasPrefix(out.String(), "{\n    \""), "four-space indentation, as k6")
		})
	}
}

// groupFromExport turns the export's keyed groups back into the ordered tree
// (order by name: the export does not keep it).
func groupFromExport(e exportGroup) Group {
	g := Group{Name: e.Name, Path: e.Path, ID: e.ID, Groups: []Group{}, Checks: []Check{}}
	for _, name := range sortedMapKeys(e.Groups) {
		g.Groups = append(g.Groups, groupFromExport(e.Groups[name]))
	}
	for _, name := range sortedMapKeys(e.Checks) {
		g.Checks = append(g.Checks, e.Checks[name])
	}
	return g
}

func TestSummaryDataSetupData(t *testing.T) {
	t.Parallel()
	// k6-hs-setupdata.json lists the keys of handleSummary's data when setup
	// returned a value, and the nested group tree.
	var golden struct {
		Keys      []string        `json:"keys"`
		SetupData json.RawMessage `json:"setup_data"`
		RootGroup json.RawMessage `json:"root_group"`
	}
	require.NoError(t, json.Unmarshal(readGolden(t, "k6-hs-setupdata.json"), &golden))
	var root Group
	require.NoError(t, json.Unmarshal(golden.RootGroup, &root))
	d := NewSummaryData(Result{RootGroup: root, SetupData: golden.SetupData, Metrics: map[string]MetricSummary{}}, SummaryEnv{})
	out, err := json.Marshal(d)
	require.NoError(t, err)
	var keys map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &keys))
	assert.ElementsMatch(t, golden.Keys, sortedMapKeys(keys))
	assert.JSONEq(t, string(golden.SetupData), string(keys["setup_data"]))
	assert.JSONEq(t, string(golden.RootGroup), string(keys["root_group"]))
}

func TestFormatters(t *testing.T) {
	t.Parallel()
	// k6 cuts to two decimals (k6-run-basic.txt: avg 1.11973 is 1.11ms, med
	// 102.479278 is 102.47ms, min 0.187208 is 187.2µs).
	for in, want := range map[float64]string{0.30268: "302.68µs", 1.1197: "1.11ms", 102.62464: "102.62ms",
		102.479278: "102.47ms", 0.187208: "187.2µs", 2.96817: "2.96ms", -2.96817: "-2.96ms",
		2.0123: "2.01ms", 1.9005: "1.9ms", 0.00743: "7.43µs", 1500: "1.5s", 0: "0s", 125_000: "2m5s"} {
		assert.Equal(t, want, formatMillis(in, ""), "%v ms", in)
	}
	assert.Equal(t, "0.3s", formatMillis(302.68, "s"))
	assert.Equal(t, "302680µs", formatMillis(302.68, "us"))
	for in, want := range map[float64]string{19992: "20 kB", 6958: "7.0 kB", 3971.37: "4.0 kB", 399: "399 B", 1_234_567: "1.2 MB"} {
		assert.Equal(t, want, FormatBytes(in), "%v bytes", in)
	}
	assert.Equal(t, "0.422373", formatPlain(0.422373))
	assert.Equal(t, "98", formatPlain(98))
	assert.Equal(t, "100.00%", percent(1))
}

// The text summary has k6's sections and lines: ground truth k6-run-basic.txt.
func TestTextSummaryLayout(t *testing.T) {
	t.Parallel()
	res := resultFromHandleSummary(t, readGolden(t, "k6-handlesummary.json"))
	res.Metrics["my_rate"] = MetricSummary{Type: metrics.Rate, Values: map[string]float64{"rate": 1, "passes": 98, "fails": 0}}
	var b strings.Builder
	require.NoError(t, WriteTextSummary(&b, res, SummaryEnv{}))
	out := b.String()
	want := readGolden(t, "k6-run-basic.txt")
	for _, line := range []string{
		"  █ THRESHOLDS ",
		"    checks\n    ✓ 'rate>0.9' rate=100.00%",
		"    http_req_duration\n    ✓ 'p(95)<500' p(95)=2.15ms",
		"      {status:200}\n      ✓ 'max<1000' max=5.14ms",
		"  █ TOTAL RESULTS ",
		"    ✓ status is 200",
		"    CUSTOM\n    my_counter",
		"    HTTP\n    http_req_duration",
		"      { expected_response:true }...: avg=",
		"    EXECUTION\n    iteration_duration",
		"    NETWORK\n    data_received",
	} {
		assert.Contains(t, out, line)
	}
	// Same label widths as k6: the longest name plus three dots.
	assert.Contains(t, string(want), "    checks_succeeded...: 100.00% 196 out of 196")
	assert.Contains(t, out, "    checks_succeeded...: 100.00% 98 out of 98")
	assert.Contains(t, out, "    http_req_failed................: 0.00%")
	assert.NotContains(t, out, "group_duration", "compact mode leaves group_duration out")
	assert.NotContains(t, out, "http_req_blocked", "compact mode shows three HTTP metrics")
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// iteration_lateness is loadlens's own: k6's shapes leave it out unless a
// threshold names it; the Result keeps it.
func TestSummariesLeaveOutLatenessUnlessAsked(t *testing.T) {
	t.Parallel()
	lateness := MetricSummary{Type: metrics.Trend, Contains: metrics.Time, Values: map[string]float64{"avg": 1, "p(95)": 2}}
	iters := MetricSummary{Type: metrics.Counter, Values: map[string]float64{"count": 3, "rate": 1}}
	for _, asked := range []bool{false, true} {
		res := Result{Metrics: map[string]MetricSummary{metrics.IterationLateness: lateness, metrics.Iterations: iters}}
		if asked {
			th, err := metrics.ParseThreshold("p(95)<10")
			require.NoError(t, err)
			res.Thresholds = []metrics.Verdict{{Metric: metrics.IterationLateness, Threshold: th, Status: metrics.Passed}}
		}
		d := NewSummaryData(res, SummaryEnv{})
		assert.Contains(t, d.Metrics, metrics.Iterations)
		var export strings.Builder
		require.NoError(t, WriteSummaryExport(&export, res))
		var text strings.Builder
		require.NoError(t, WriteTextSummary(&text, res, SummaryEnv{NoColor: true}))
		if asked {
			assert.Contains(t, d.Metrics, metrics.IterationLateness)
			assert.Contains(t, export.String(), metrics.IterationLateness)
			assert.Contains(t, text.String(), metrics.IterationLateness)
		} else {
			assert.NotContains(t, d.Metrics, metrics.IterationLateness)
			assert.NotContains(t, export.String(), metrics.IterationLateness)
			assert.NotContains(t, text.String(), metrics.IterationLateness)
		}
	}
}
