package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

func TestReportAndCompare(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	dir := t.TempDir()
	var results [2]string
	for i, extra := range []string{"", `, "thresholds": {"http_req_failed": ["rate<0.1"]}`} {
		results[i] = filepath.Join(dir, fmt.Sprintf("result%d.json", i))
		html, junit := filepath.Join(dir, fmt.Sprintf("r%d.html", i)), filepath.Join(dir, fmt.Sprintf("r%d.xml", i))
		r := runCLI(t, "run", "-q", "--result", results[i], "--report", html, "--junit", junit,
			writeFile(t, "t.json", testFile(srv.URL(), extra)))
		require.Contains(t, []int{0, 99}, r.code, r.stderr)
		page, err := os.ReadFile(html)
		require.NoError(t, err)
		assert.Contains(t, string(page), "<html")
		var suites struct {
			XMLName xml.Name `xml:"testsuites"`
		}
		b, err := os.ReadFile(junit)
		require.NoError(t, err)
		require.NoError(t, xml.Unmarshal(b, &suites))
	}
	out := filepath.Join(dir, "again.html")
	r := runCLI(t, "report", results[1], "--html", out, "--junit", filepath.Join(dir, "again.xml"))
	require.Equal(t, 0, r.code, r.stderr)
	assert.FileExists(t, out)

	r = runCLI(t, "compare", results[0], results[1])
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "http_req_failed")
	r = runCLI(t, "compare", "--json", results[0], results[1])
	require.Equal(t, 0, r.code, r.stderr)
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &c))
	assert.Contains(t, c, "comparison")

	// CI gates: the second run's threshold fails where the first had none.
	r = runCLI(t, "compare", "--fail-on", "regression", results[0], results[1])
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "threshold http_req_failed 'rate<0.1': absent → failed")
	r = runCLI(t, "compare", "--fail-on", "worse", results[0], results[1])
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Outcome: worse")
	r = runCLI(t, "compare", "--fail-on", "regression", results[1], results[1])
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 2, runCLI(t, "compare", "--fail-on", "slower", results[0], results[1]).code)

	// Another test's result is compared, with a warning.
	var doc map[string]any
	b, err := os.ReadFile(results[0])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	doc["result"].(map[string]any)["name"] = "another test"
	other := filepath.Join(dir, "other.json")
	b, err = json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(other, b, 0o644))
	r = runCLI(t, "compare", other, results[0])
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, `warning: the runs are of different tests: base "another test", current ""`)
	assert.Contains(t, r.stdout, "Warning: the runs are of different tests")

	assert.Equal(t, 2, runCLI(t, "report", results[0]).code, "nothing to write")
	assert.Equal(t, 255, runCLI(t, "report", filepath.Join(dir, "missing.json"), "--html", out).code)
}

// The agent end to end: a tenant's key, a test started over HTTP against
// the built-in target, its status and result, and a clean stop at SIGTERM.
func TestServe(t *testing.T) {
	t.Parallel()
	tgt := startTarget(t, target.Config{})
	a := startAgent(t)
	require.Regexp(t, `^\S+$`, a.key, "the key alone on stdout")
	call := a.call
	code, body := call("POST", "/load-test/start", `{"test_type": "smoke", "virtual_users": 2, "duration": "2s",
		"target": {"base_url": "`+tgt.URL()+`", "endpoints": ["/"], "auth_token": "top-secret"}}`)
	require.Equal(t, http.StatusAccepted, code, string(body))
	var started struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(body, &started))
	require.NotEmpty(t, started.ID)

	deadline := time.Now().Add(time.Minute)
	for {
		code, body = call("GET", "/load-test/"+started.ID+"/status", "")
		require.Equal(t, http.StatusOK, code, string(body))
		if bytes.Contains(body, []byte(`"completed"`)) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the test never completed: %s", body)
		time.Sleep(100 * time.Millisecond) // polling the API, as a client does
	}
	code, body = call("GET", "/load-test/"+started.ID+"/result", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"findings"`)
	assert.NotContains(t, string(body), "top-secret")
	code, body = call("GET", "/load-test/"+started.ID+"/report.html", "")
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Contains(t, string(body), "<html")

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, a.cmd.Wait(), "SIGTERM stops the agent cleanly")
}

// The README's first command: a real test against the built-in target,
// the summary, the analysis and an HTML report.
func TestDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the demo runs for about 25 s")
	}
	report := filepath.Join(t.TempDir(), "demo.html")
	r := runCLI(t, "demo", "--report", report)
	// The demo's p(95)<200 holds on a quiet machine; on a busy one the
	// generator's own waits push the p95 over it (217 ms seen), and the
	// demo says so. Its failure-rate threshold holds either way.
	if r.code == exitThresholds {
		assert.Contains(t, r.stderr, "thresholds on metrics 'http_req_duration' have been crossed", r.stdout)
		assert.NotContains(t, r.stderr, "http_req_failed", r.stdout)
	} else {
		require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	for _, want := range []string{"scenarios: (100.00%) 1 scenario, 40 max VUs", "█ THRESHOLDS", "█ TOTAL RESULTS", "█ ANALYSIS", report} {
		assert.Contains(t, r.stdout, want)
	}
	page, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(page), "target-cpu", "the demo scrapes its target's own metrics")
	t.Logf("analysis:\n%s", r.stdout[strings.Index(r.stdout, "█ ANALYSIS"):])
}
