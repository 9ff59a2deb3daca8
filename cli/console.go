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
	"github.com/loadlens/loadlens/scenarios"
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

// progressBar draws k6's live progress: one status line and one line per
// scenario each second. On a terminal it redraws them in place, with bars;
// elsewhere (CI logs) it appends them as k6 does, with percentages and a
// blank line after each block.
type progressBar struct {
	w     io.Writer
	tty   bool
	plan  scenarios.Scenarios // for the arrival rates
	mu    sync.Mutex
	lines int
}

func newProgressBar(w io.Writer, tty bool, plan scenarios.Scenarios) *progressBar {
	return &progressBar{w: w, tty: tty, plan: plan}
}

func (p *progressBar) Start(loadtest.RunInfo) error { return nil }
func (p *progressBar) AddSamples([]metrics.Sample)  {}
func (p *progressBar) Stop(loadtest.Result) error   { return nil }
func (p *progressBar) Progress(s loadtest.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	lines := renderProgress(s, p.plan, p.tty)
	if !p.tty {
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
		_, _ = io.WriteString(p.w, b.String())
		return
	}
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[K" + l + "\n")
	}
	p.lines = len(lines)
	_, _ = io.WriteString(p.w, b.String())
}

// renderProgress returns k6's progress lines for a snapshot:
//
//	running (01.0s), 4/7 VUs, 25 complete and 0 interrupted iterations
//	car    [   8% ] 2/5 VUs  01.0s/12s  20.00 iters/s
//	vus    [   8% ] 2 VUs    00.9s/12s
//
// (k6 v2.2.0 with its output not on a terminal; on one, bars replace the
// percentages). Arrival-rate scenarios show their busy and initialised
// VUs and their target rate.
func renderProgress(s loadtest.Snapshot, plan scenarios.Scenarios, tty bool) []string {
	lines := []string{fmt.Sprintf("running (%s), %d/%d VUs, %d complete and %d interrupted iterations",
		clock(s.Elapsed), s.VUs, s.VUsMax, s.Iterations, s.Interrupted)}
	width, vusWidth := 0, 0
	vus := make([]string, len(s.Scenarios))
	for i, sc := range s.Scenarios {
		width = max(width, len(sc.Scenario))
		if _, arrival := arrivalRate(plan[sc.Scenario], sc.Elapsed); arrival {
			vus[i] = fmt.Sprintf("%d/%d VUs", sc.ActiveVUs, sc.MaxVUs)
		} else {
			vus[i] = fmt.Sprintf("%d VUs", sc.ActiveVUs)
		}
		vusWidth = max(vusWidth, len(vus[i]))
	}
	const barWidth = 40
	for i, sc := range s.Scenarios {
		var bar string
		if tty {
			done := int(sc.Fraction * barWidth)
			bar = "[" + strings.Repeat("=", done)
			if done < barWidth {
				bar += ">" + strings.Repeat("-", barWidth-done-1)
			}
			bar += "]"
			if sc.Done {
				bar = "✓ " + bar
			} else {
				bar = "  " + bar
			}
		} else {
			bar = fmt.Sprintf("[ %3d%% ]", int(sc.Fraction*100))
		}
		line := fmt.Sprintf("%-*s %s %-*s  %s/%s", width, sc.Scenario, bar, vusWidth, vus[i],
			clock(sc.Elapsed), duration.Format(sc.Duration))
		if rate, arrival := arrivalRate(plan[sc.Scenario], sc.Elapsed); arrival {
			line += fmt.Sprintf("  %.2f iters/s", rate)
		}
		lines = append(lines, line)
	}
	return lines
}

// arrivalRate is an arrival-rate scenario's target rate in iterations per
// second at elapsed; false for the other executors.
func arrivalRate(cfg scenarios.Config, elapsed time.Duration) (float64, bool) {
	perSecond := func(rate float64, unit time.Duration) float64 {
		if unit <= 0 {
			unit = time.Second
		}
		return rate * float64(time.Second) / float64(unit)
	}
	switch c := cfg.(type) {
	case scenarios.ConstantArrivalRate:
		return perSecond(float64(c.Rate), c.TimeUnit), true
	case scenarios.RampingArrivalRate:
		rate, at := float64(c.StartRate), time.Duration(0)
		for _, st := range c.Stages {
			if elapsed < at+st.Duration {
				rate += (float64(st.Target) - rate) * float64(elapsed-at) / float64(st.Duration)
				return perSecond(rate, c.TimeUnit), true
			}
			rate, at = float64(st.Target), at+st.Duration
		}
		return perSecond(rate, c.TimeUnit), true
	}
	return 0, false
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
