package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/browsertest"
	"github.com/loadlens/loadlens/target"
)

// `run --out web-dashboard=127.0.0.1:0` serves the live dashboard on the
// port it says: its event stream grows while the run goes on, headless
// Chromium draws it and redraws it, and the run ends as any other (the
// first Ctrl-C: k6's 105, the summary, --report written).
func TestRunWebDashboard(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{Latency: time.Millisecond})
	dir := t.TempDir()
	test := writeFile(t, "test.json", `{"test_type": "custom", "name": "live", "target": {"base_url": "`+srv.URL()+`", "endpoints": ["/"]},
		"options": {"vus": 2, "duration": "2m", "thresholds": {"http_req_duration": ["p(95)<60000"]}}}`)
	reportFile := filepath.Join(dir, "report.html")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", "--no-analysis", "--out", "web-dashboard=127.0.0.1:0", "--report", reportFile, test)
	var stdout bytes.Buffer
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	var url string
	for deadline := time.Now().Add(time.Minute); url == ""; {
		require.True(t, time.Now().Before(deadline), "no dashboard address on stderr:\n%s", stderr.String())
		if _, line, ok := strings.Cut(stderr.String(), "loadlens: web dashboard at "); ok {
			url, _, _ = strings.Cut(line, "\n")
		}
		time.Sleep(20 * time.Millisecond) // polling stderr, not synchronising
	}
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, url)
	assert.NotEqual(t, "http://127.0.0.1:0/", url, "port 0 picks a free port, and the address says which")

	// The event stream: the charts grow while the run goes on.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	var points []int
	for len(points) < 3 && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			State  string `json:"state"`
			Charts struct {
				N int `json:"n"`
			} `json:"charts"`
		}
		require.NoError(t, json.Unmarshal([]byte(data), &ev))
		require.Equal(t, "running", ev.State)
		if len(points) == 0 || ev.Charts.N > points[len(points)-1] {
			points = append(points, ev.Charts.N)
		}
	}
	require.Len(t, points, 3, "the stream ended before the charts grew twice: %v\n%s", points, stderr.String())

	// The page, in Chromium: drawn, and redrawn as the run goes on.
	b := browsertest.New(t)
	require.NoError(t, chromedp.Do(b.Ctx, chromedp.Navigate(url)))
	b.WaitDashboardRedraws(t)
	assert.Empty(t, b.ConsoleErrors(), "console errors")
	for _, u := range b.Requests() {
		assert.True(t, strings.HasPrefix(u, url), "the page loaded %s", u)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 105, exit.ExitCode(), stderr.String())
	assert.Contains(t, stdout.String(), "█ TOTAL RESULTS")
	assert.Contains(t, stdout.String(), "web-dashboard ("+url+")", "the banner names the dashboard")
	html, err := os.ReadFile(reportFile)
	require.NoError(t, err)
	assert.Contains(t, string(html), `id="thresholds"`)
}
