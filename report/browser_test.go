package report_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds a Chromium or Chrome binary; .ci/run installs
// Debian's chromium when it can.
func chromiumPath() (string, bool) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// browser is a headless Chromium tab.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string // console errors, uncaught exceptions, error log entries
	loads  []string // URLs the page requested
}

// newBrowser starts headless Chromium, or skips the test when there is
// none. It stops when the test ends.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, ok := chromiumPath()
	if !ok {
		t.Skip("no Chromium: install Debian's chromium (apt-get install -y chromium; .ci/run does it) to run the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 5*time.Minute) // generous: a busy 2-core machine under -race
	t.Cleanup(func() {
		tcancel()
		cancel()
		acancel()
	})
	b := &browser{ctx: ctx}
	require.NoError(t, chromedp.Do(ctx), "start Chromium at %s", path) // opens the tab
	require.NoError(t, chromedp.Listen(ctx, b.record))
	return b
}

// record runs on the tab's event loop: it only appends.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.errors = append(b.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		b.errors = append(b.errors, "exception: "+msg)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			b.errors = append(b.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
		}
	case *page.EventJavascriptDialogOpening: // a hostile string ran as script
		b.errors = append(b.errors, "dialog: "+e.Message)
	case *network.EventRequestWillBeSent:
		b.loads = append(b.loads, e.Request.URL)
	}
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.loads...)
}

// open loads a file and waits until the report's script has drawn its
// charts.
func (b *browser) open(path string) error {
	u := url.URL{Scheme: "file", Path: path}
	return chromedp.Do(b.ctx, chromedp.Navigate(u.String()), chromedp.WaitReady("body[data-charts-drawn]"))
}

// chartPixels returns, per chart canvas, how many pixels are not
// transparent.
const chartPixels = `[...document.querySelectorAll("figure.chart canvas")].map(c => {
	const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
	return {chart: c.closest("figure").dataset.chart, pixels: n};
})`

// chartLegends returns, per chart, the time its legend shows and how
// many threshold lines it drew.
const chartLegends = `[...document.querySelectorAll("figure.chart")].filter(f => f.querySelector(".u-legend")).map(f => ({
	chart: f.dataset.chart, time: f.querySelector(".u-legend .u-value").textContent, thresholds: f.dataset.thresholds || "",
}))`

type chartLegend struct {
	Chart      string `json:"chart"`
	Time       string `json:"time"`
	Thresholds string `json:"thresholds"`
}

type chartInk struct {
	Chart  string `json:"chart"`
	Pixels int    `json:"pixels"`
}

// TestBrowserRendersReport opens reports from disk in headless Chromium:
// no console errors, no request beyond the file itself, every chart
// drawn on a non-empty canvas, and a screenshot kept as an artifact.
func TestBrowserRendersReport(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	dir := artifactDir(t)
	cases := []struct {
		name  string
		input func(testing.TB) []byte
	}{
		{"fixture", func(t testing.TB) []byte { return renderHTML(t, fixtureInput(t, false)) }},
		{"hostile", func(t testing.TB) []byte { return renderHTML(t, fixtureInput(t, true)) }},
		{"real", func(t testing.TB) []byte { return renderHTML(t, realRun(t)) }},
		{"complete", func(t testing.TB) []byte { return renderHTML(t, completeRun(t)) }},
	}
	for _, tc := range cases { // one tab: sequential
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".html")
			require.NoError(t, os.WriteFile(path, tc.input(t), 0o644))
			before, beforeErrs := len(b.requests()), len(b.consoleErrors())
			require.NoError(t, b.open(path))

			drawn, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.dataset.chartsDrawn`))
			require.NoError(t, err)
			ink, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]chartInk](chartPixels))
			require.NoError(t, err)
			require.NotEmpty(t, ink)
			assert.Equal(t, fmt.Sprint(len(ink)), drawn, "one canvas per drawn chart")
			for _, c := range ink {
				assert.Positive(t, c.Pixels, "chart %s has an empty canvas", c.Chart)
			}
			for _, want := range []string{"vus", "throughput", "latency", "errors", "generator-cpu", "generator-memory"} {
				assert.True(t, hasChart(ink, want), "chart %s drawn", want)
			}
			legends, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]chartLegend](chartLegends))
			require.NoError(t, err)
			for _, l := range legends {
				assert.NotEqual(t, "–", l.Time, "chart %s: the legend shows the last second while the cursor is away", l.Chart)
				if tc.name == "complete" && (l.Chart == "latency" || l.Chart == "scenario-latency") {
					assert.Equal(t, "1", l.Thresholds, "chart %s draws its threshold", l.Chart)
				}
			}
			shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			require.NoError(t, err)
			shotPath := filepath.Join(dir, tc.name+".png")
			require.NoError(t, os.WriteFile(shotPath, shot, 0o644))
			t.Logf("screenshot: %s", shotPath)

			assert.Empty(t, b.consoleErrors()[beforeErrs:], "console errors")
			for _, u := range b.requests()[before:] {
				assert.True(t, strings.HasPrefix(u, "file://") || strings.HasPrefix(u, "data:"), "the page loaded %s", u)
			}
		})
	}
}

func hasChart(ink []chartInk, id string) bool {
	for _, c := range ink {
		if c.Chart == id {
			return true
		}
	}
	return false
}
