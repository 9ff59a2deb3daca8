// Package evaluation scores the anomaly detectors on labelled runs.
//
// On synthetic runs from package synth it reports, per kind, for long and
// short runs apart, precision, recall and F1 (a finding hits a label when
// its kind is the label's and it starts within [Tolerance] of the injected
// time), detection delay, false alarms per null run, and the knee's error in
// VUs.
//
// It is pure and deterministic, like the packages it evaluates; the
// command anomaly/cmd/anomalyeval prints its table, and its test asserts
// the targets on a reduced suite.
package evaluation

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/loadtest"
)

// Expect maps each injected kind to the finding kind that reports it.
var Expect = map[synth.Kind]anomaly.Kind{
	synth.LatencyStep:         anomaly.KindLatencyShift,
	synth.LatencyDrift:        anomaly.KindLatencyDrift,
	synth.ErrorBurst:          anomaly.KindErrorBurst,
	synth.Knee:                anomaly.KindThroughputLimit,
	synth.GeneratorSaturation: anomaly.KindGeneratorCPU,
	synth.Leak:                anomaly.KindMemoryLeak,
}

// Row is the score of one injected kind, in long or in short runs.
type Row struct {
	Kind synth.Kind `json:"kind"`
	// Short is true for the row of short runs (synth.Spec.Short).
	Short     bool    `json:"short,omitempty"`
	Labels    int     `json:"labels"`
	Hits      int     `json:"hits"`
	Findings  int     `json:"findings"` // of the expected finding kind, in all runs
	TruePos   int     `json:"true_positives"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// DelayMedian and DelayMean are finding start − injected time over the
	// hits, in seconds (positive: reported later than injected).
	DelayMedian float64 `json:"delay_median_s"`
	DelayMean   float64 `json:"delay_mean_s"`
	// BySize counts hits and labels per injected size.
	BySize map[float64][2]int `json:"by_size"`
}

// Score is the evaluation of a suite.
type Score struct {
	Rows []Row `json:"rows"`
	// NullRuns counts runs with nothing injected (nulls and 0-byte leaks);
	// FalseAlarms counts every finding in them, of any kind.
	NullRuns    int     `json:"null_runs"`
	FalseAlarms int     `json:"false_alarms"`
	PerNullRun  float64 `json:"false_alarms_per_null_run"`
	// ShortNullRuns, ShortFalseAlarms and ShortPerNullRun are the same
	// for the short runs alone.
	ShortNullRuns    int     `json:"short_null_runs"`
	ShortFalseAlarms int     `json:"short_false_alarms"`
	ShortPerNullRun  float64 `json:"short_false_alarms_per_null_run"`
	// FalseAlarmKinds counts the null runs' findings by kind.
	FalseAlarmKinds map[anomaly.Kind]int `json:"false_alarm_kinds"`
	// KneeErrors are |estimated − true| / true knee VUs of the detected
	// knees of long runs; ShortKneeErrors those of short runs.
	KneeErrors      []float64 `json:"knee_errors"`
	KneeMean        float64   `json:"knee_error_mean"`
	KneeMax         float64   `json:"knee_error_max"`
	ShortKneeErrors []float64 `json:"short_knee_errors"`
	ShortKneeMean   float64   `json:"short_knee_error_mean"`
	ShortKneeMax    float64   `json:"short_knee_error_max"`
	// Other counts findings in labelled runs whose kind is no expected
	// kind (rules such as error_rate), by kind.
	Other map[anomaly.Kind]int `json:"other"`
	Runs  int                  `json:"runs"`
	// Elapsed is not measured here (no clock): callers may time Run.
}

// Tolerance returns the hit window around an injected time for a run of
// duration d: max(30 s, 5 % of d), but no more than a sixth of a short run
// (at least 5 s) — in a 30 s run, 30 s would accept any time.
func Tolerance(d time.Duration) time.Duration {
	return min(max(30*time.Second, d/20), max(5*time.Second, d/6))
}

// Run generates and analyses every spec, on GOMAXPROCS goroutines, and
// scores the findings. The score does not depend on the parallelism.
func Run(specs []synth.Spec, opts anomaly.Options) Score {
	type acc struct {
		labels, hits, findings, tp int
		delays                     []float64
		bySize                     map[float64][2]int
	}
	type key struct {
		kind  synth.Kind
		short bool
	}
	accs := map[key]*acc{}
	for _, short := range []bool{false, true} {
		for k := range Expect {
			accs[key{k, short}] = &acc{bySize: map[float64][2]int{}}
		}
	}
	expectKinds := map[anomaly.Kind]synth.Kind{}
	for sk, fk := range Expect {
		expectKinds[fk] = sk
	}
	sc := Score{FalseAlarmKinds: map[anomaly.Kind]int{}, Other: map[anomaly.Kind]int{}}
	// Generate and analyse on every core; score in spec order.
	type done struct {
		run synth.Run
		rep anomaly.Report
	}
	results := make([]done, len(specs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(specs)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(specs); i += workers {
				run := synth.Generate(specs[i])
				// The Result's timeline is not needed after analysis.
				results[i] = done{run: run, rep: anomaly.Analyze(run.Result, nil, opts)}
				results[i].run.Result.Timeline = loadtest.Timeline{}
			}
		})
	}
	wg.Wait()
	for _, d := range results {
		run, rep := d.run, d.rep
		sc.Runs++
		tol := Tolerance(run.Result.Duration)
		short := run.Spec.Short
		if len(run.Labels) == 0 {
			sc.NullRuns++
			sc.FalseAlarms += len(rep.Findings)
			if short {
				sc.ShortNullRuns++
				sc.ShortFalseAlarms += len(rep.Findings)
			}
			for _, f := range rep.Findings {
				sc.FalseAlarmKinds[f.Kind]++
			}
		}
		used := make([]bool, len(rep.Findings))
		for _, l := range run.Labels {
			a := accs[key{l.Kind, short}]
			a.labels++
			bs := a.bySize[l.Size]
			bs[1]++
			for i, f := range rep.Findings {
				if used[i] || f.Kind != Expect[l.Kind] {
					continue
				}
				d := f.Start - l.At
				if d < -tol || d > tol {
					continue
				}
				used[i] = true
				a.hits++
				bs[0]++
				a.delays = append(a.delays, d.Seconds())
				if l.Kind == synth.Knee {
					e := math.Abs(f.Evidence["knee_vus"]-l.Size) / l.Size
					if short {
						sc.ShortKneeErrors = append(sc.ShortKneeErrors, e)
					} else {
						sc.KneeErrors = append(sc.KneeErrors, e)
					}
				}
				break
			}
			a.bySize[l.Size] = bs
		}
		for i, f := range rep.Findings {
			sk, ok := expectKinds[f.Kind]
			if !ok {
				if len(run.Labels) > 0 {
					sc.Other[f.Kind]++
				}
				continue
			}
			accs[key{sk, short}].findings++
			if used[i] {
				accs[key{sk, short}].tp++
			}
		}
	}
	kinds := mapsKeys(Expect)
	slices.Sort(kinds)
	var keys []key
	for _, short := range []bool{false, true} {
		for _, k := range kinds {
			if accs[key{k, short}].labels > 0 {
				keys = append(keys, key{k, short})
			}
		}
	}
	for _, k := range keys {
		a := accs[k]
		r := Row{Kind: k.kind, Short: k.short, Labels: a.labels, Hits: a.hits, Findings: a.findings, TruePos: a.tp, BySize: a.bySize}
		r.Precision, r.Recall = ratio(a.tp, a.findings), ratio(a.hits, a.labels)
		if r.Precision+r.Recall > 0 {
			r.F1 = 2 * r.Precision * r.Recall / (r.Precision + r.Recall)
		}
		if len(a.delays) > 0 {
			s := slices.Clone(a.delays)
			slices.Sort(s)
			r.DelayMedian = s[len(s)/2]
			for _, d := range s {
				r.DelayMean += d
			}
			r.DelayMean /= float64(len(s))
		}
		sc.Rows = append(sc.Rows, r)
	}
	if sc.NullRuns > 0 {
		sc.PerNullRun = float64(sc.FalseAlarms) / float64(sc.NullRuns)
	}
	if sc.ShortNullRuns > 0 {
		sc.ShortPerNullRun = float64(sc.ShortFalseAlarms) / float64(sc.ShortNullRuns)
	}
	sc.KneeMean, sc.KneeMax = meanMax(sc.KneeErrors)
	sc.ShortKneeMean, sc.ShortKneeMax = meanMax(sc.ShortKneeErrors)
	return sc
}

func meanMax(xs []float64) (m, mx float64) {
	for _, x := range xs {
		m += x / float64(len(xs))
		mx = max(mx, x)
	}
	return m, mx
}

func mapsKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Table formats the score as a plain-text table.
func (s Score) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s %6s %6s %9s %6s %6s %6s %9s %9s\n", "kind", "labels", "hits", "findings", "prec", "recall", "F1", "delay_med", "delay_avg")
	for _, r := range s.Rows {
		fmt.Fprintf(&b, "%-30s %6d %6d %9d %6.3f %6.3f %6.3f %8.1fs %8.1fs\n", r.name(), r.Labels, r.Hits, r.Findings,
			r.Precision, r.Recall, r.F1, r.DelayMedian, r.DelayMean)
	}
	fmt.Fprintf(&b, "runs %d, null runs %d, false alarms %d (%.3f per null run; short: %d of %d runs, %.3f)", s.Runs, s.NullRuns,
		s.FalseAlarms, s.PerNullRun, s.ShortFalseAlarms, s.ShortNullRuns, s.ShortPerNullRun)
	if len(s.FalseAlarmKinds) > 0 {
		fmt.Fprintf(&b, " %v", s.FalseAlarmKinds)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "knee error: mean %.1f %%, max %.1f %% over %d detected knees; short runs: mean %.1f %%, max %.1f %% over %d\n",
		100*s.KneeMean, 100*s.KneeMax, len(s.KneeErrors), 100*s.ShortKneeMean, 100*s.ShortKneeMax, len(s.ShortKneeErrors))
	for _, r := range s.Rows {
		if len(r.BySize) < 2 {
			continue
		}
		fmt.Fprintf(&b, "  %s recall by size:", r.name())
		sizes := floatKeys(r.BySize)
		slices.Sort(sizes)
		for _, sz := range sizes {
			fmt.Fprintf(&b, " %g: %d/%d", sz, r.BySize[sz][0], r.BySize[sz][1])
		}
		b.WriteString("\n")
	}
	if len(s.Other) > 0 {
		fmt.Fprintf(&b, "other findings in labelled runs: %v\n", s.Other)
	}
	return b.String()
}

// name is the row's kind, with "(short)" for short runs.
func (r Row) name() string {
	if r.Short {
		return string(r.Kind) + " (short)"
	}
	return string(r.Kind)
}

func floatKeys(m map[float64][2]int) []float64 {
	out := make([]float64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
