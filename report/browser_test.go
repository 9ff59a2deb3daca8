package report_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/loadlens/loadlens/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// open loads a file and waits until the report's script has drawn its
// charts.
func openReport(b *browsertest.Browser, path string) error {
	u := url.URL{Scheme: "file", Path: path}
	return chromedp.Do(b.Ctx, chromedp.Navigate(u.String()), chromedp.WaitReady("body[data-charts-drawn]"))
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
	b := browsertest.New(t)
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
			before, beforeErrs := len(b.Requests()), len(b.ConsoleErrors())
			require.NoError(t, openReport(b, path))

			drawn, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.body.dataset.chartsDrawn`))
			require.NoError(t, err)
			ink, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]chartInk](chartPixels))
			require.NoError(t, err)
			require.NotEmpty(t, ink)
			assert.Equal(t, fmt.Sprint(len(ink)), drawn, "one canvas per drawn chart")
			for _, c := range ink {
				assert.Positive(t, c.Pixels, "chart %s has an empty canvas", c.Chart)
			}
			for _, want := range []string{"vus", "throughput", "latency", "errors", "generator-cpu", "generator-memory"} {
				assert.True(t, hasChart(ink, want), "chart %s drawn", want)
			}
			legends, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]chartLegend](chartLegends))
			require.NoError(t, err)
			for _, l := range legends {
				assert.NotEqual(t, "–", l.Time, "chart %s: the legend shows the last second while the cursor is away", l.Chart)
				if tc.name == "complete" && (l.Chart == "latency" || l.Chart == "scenario-latency") {
					assert.Equal(t, "1", l.Thresholds, "chart %s draws its threshold", l.Chart)
				}
			}
			shot, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
			require.NoError(t, err)
			shotPath := filepath.Join(dir, tc.name+".png")
			require.NoError(t, os.WriteFile(shotPath, shot, 0o644))
			t.Logf("screenshot: %s", shotPath)

			assert.Empty(t, b.ConsoleErrors()[beforeErrs:], "console errors")
			for _, u := range b.Requests()[before:] {
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
