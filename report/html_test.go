package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
)

// artifactDir returns where tests keep files for people to look at:
// $LOADLENS_ARTIFACTS when set (CI uploads it), else a temp dir that
// lives as long as the test.
func artifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("LOADLENS_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "report")
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

func renderHTML(t testing.TB, in report.Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, report.WriteHTML(&buf, in))
	return buf.Bytes()
}

// parsedPage is an HTML report parsed back.
type parsedPage struct {
	root *html.Node
	byID map[string]*html.Node
}

func parsePage(t testing.TB, b []byte) parsedPage {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(b))
	require.NoError(t, err)
	p := parsedPage{root: root, byID: map[string]*html.Node{}}
	for n := range root.Descendants() {
		if id := attr(n, "id"); id != "" {
			p.byID[id] = n
		}
	}
	return p
}

func attr(n *html.Node, key string) string {
	if n.Type != html.ElementNode {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text returns the text content of n.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// elements returns the elements named tag under n.
func elements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			out = append(out, d)
		}
	}
	return out
}

func TestWriteHTMLSections(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, false)
	b := renderHTML(t, in)
	require.NoError(t, os.WriteFile(filepath.Join(artifactDir(t), "fixture.html"), b, 0o644))
	p := parsePage(t, b)

	for _, id := range []string{"summary", "verdict", "thresholds", "charts", "checks", "endpoints", "findings", "ai", "comparison", "config", "warnings", "report-data"} {
		assert.Contains(t, p.byID, id, "section #%s", id)
	}
	assert.Equal(t, "FAILED: thresholds crossed", strings.TrimSpace(text(p.byID["verdict"])))

	// Thresholds: one row per verdict, with pass / fail / no data and the observed value.
	rows := elements(p.byID["thresholds"], "tr")[1:]
	require.Len(t, rows, 3)
	assert.Contains(t, text(rows[0]), "failed")
	assert.Contains(t, text(rows[0]), "p(95) = 53.95")
	assert.Contains(t, text(rows[1]), "passed")
	assert.Contains(t, text(rows[2]), "no data")

	// Charts: a figure per chart of the data, the required ones among them.
	var data struct {
		N      int `json:"n"`
		Charts []struct {
			ID     string `json:"id"`
			Series []struct {
				Values []*float64 `json:"values"`
			} `json:"series"`
		} `json:"charts"`
		Windows []struct{ Start, End float64 } `json:"windows"`
	}
	require.NoError(t, json.Unmarshal([]byte(text(p.byID["report-data"])), &data))
	assert.Equal(t, 60, data.N)
	var ids []string
	for _, c := range data.Charts {
		ids = append(ids, c.ID)
		assert.Contains(t, p.byID, "chart-"+c.ID)
		for _, s := range c.Series {
			assert.Len(t, s.Values, data.N)
		}
	}
	for _, id := range []string{"vus", "throughput", "latency", "errors", "dropped", "generator-cpu", "generator-memory", "endpoint-latency"} {
		assert.Contains(t, ids, id)
	}
	require.Len(t, data.Windows, 1, "the windowed finding is shaded, the whole-run one is not")
	assert.InDelta(t, 36, data.Windows[0].Start, 1e-9)
	assert.Nil(t, data.Charts[2].Series[0].Values[30], "a missing second is a gap (null)")

	// Checks tree: nested groups.
	checks := p.byID["checks"]
	assert.Len(t, elements(checks, "details"), 2)
	for _, s := range []string{"status is 200", "cart not empty", "paid", "checkout", "pay", "10 failed"} {
		assert.Contains(t, text(checks), s)
	}
	assert.Len(t, elements(elements(p.byID["endpoints"], "tbody")[0], "tr"), 2)
	assert.Contains(t, text(p.byID["endpoints"]), "503×15")

	// Findings, AI and comparison.
	assert.Len(t, elements(p.byID["findings"], "li"), 2)
	assert.Contains(t, p.byID, "finding-latency_shift-1a2b3c4d")
	ai := text(p.byID["ai"])
	assert.Contains(t, ai, "AI-generated")
	assert.Contains(t, ai, "gemini-2.5-flash")
	assert.Contains(t, ai, "Connection pool exhausted")
	cmp := text(p.byID["comparison"])
	assert.Contains(t, cmp, "latency p95")
	assert.Contains(t, cmp, "worse")
	assert.Contains(t, cmp, "New findings (1)")

	// Config, with the base URL's password redacted.
	cfg := text(p.byID["config"])
	assert.Contains(t, cfg, `"REGION": "eu-west-1"`)
	assert.NotContains(t, string(b), "hunter2")

	// Self-contained: no external resources.
	for _, tag := range []string{"script", "link", "img", "iframe"} {
		for _, n := range elements(p.root, tag) {
			assert.Empty(t, attr(n, "src"), "<%s src>", tag)
			assert.Empty(t, attr(n, "href"), "<%s href>", tag)
		}
	}
}

func TestWriteHTMLNoOptionalParts(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, false)
	in.AI, in.Comparison = nil, nil
	in.Result.Thresholds, in.Result.Endpoints, in.Result.Timeline.Series = nil, nil, nil
	in.Analysis.Findings = nil
	p := parsePage(t, renderHTML(t, in))
	assert.NotContains(t, p.byID, "comparison")
	assert.Contains(t, text(p.byID["ai"]), "No AI analysis was requested.")
	assert.Contains(t, text(p.byID["thresholds"]), "No thresholds were declared.")
	assert.Contains(t, text(p.byID["findings"]), "found nothing wrong")
	assert.Contains(t, text(p.byID["chart-latency"]), "No data.")

	in.AI = &anomaly.AIAnalysis{Unavailable: "no API key"}
	assert.Contains(t, text(parsePage(t, renderHTML(t, in)).byID["ai"]), "No AI analysis: no API key.")
}

// TestWriteHTMLHostile puts hostile strings from "the target" and "the
// model" everywhere and checks that none became markup: the page has only
// its own three scripts, no element or attribute they smuggled in, and the
// chart data still holds the strings exactly.
func TestWriteHTMLHostile(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, true)
	b := renderHTML(t, in)
	require.NoError(t, os.WriteFile(filepath.Join(artifactDir(t), "hostile.html"), b, 0o644))
	p := parsePage(t, b)

	scripts := elements(p.root, "script")
	require.Len(t, scripts, 3, "only the data, uPlot and the report's script")
	assert.Equal(t, "application/json", attr(scripts[0], "type"))
	assert.Empty(t, elements(p.root, "img"))
	for n := range p.root.Descendants() {
		for _, a := range n.Attr {
			assert.False(t, strings.HasPrefix(a.Key, "on"), "event handler attribute %s on <%s>", a.Key, n.Data)
		}
	}
	assert.NotContains(t, string(b), "<script>alert")
	assert.NotContains(t, string(b), "<!-- <script>")
	// In the raw blob: no markup characters, no line terminators that old
	// JavaScript engines choke on.
	const open = `<script type="application/json" id="report-data">`
	start := bytes.Index(b, []byte(open)) + len(open)
	end := bytes.Index(b[start:], []byte("</script>"))
	require.Positive(t, end)
	raw := string(b[start : start+end])
	for _, bad := range []string{"<", ">", "&", "\u2028", "\u2029"} {
		assert.NotContains(t, raw, bad)
	}

	// The blob is one text node that parses as JSON and keeps the names exactly.
	var data struct {
		Charts []struct {
			Series []struct{ Label string } `json:"series"`
		} `json:"charts"`
		Windows []struct{ Label string } `json:"windows"`
	}
	blob := text(p.byID["report-data"])
	require.NoError(t, json.Unmarshal([]byte(blob), &data))
	var labels []string
	for _, c := range data.Charts {
		for _, s := range c.Series {
			labels = append(labels, s.Label)
		}
	}
	assert.Contains(t, labels, hostile[0])
	assert.Contains(t, labels, hostile[1])

	// Text shows the strings as text.
	assert.Contains(t, text(p.byID["endpoints"]), hostile[0])
	assert.Contains(t, text(p.byID["checks"]), hostile[2])
	assert.Contains(t, text(p.byID["ai"]), hostile[1])
	assert.Contains(t, text(p.byID["findings"]), hostile[4])
	assert.Contains(t, text(p.byID["warnings"]), hostile[3])
}

// chartBlob returns the chart data of a rendered report.
func chartBlob(t *testing.T, b []byte) (n int, step float64, series map[string][]*float64) {
	t.Helper()
	var data struct {
		N      int     `json:"n"`
		Step   float64 `json:"step"`
		Charts []struct {
			ID     string `json:"id"`
			Series []struct {
				Label  string     `json:"label"`
				Values []*float64 `json:"values"`
			} `json:"series"`
		} `json:"charts"`
	}
	require.NoError(t, json.Unmarshal([]byte(text(parsePage(t, b).byID["report-data"])), &data))
	series = map[string][]*float64{}
	for _, c := range data.Charts {
		for _, s := range c.Series {
			series[c.ID+"/"+s.Label] = s.Values
		}
	}
	return data.N, data.Step, series
}

// TestChartDownsampling: a run longer than the chart budget is bucketed;
// latency keeps its spikes (max), throughput its level (mean).
func TestChartDownsampling(t *testing.T) {
	t.Parallel()
	const n = 9000 // 2.5 h: buckets of 3 s
	res := fixture(t, "long", n, 1, false)
	for i := range res.Timeline.Series {
		s := &res.Timeline.Series[i]
		for j := range s.Values {
			s.Values[j] = 10
		}
		if s.Name == "http_req_duration.p99" && len(s.Tags) == 0 {
			s.Values[5001] = 900
		}
		if s.Name == "http_reqs" && len(s.Tags) == 0 {
			s.Values[3000], s.Values[3001], s.Values[3002] = 0, 20, 10 // mean 10
		}
	}
	got, step, series := chartBlob(t, renderHTML(t, report.Input{Result: res}))
	assert.Equal(t, 3000, got)
	assert.InDelta(t, 3, step, 0)
	p99 := series["latency/p99"]
	require.Len(t, p99, 3000)
	assert.InDelta(t, 900, *p99[1667], 0, "bucket 1667 holds second 5001")
	assert.InDelta(t, 10, *p99[1666], 0)
	assert.InDelta(t, 10, *series["throughput/requests/s"][1000], 1e-9)
}

// TestRealRunReports renders a real run against a loopback server in every
// format: all HTML sections, a JSON round trip, valid JUnit, and the auth
// token nowhere.
func TestRealRunReports(t *testing.T) {
	t.Parallel()
	in := realRun(t)
	require.NotEmpty(t, in.Result.Endpoints)

	page := renderHTML(t, in)
	p := parsePage(t, page)
	for _, id := range []string{"summary", "thresholds", "charts", "checks", "endpoints", "findings", "ai", "config"} {
		assert.Contains(t, p.byID, id)
	}
	n, _, series := chartBlob(t, page)
	assert.Equal(t, in.Result.Timeline.Len(), n)
	assert.NotEmpty(t, series["throughput/requests/s"])

	var js, xmlOut bytes.Buffer
	require.NoError(t, report.WriteJSON(&js, in))
	back, err := report.ReadJSON(bytes.NewReader(js.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, in.Result.Metrics["http_reqs"].Values["count"], back.Result.Metrics["http_reqs"].Values["count"])
	_, doc := junit(t, in)
	assert.Equal(t, len(in.Result.Thresholds), doc.Suites[1].Tests)

	require.NoError(t, report.WriteJUnit(&xmlOut, in))
	for _, out := range [][]byte{page, js.Bytes(), xmlOut.Bytes()} {
		assert.NotContains(t, string(out), "s3cret-token")
	}
}

// A report shows what the terminal shows, with units: every metric with
// its stats, the HTTP timing breakdown, error codes with their meaning,
// thresholds' observed values with their unit and as lines on their
// charts, and series per scenario, per group and per custom metric.
func TestWriteHTMLCompleteness(t *testing.T) {
	t.Parallel()
	in := completeRun(t)
	b := renderHTML(t, in)
	require.NoError(t, os.WriteFile(filepath.Join(artifactDir(t), "complete.html"), b, 0o644))
	p := parsePage(t, b)

	metricsText := text(p.byID["metrics"])
	for name := range in.Result.Metrics {
		if name == metrics.Checks || name == metrics.GroupDuration {
			continue
		}
		assert.Contains(t, metricsText, name, "the metric table lists %s", name)
	}
	for _, want := range []string{"cart_ms", "avg=40ms", "orders", "paid", "50.00%", "queue", "http_req_waiting", "data_received"} {
		assert.Contains(t, metricsText, want)
	}
	timings := text(p.byID["timings"].Parent)
	for _, phase := range []string{"blocked", "connecting", "TLS handshaking", "sending", "waiting", "receiving"} {
		assert.Contains(t, timings, phase)
	}
	assert.Contains(t, text(p.byID["endpoints"]), "1503 HTTP 503 Service Unavailable ×", "error codes say what they mean")

	assert.Regexp(t, `data received\s*[0-9.]+ kB`, text(p.byID["summary"]), "sizes in SI units, as the terminal's")
	ths := text(p.byID["thresholds"])
	assert.Regexp(t, `p\(95\) = [0-9.]+(ms|µs|s)`, ths, "observed latencies carry their unit")
	assert.Contains(t, ths, "p(95) = 40ms", "a custom time trend carries its unit")

	var data struct {
		Charts []struct {
			ID, Title, Unit string
			Series          []struct{ Label string }
			Thresholds      []struct {
				Value  float64
				Label  string
				Failed bool
			}
		} `json:"charts"`
	}
	require.NoError(t, json.Unmarshal([]byte(text(p.byID["report-data"])), &data))
	charts := map[string]int{}
	for i, c := range data.Charts {
		charts[c.Title] = i
		charts[c.ID] = i
	}
	chart := func(key string) (c struct {
		ID, Title, Unit string
		Series          []struct{ Label string }
		Thresholds      []struct {
			Value  float64
			Label  string
			Failed bool
		}
	}) {
		i, ok := charts[key]
		require.True(t, ok, "chart %q in %v", key, charts)
		return data.Charts[i]
	}
	lat := chart("latency")
	require.Len(t, lat.Thresholds, 1)
	assert.Equal(t, 1000.0, lat.Thresholds[0].Value)
	assert.False(t, lat.Thresholds[0].Failed)
	sc := chart("scenario-latency")
	assert.Len(t, sc.Series, 2, "one line per scenario")
	require.Len(t, sc.Thresholds, 1, "the buy scenario's threshold")
	assert.Equal(t, 2000.0, sc.Thresholds[0].Value)
	gr := chart("group-latency")
	require.Len(t, gr.Series, 1)
	assert.Equal(t, "::pay", gr.Series[0].Label)
	trend := chart("cart_ms (trend)")
	assert.Equal(t, "ms", trend.Unit)
	require.Len(t, trend.Thresholds, 1)
	assert.True(t, trend.Thresholds[0].Failed, "p(95)<30 failed: every value is 40")
	assert.Equal(t, "1/s", chart("orders (counter)").Unit)
	paid := chart("paid (rate)")
	assert.Equal(t, "%", paid.Unit)
	require.Len(t, paid.Thresholds, 1)
	assert.InDelta(t, 90, paid.Thresholds[0].Value, 1e-9, "a rate's bound in percent")
	chart("queue (gauge)")
}
