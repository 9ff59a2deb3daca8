package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// Report is what Analyze found in a run.
type Report struct {
	// Findings, one per episode, ranked by severity (highest first), then
	// by start.
	Findings []Finding `json:"findings"`
	// Severity is the highest severity among the findings, SeverityNone
	// when there are none.
	Severity Severity `json:"severity"`
	// Summary is a short plain-text account: how many findings, the worst
	// ones, and whether the generator's numbers can be trusted.
	Summary string `json:"summary"`
	// Steady lists the periods of steady load the time-series detectors
	// compared (after settling), as offsets from the run's start.
	Steady []Window `json:"steady,omitempty"`
	// Schedule says where the steady periods came from: "plan" (the
	// scenarios' stages), "vus" (flat stretches of the VU series) or
	// "assumed" (no schedule: the whole run taken as one period).
	Schedule string `json:"schedule"`
}

// Window is a period of a run, as offsets from its start, with its load:
// Load is the sum of the scenarios' VUs or arrival rates (per second).
type Window struct {
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
	Load  float64       `json:"load"`
}

// Analyze finds what went wrong in r: the run's status, error rate,
// latency and thresholds; k6 Cloud's performance insights; time-series
// detectors aware of the load schedule (latency shifts and drifts inside
// steady periods, degradation between them, error bursts, memory leaks,
// the throughput limit, the target's CPU, dropped iterations) — on short
// runs too, with stronger evidence required; and, when history holds
// previous runs of the same test, regressions against them.
//
// It is pure and deterministic: the same arguments give the same Report,
// and it does no I/O and reads no clock. history may be in any order (it
// is sorted by start time) and may include runs with a different name,
// which are ignored when r has a name. Analyze is safe for concurrent use.
func Analyze(r loadtest.Result, history []loadtest.Result, opts Options) Report {
	a := newAnalysis(r, opts)
	a.rules()
	a.insights()
	a.generator()
	a.stalls()
	a.grossLatency()
	a.grossDrift()
	a.latency()
	a.errorEpisodes()
	a.networkErrors()
	a.iterationErrors()
	a.leak()
	a.knee()
	a.targetCPU()
	a.coordinatedOmission()
	a.hostContention()
	a.history(history)
	return a.report()
}

// analysis holds one Analyze call's state.
type analysis struct {
	r        loadtest.Result
	o        Options
	step     time.Duration
	base     time.Duration // offset of timeline point 0 from the run's start
	n        int           // points in the timeline
	steady   []span
	schedule string
	found    []Finding
	// dispersion of failures over a binomial, set by errorEpisodes.
	dispersion float64
	// earlyEnd is the end of the early-failures finding, if any: error
	// episodes starting before it are the same episode.
	earlyEnd int
	// loads caches loadLevels.
	loads []float64
	// claims are the windows detectors have explained so far.
	claims []claim
}

// span is a half-open range [a, b) of timeline points with its load key.
type span struct {
	a, b int
	load float64
	key  string // equal keys mean equal load in every scenario
	// from is where the steady load began, before settling: a rise of
	// latency in the settling time is still a rise.
	from int
}

func newAnalysis(r loadtest.Result, o Options) *analysis {
	if o.TargetCPUs == 0 && r.Config.Telemetry != nil {
		o.TargetCPUs = r.Config.Telemetry.CPUs
	}
	a := &analysis{r: r, o: o.withDefaults(), step: r.Timeline.Step, n: r.Timeline.Len()}
	if a.step <= 0 {
		a.step = time.Second
	}
	if !r.Timeline.Start.IsZero() && !r.Start.IsZero() {
		a.base = r.Timeline.Start.Sub(r.Start)
	}
	a.steady, a.schedule = a.steadySpans()
	return a
}

// at returns the offset from the run's start of timeline point i.
func (a *analysis) at(i int) time.Duration { return a.base + time.Duration(i)*a.step }

// index returns the first timeline point at or after offset d.
func (a *analysis) index(d time.Duration) int {
	i := int(math.Ceil(float64(d-a.base) / float64(a.step)))
	return min(max(i, 0), a.n)
}

// points converts a duration to a count of timeline points (at least 1).
func (a *analysis) points(d time.Duration) int { return max(1, int(d/a.step)) }

// series returns the values of the untagged series name, padded with NaN
// to the timeline's length, or nil when there is none.
func (a *analysis) series(name string) []float64 {
	return a.pad(a.r.Timeline.Find(name, nil))
}

// seriesAny returns the first series named name whatever its tags (target
// telemetry carries a source tag), with its tags.
func (a *analysis) seriesAny(name string) ([]float64, map[string]string) {
	for i := range a.r.Timeline.Series {
		if s := &a.r.Timeline.Series[i]; s.Name == name {
			return a.pad(s), s.Tags
		}
	}
	return nil, nil
}

func (a *analysis) pad(s *loadtest.Series) []float64 {
	if s == nil {
		return nil
	}
	out := make([]float64, a.n)
	copy(out, s.Values)
	for i := len(s.Values); i < a.n; i++ {
		out[i] = math.NaN()
	}
	return out
}

// duration returns the run's length: Result.Duration, or the timeline's.
func (a *analysis) duration() time.Duration {
	if a.r.Duration > 0 {
		return a.r.Duration
	}
	return a.at(a.n)
}

// add records a finding over timeline points [i, j) (whole run when both
// are negative).
func (a *analysis) add(f Finding, i, j int) {
	if i < 0 && j < 0 {
		f.Start, f.End = 0, a.duration()
	} else {
		f.Start, f.End = a.at(max(i, 0)), a.at(max(j, i+1))
	}
	if !a.r.Start.IsZero() {
		f.StartTime, f.EndTime = a.r.Start.Add(f.Start).UTC(), a.r.Start.Add(f.End).UTC()
	}
	f.Evidence = cleanEvidence(f.Evidence)
	a.found = append(a.found, f)
}

func (a *analysis) report() Report {
	fs := mergeEpisodes(a.explainByKnee(a.explainByGenerator(a.found)), a.o.MergeGap)
	for i := range fs {
		fs[i].ID = makeID(fs[i])
	}
	rank(fs)
	rep := Report{Findings: fs, Schedule: a.schedule}
	if fs == nil {
		rep.Findings = []Finding{}
	}
	for _, f := range fs {
		rep.Severity = max(rep.Severity, f.Severity)
	}
	for _, s := range a.steady {
		rep.Steady = append(rep.Steady, Window{Start: a.at(s.a), End: a.at(s.b), Load: s.load})
	}
	rep.Summary = summarize(rep, a.duration())
	return rep
}

// explainByGenerator folds latency and throughput findings that start
// while the generator was saturated into the generator's finding: a
// saturated generator measures itself, so they are not blamed on the
// target. The generator finding keeps the largest latency change in its
// evidence.
func (a *analysis) explainByGenerator(fs []Finding) []Finding {
	var gens []int
	for i, f := range fs {
		if f.Kind == KindGeneratorCPU {
			gens = append(gens, i)
		}
	}
	if len(gens) == 0 {
		return fs
	}
	out := fs[:0:0]
	for _, f := range fs {
		folded := false
		switch f.Kind {
		case KindLatencyShift, KindLatencySpike, KindLatencyDrift, KindLatencyDegradation, KindThroughputLimit:
			for _, gi := range gens {
				g := &fs[gi]
				if f.Start >= g.Start-a.o.MergeGap && f.Start <= g.End {
					if c, ok := f.Evidence["change"]; ok && c > g.Evidence["latency_change"] {
						g.Evidence["latency_change"] = c
					}
					folded = true
					break
				}
			}
		}
		if !folded {
			out = append(out, f)
		}
	}
	for i := range out {
		if c, ok := out[i].Evidence["latency_change"]; ok && out[i].Kind == KindGeneratorCPU {
			out[i].Message += fmt.Sprintf(" Latency rose %s meanwhile; that rise is not blamed on the target.", pct(c))
		}
	}
	return out
}

// explainByKnee drops latency findings that begin at or past the knee of
// a stress ramp: latency that rises once throughput stopped growing is the
// saturation the throughput-limit finding reports (with p95 before and
// after it).
func (a *analysis) explainByKnee(fs []Finding) []Finding {
	var knees []Finding
	for _, f := range fs {
		if f.Kind == KindThroughputLimit {
			knees = append(knees, f)
		}
	}
	if len(knees) == 0 {
		return fs
	}
	return slices.DeleteFunc(fs, func(f Finding) bool {
		switch f.Kind {
		case KindLatencyShift, KindLatencySpike, KindLatencyDrift, KindLatencyDegradation:
		default:
			return false
		}
		for _, k := range knees {
			// The knee and a rise of latency are estimates of one bend.
			if f.Start >= k.Start-max(3*a.step, (k.End-k.Start)/10) && f.Start <= k.End {
				return true
			}
		}
		return false
	})
}

// summarize writes the report's summary: a count by severity, then the
// messages of up to three most severe findings.
func summarize(rep Report, d time.Duration) string {
	if len(rep.Findings) == 0 {
		return fmt.Sprintf("No problems found in %s of run.", fmtDur(d))
	}
	counts := map[Severity]int{}
	generator, starved := false, false
	for _, f := range rep.Findings {
		counts[f.Severity]++
		generator = generator || f.Kind == KindGeneratorCPU
		starved = starved || f.Kind == KindHostContention
	}
	var parts []string
	for s := SeverityCritical; s >= SeverityInfo; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	noun := "findings"
	if len(rep.Findings) == 1 {
		noun = "finding"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s (%s).", len(rep.Findings), noun, strings.Join(parts, ", "))
	for i, f := range rep.Findings {
		if i == 3 {
			fmt.Fprintf(&b, " And %d more.", len(rep.Findings)-3)
			break
		}
		fmt.Fprintf(&b, " [%s] %s", f.Severity, f.Message)
	}
	switch {
	case generator:
		b.WriteString(" The load generator was saturated: treat latency and throughput as suspect.")
	case starved:
		b.WriteString(" The load generator was starved of CPU by other processes: latency measured then may be the generator's.")
	}
	return b.String()
}

// fmtDur formats a duration for messages: whole seconds, as "5m30s".
func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour || d%time.Minute != 0 || d < time.Minute {
		return d.String()
	}
	return strings.TrimSuffix(d.String(), "0s")
}

// pct formats a ratio as a percentage with sensible precision.
func pct(x float64) string {
	a := math.Abs(x) * 100
	switch {
	case a >= 10:
		return fmt.Sprintf("%.0f %%", x*100)
	case a >= 1:
		return fmt.Sprintf("%.1f %%", x*100)
	}
	return fmt.Sprintf("%.2f %%", x*100)
}

// fmtMs formats milliseconds as "850 ms" or "2.31 s".
func fmtMs(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	if ms >= 10 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// fmtBytes formats a byte count in binary units.
func fmtBytes(b float64) string {
	switch a := math.Abs(b); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
