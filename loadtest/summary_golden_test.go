package loadtest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// basicRunResult rebuilds the Result of k6's basic.js run (ground truth
// k6-summary.json and k6-run-basic.txt are the same run): metric kinds and
// thresholds in the script's order, as the engine would report them.
func basicRunResult(t *testing.T) Result {
	t.Helper()
	golden := readGolden(t, "k6-summary.json")
	res := resultFromSummaryExport(t, golden)
	var root struct {
		RootGroup exportGroup `json:"root_group"`
	}
	require.NoError(t, json.Unmarshal(golden, &root))
	res.RootGroup = groupFromExport(root.RootGroup)
	// The export does not keep check order within a group: the script's is
	// "status is 200", then "body ok".
	for i := range res.RootGroup.Groups {
		g := &res.RootGroup.Groups[i]
		if len(g.Checks) == 2 && g.Checks[0].Name == "body ok" {
			g.Checks[0], g.Checks[1] = g.Checks[1], g.Checks[0]
		}
	}
	for name, m := range res.Metrics {
		switch {
		case m.Type == metrics.Trend:
			m.Contains = metrics.Time
		case name == metrics.DataSent || name == metrics.DataReceived:
			m.Contains = metrics.Data
		}
		res.Metrics[name] = m
	}
	script := []struct{ metric, expr string }{
		{"http_req_duration", "p(95)<500"}, {"http_req_duration", "avg<300"},
		{"http_req_duration{status:200}", "max<1000"}, {"http_req_failed", "rate<0.01"},
		{"checks", "rate>0.9"}, {"my_counter", "count>1"},
	}
	require.Len(t, res.Thresholds, len(script))
	res.Thresholds = res.Thresholds[:0]
	for _, s := range script {
		th, err := metrics.ParseThreshold(s.expr)
		require.NoError(t, err)
		res.Thresholds = append(res.Thresholds, metrics.Verdict{Metric: s.metric, Threshold: th, Status: metrics.Passed,
			Observed: res.Metrics[s.metric].Values[th.Aggregation.String()]})
	}
	httpReqsRate := res.Metrics[metrics.HTTPReqs].Values["rate"] // 98 requests over the run
	res.Duration = time.Duration(98 / httpReqsRate * float64(time.Second))
	return res
}

// k6SummarySection cuts the end-of-test summary out of k6's console output.
func k6SummarySection(t *testing.T, console string) string {
	t.Helper()
	start := strings.Index(console, "\n  █ THRESHOLDS")
	require.GreaterOrEqual(t, start, 0)
	rest := console[start:]
	end := strings.Index(rest, "\n\n\n\n")
	require.GreaterOrEqual(t, end, 0)
	return rest[:end+1]
}

// The text summary of k6's basic.js run, compared with what k6 printed for
// it; testdata/text-summary.golden holds ours, rewritten with -update.
func TestTextSummaryGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	require.NoError(t, WriteTextSummary(&b, basicRunResult(t), SummaryEnv{}))
	got := b.String()
	k6 := k6SummarySection(t, string(readGolden(t, "k6-run-basic.txt")))
	assert.Equal(t, k6, strings.TrimRight(got, "\n")+"\n", "as k6 printed it")

	path := filepath.Join("testdata", "text-summary.golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got)
}
