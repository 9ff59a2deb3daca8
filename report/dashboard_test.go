package report_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/browsertest"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/scenarios"
)

// liveRun starts a run of at most two minutes against a loopback server
// with d as an output; cancel ends it early. The result arrives on the
// returned channel.
func liveRun(t *testing.T, d *report.Dashboard) (cancel func(), done <-chan loadtest.Result) {
	t.Helper()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(target.Close)
	ths, err := metrics.ParseThresholds(map[string][]string{"http_req_duration": {"p(95)<60000"}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan loadtest.Result, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		res, err := loadtest.Run(ctx, loadtest.Plan{
			Name:       "live",
			Scenarios:  scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 2, Duration: 2 * time.Minute}},
			Thresholds: ths,
			Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
				if _, err := vu.HTTP().Do(ctx, &k6http.Request{URL: target.URL}); err != nil {
					return err
				}
				return vu.Sleep(ctx, 20*time.Millisecond)
			}},
		}, d)
		assert.NoError(t, err)
		out <- res
	}()
	t.Cleanup(func() {
		cancel()
		<-finished // the test may have taken the result
	})
	return cancel, out
}

type liveEvent struct {
	State  string `json:"state"`
	Charts struct {
		N      int `json:"n"`
		Charts []struct {
			ID         string            `json:"id"`
			Thresholds []json.RawMessage `json:"thresholds"`
		} `json:"charts"`
	} `json:"charts"`
}

// The event stream sends the charts as they grow while the run goes on,
// then, once the report is given, a last event and the end of the stream;
// the report is then served.
func TestDashboardStreamsTheRun(t *testing.T) {
	t.Parallel()
	d := report.NewDashboard("live")
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/report")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no report before the run is over")

	cancel, done := liveRun(t, d)
	resp, err = http.Get(srv.URL + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan liveEvent)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev liveEvent
			if assert.NoError(t, json.Unmarshal([]byte(data), &ev)) {
				events <- ev
			}
		}
	}()
	// Poll the stream until the charts have grown twice while running.
	deadline := time.After(90 * time.Second)
	var sizes []int
	for len(sizes) < 2 {
		select {
		case ev := <-events:
			require.Equal(t, "running", ev.State)
			if ev.Charts.N > 0 && (len(sizes) == 0 || ev.Charts.N > sizes[len(sizes)-1]) {
				sizes = append(sizes, ev.Charts.N)
			}
			for _, c := range ev.Charts.Charts {
				if c.ID == "latency" && ev.Charts.N > 0 { // an event before the run started has none
					assert.Len(t, c.Thresholds, 1, "thresholds are drawn while the run goes on")
				}
			}
		case <-deadline:
			t.Fatalf("the charts did not grow during the run: sizes %v", sizes)
		}
	}
	cancel()
	res := <-done
	require.NoError(t, d.Finish(report.Input{Result: res}))
	var last liveEvent
	for ev := range events { // the stream ends after the last event
		last = ev
	}
	assert.Equal(t, "done", last.State)

	resp, err = http.Get(srv.URL + "/report")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `id="thresholds"`, "the final report, as --report writes it")
}

// In headless Chromium the live page draws the charts and redraws them as
// the run goes on, then offers the report.
func TestBrowserLiveDashboard(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t)
	d := report.NewDashboard("live")
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	cancel, done := liveRun(t, d)

	require.NoError(t, chromedp.Do(b.Ctx, chromedp.Navigate(srv.URL+"/")))
	b.WaitDashboardRedraws(t)
	ink, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]chartInk](chartPixels))
	require.NoError(t, err)
	for _, want := range []string{"vus", "throughput", "latency"} {
		assert.True(t, hasChart(ink, want), "chart %s drawn live", want)
	}
	for _, c := range ink {
		assert.Positive(t, c.Pixels, "chart %s has an empty canvas", c.Chart)
	}

	cancel()
	res := <-done
	require.NoError(t, d.Finish(report.Input{Result: res}))
	b.Poll(t, `document.body.dataset.state === "done" && !document.getElementById("report-link").hidden`)
	assert.Empty(t, b.ConsoleErrors(), "console errors")
	for _, u := range b.Requests() {
		assert.True(t, strings.HasPrefix(u, srv.URL), "the page loaded %s", u)
	}
}
