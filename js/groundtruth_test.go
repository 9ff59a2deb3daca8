package js_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/cli/exitcode"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// groundTruth is the folder of k6 v2.2.0's scripts and outputs.
var groundTruth = filepath.Join("testdata", "groundtruth")

// gtAddr is the server's address in the ground-truth scripts: k6 ran them
// against 127.0.0.1:18080.
const gtAddr = "127.0.0.1:18080"

// gtServer serves what the ground-truth scripts request, on a free port:
// a page that says hello. It returns the server's address.
func gtServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>hello from the ground-truth server</body></html>\n"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gtScript is a ground-truth script as k6 ran it, with the server's
// address replaced by addr.
func gtScript(t *testing.T, name, addr string) js.Source {
	t.Helper()
	path := filepath.Join(groundTruth, "scripts", name)
	code, err := os.ReadFile(path)
	require.NoError(t, err)
	return js.Source{Filename: path, Code: []byte(strings.ReplaceAll(string(code), gtAddr, addr))}
}

// TestGroundTruthScripts runs every script k6 v2.2.0 ran for the ground
// truth, unchanged, and checks k6's exit code and the shapes of the
// summaries against k6's own files.
func TestGroundTruthScripts(t *testing.T) {
	addr := gtServer(t)
	gtFile := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(groundTruth, name))
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		script string
		exit   int
		flags  string // k6 options as CLI flags would give them
		env    []string
		check  func(t *testing.T, o outcome)
	}{
		{script: "abort.js", exit: 108, check: func(t *testing.T, o outcome) {
			require.NotNil(t, o.res.Abort)
			assert.Equal(t, loadtest.AbortByScript, o.res.Abort.By)
			assert.Equal(t, "bye", o.res.Abort.Reason)
		}},
		{script: "api.js", exit: 0, check: func(t *testing.T, o outcome) {
			assert.Greater(t, metricValue(t, o.res, "http_reqs", "count"), 20.0)
			assert.Equal(t, 1.0, metricValue(t, o.res, "checks", "rate"))
			assert.JSONEq(t, `{"hello":"world"}`, string(o.res.SetupData))
		}},
		{script: "badthr.js", exit: 104, check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "nonexistent_metric")
		}},
		{script: "badthr2.js", exit: 104, check: func(t *testing.T, o outcome) {
			assert.ErrorContains(t, o.err, "http_reqs")
		}},
		{script: "basic.js", exit: 0, check: func(t *testing.T, o outcome) {
			var export bytes.Buffer
			require.NoError(t, loadtest.WriteSummaryExport(&export, o.res))
			assert.Equal(t, jsonShape(t, gtFile("k6-summary.json")), jsonShape(t, export.Bytes()))
			n := metricValue(t, o.res, "http_reqs", "count")
			assert.Greater(t, n, 20.0)
			assert.Equal(t, n, metricValue(t, o.res, "my_counter", "count"))
			assert.Equal(t, n, metricValue(t, o.res, "my_rate", "passes"))
			assert.Equal(t, 2*n, metricValue(t, o.res, "checks", "passes"))
			// k6 said vus 2 min=2 max=2: sampled each second while the
			// VUs run. Samples taken before the scenario starts or after
			// it ends are 0, in k6 too, and a busy machine can make those
			// seconds: only the samples taken while both VUs loop count.
			assert.Equal(t, 2.0, metricValue(t, o.res, "vus", "max"))
			running := o.vus.whileIterating()
			require.NotEmpty(t, running, "no vus sample while the VUs ran: %+v", o.vus)
			for _, v := range running {
				assert.Equal(t, 2.0, v, "vus sampled while the VUs ran")
			}
		}},
		{script: "fail.js", exit: 110, check: func(t *testing.T, o outcome) {
			assert.Equal(t, "marked", o.res.FailedBy)
		}},
		{script: "handlesummary.js", exit: 0, check: func(t *testing.T, o outcome) {
			require.NoError(t, o.hsErr)
			require.True(t, o.hsOK)
			assert.Equal(t, "handleSummary done\n", string(o.summary["stdout"]))
			assert.Equal(t, jsonShape(t, gtFile("k6-handlesummary.json")), jsonShape(t, o.summary["k6-handlesummary.json"]))
		}},
		{script: "handlesummary2.js", exit: 0, env: []string{"HS_OUT", "out/summary.json"}, check: func(t *testing.T, o outcome) {
			require.NoError(t, o.hsErr)
			assert.Equal(t, jsonShape(t, gtFile("k6-handlesummary.json")), jsonShape(t, o.summary["out/summary.json"]))
		}},
		{script: "initerr.js", exit: 107, check: func(t *testing.T, o outcome) {
			var se *js.ScriptError
			require.ErrorAs(t, o.err, &se)
			assert.Equal(t, "Error: boom", se.Message)
			assert.Equal(t, 1, se.Line)
			assert.True(t, strings.HasSuffix(se.File, "initerr.js"), se.File)
			assert.Regexp(t, `initerr\.js:1:\d+: Error: boom`, o.err.Error())
		}},
		{script: "mem.js", exit: 0, check: func(t *testing.T, o outcome) {
			assert.Equal(t, 1.0, metricValue(t, o.res, "http_reqs", "count"))
		}},
		{script: "meta.js", exit: 0, flags: `{"systemTags":["method","url","status","scenario","ip","vu","iter"],"tags":{"env":"dev"}}`,
			check: func(t *testing.T, o outcome) {
				want := ndjsonShapes(t, gtFile("k6-meta.ndjson"), 2)
				assert.Equal(t, want, ndjsonShapes(t, o.ndjson, 2))
				assert.Contains(t, string(o.ndjson), `"metadata":{"iter":"0","vu":"1"}`)
			}},
		{script: "noop.js", exit: 0, check: func(t *testing.T, o outcome) {
			assert.Equal(t, 1.0, metricValue(t, o.res, "iterations", "count"))
		}},
		{script: "scenarios.js", exit: 99, check: func(t *testing.T, o outcome) {
			want := consoleShapes(t, string(gtFile("k6-run-scen.txt")))
			got := consoleShapes(t, o.logs.String())
			require.Len(t, got, 2, o.logs.String())
			assert.Equal(t, want, got)
			assert.Greater(t, metricValue(t, o.res, "dropped_iterations", "count"), 0.0)
			for _, line := range o.logs.lines("source=console") {
				assert.Contains(t, line, `\"env\":\"bar\"`)
			}
		}},
		{script: "setupdata.js", exit: 0, check: func(t *testing.T, o outcome) {
			require.NoError(t, o.hsErr)
			assert.Equal(t, jsonShape(t, gtFile("k6-hs-setupdata.json")), jsonShape(t, o.summary["k6-hs-setupdata.json"]))
			var export bytes.Buffer
			require.NoError(t, loadtest.WriteSummaryExport(&export, o.res))
			assert.Equal(t, jsonShape(t, rootAndSetup(t, gtFile("k6-summary-setupdata.json"))), jsonShape(t, rootAndSetup(t, export.Bytes())))
			// k6 samples vus once a second from the start: its run, shorter
			// than a second, had none. A busy machine may stretch ours.
			seconds := int(o.res.End.Sub(o.res.Start) / time.Second)
			assert.LessOrEqual(t, len(o.vus.samples), seconds, "vus samples in a run of %s", o.res.End.Sub(o.res.Start))
			if seconds == 0 {
				assert.NotContains(t, o.res.Metrics, "vus")
			}
		}},
	}
	scripts, err := filepath.Glob(filepath.Join(groundTruth, "scripts", "*.js"))
	require.NoError(t, err)
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.script] = true
	}
	for _, s := range scripts {
		assert.True(t, covered[filepath.Base(s)], "ground-truth script %s has no case", filepath.Base(s))
	}
	// The scripts mostly sleep (api.js runs 8 s): run them all at once,
	// whatever -parallel says, then check each.
	outcomes := make([]outcome, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		r := run{src: gtScript(t, c.script, addr), ndjson: c.script == "meta.js", vus: true}.env(c.env...)
		if c.flags != "" {
			r = r.flags(t, c.flags)
		}
		wg.Go(func() { outcomes[i] = r.exec(t) })
	}
	wg.Wait()
	for i, c := range cases {
		t.Run(c.script, func(t *testing.T) {
			o := outcomes[i]
			want := c.exit
			if crossed := latencyOnlyCrossed(o.res); want == 0 && o.exit == exitcode.Thresholds && crossed != nil {
				// k6's run passed its latency thresholds on a quiet
				// machine; on a busy one the waits cross them.
				t.Logf("a busy machine crossed latency thresholds: %v", crossed)
				want = exitcode.Thresholds
			}
			assert.Equal(t, want, o.exit, "exit code; err: %v", o.err)
			if c.check != nil {
				c.check(t, o)
			}
		})
	}
}

// latencyOnlyCrossed returns the thresholds the run crossed when they are
// all on http_req_duration, and nil otherwise.
func latencyOnlyCrossed(res loadtest.Result) []metrics.Verdict {
	var crossed []metrics.Verdict
	for _, v := range res.Thresholds {
		if v.Status != metrics.Failed {
			continue
		}
		if v.Metric != metrics.HTTPReqDuration && !strings.HasPrefix(v.Metric, metrics.HTTPReqDuration+"{") {
			return nil
		}
		crossed = append(crossed, v)
	}
	return crossed
}

// rootAndSetup keeps root_group and setup_data of a summary export: the
// metrics of the setupdata run differ with the server's speed only in
// values, but k6's run also had no HTTP, like ours.
func rootAndSetup(t testing.TB, b []byte) []byte {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	out, err := json.Marshal(map[string]json.RawMessage{"root_group": m["root_group"], "setup_data": m["setup_data"]})
	require.NoError(t, err)
	return out
}

// ndjsonShapes returns the shapes of the first n lines of NDJSON.
func ndjsonShapes(t testing.TB, b []byte, n int) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && len(out) < n {
		out = append(out, jsonShape(t, sc.Bytes()))
	}
	return out
}

var consoleMsg = regexp.MustCompile(`msg="((?:[^"\\]|\\.)*)" source=console`)

// consoleShapes returns the shapes of the JSON documents a script logged
// with console.log, from k6's or slog's text format.
func consoleShapes(t testing.TB, logs string) []string {
	var out []string
	for _, m := range consoleMsg.FindAllStringSubmatch(logs, -1) {
		s, err := strconv.Unquote(`"` + m[1] + `"`)
		require.NoError(t, err)
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			continue
		}
		out = append(out, shape(v))
	}
	return out
}
