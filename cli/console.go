package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// printHeader prints k6's run header: what runs, where samples go, and the
// scenarios with their descriptions.
func (a *app) printHeader(plan loadtest.Plan, script string, outputs []string) {
	w := a.stdout
	fmt.Fprintf(w, "\n     execution: local\n        script: %s\n", script)
	if len(outputs) == 0 {
		outputs = []string{"-"}
	}
	fmt.Fprintf(w, "        output: %s\n\n", strings.Join(outputs, ", "))
	et, _ := plan.Options.ExecutionTuple()
	_, maxVUs := plan.Scenarios.PeakVUs(et)
	end, bounded := plan.Scenarios.End()
	n := len(plan.Scenarios)
	plural := "s"
	if n == 1 {
		plural = ""
	}
	maxDur := "unbounded"
	if bounded {
		maxDur = duration.Format(end)
	}
	share := 100.0
	if et != nil {
		l, _ := et.Segment.Length().Float64()
		share = 100 * l
	}
	fmt.Fprintf(w, "     scenarios: (%.2f%%) %d scenario%s, %d max VUs, %s max duration (incl. graceful stop):\n",
		share, n, plural, maxVUs, maxDur)
	for _, name := range plan.Scenarios.Sorted() {
		fmt.Fprintf(w, "              * %s: %s\n", name, plan.Scenarios[name].Description(et))
	}
	fmt.Fprintln(w)
}

// progressBar draws k6's live progress on a terminal: one status line and
// one bar per scenario, redrawn every second.
type progressBar struct {
	w     io.Writer
	mu    sync.Mutex
	lines int
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

func (p *progressBar) Start(loadtest.RunInfo) error { return nil }
func (p *progressBar) AddSamples([]metrics.Sample)  {}
func (p *progressBar) Stop(*loadtest.Result) error  { return nil }
func (p *progressBar) Progress(s loadtest.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	lines := renderProgress(s)
	for _, l := range lines {
		b.WriteString("\r\x1b[K" + l + "\n")
	}
	p.lines = len(lines)
	_, _ = io.WriteString(p.w, b.String())
}

// renderProgress returns k6's progress lines for a snapshot.
func renderProgress(s loadtest.Snapshot) []string {
	lines := []string{fmt.Sprintf("running (%s), %d/%d VUs, %d complete and %d interrupted iterations",
		clock(s.Elapsed), s.VUs, s.VUsMax, s.Iterations, s.Interrupted)}
	width := 0
	for _, sc := range s.Scenarios {
		width = max(width, len(sc.Scenario))
	}
	const barWidth = 40
	for _, sc := range s.Scenarios {
		done := int(sc.Fraction * barWidth)
		bar := strings.Repeat("=", done)
		if done < barWidth {
			bar += ">" + strings.Repeat("-", barWidth-done-1)
		}
		mark := " "
		if sc.Done {
			mark = "✓"
		}
		lines = append(lines, fmt.Sprintf("%-*s %s [%s] %d VUs  %s/%s", width, sc.Scenario, mark, bar, sc.ActiveVUs,
			sc.Elapsed.Round(100*time.Millisecond), sc.Duration))
	}
	return lines
}

// clock formats a run time as k6 does: 01.0s, 1m02.5s.
func clock(d time.Duration) string {
	m := int(d / time.Minute)
	s := (d % time.Minute).Seconds()
	if m > 0 {
		return fmt.Sprintf("%dm%04.1fs", m, s)
	}
	return fmt.Sprintf("%04.1fs", s)
}
