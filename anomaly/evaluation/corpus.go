package evaluation

import (
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
)

// A corpus is a set of real runs recorded against the fault-injecting
// target (command anomaly/cmd/anomalyeval record), each with the faults it
// really had: the labels come from the target's events log, not from the
// plan. Scoring replays Analyze over it.

// Label kinds of real runs: what a person would say went wrong.
const (
	LabelStep      = "step"          // latency stepped up
	LabelDrift     = "drift"         // latency kept rising
	LabelBurst     = "burst"         // HTTP errors for a while
	LabelStall     = "stall"         // all requests stalled, repeatedly
	LabelLeak      = "leak"          // the target's memory kept growing
	LabelKnee      = "knee"          // throughput stopped growing with the VUs
	LabelException = "exception"     // iterations threw
	LabelNetwork   = "network-error" // requests got no HTTP answer
)

// LabelKinds lists the label kinds in table order.
var LabelKinds = []string{LabelStep, LabelDrift, LabelBurst, LabelStall, LabelLeak, LabelKnee, LabelException, LabelNetwork}

// Accept maps each label kind to the finding kinds that report it.
var Accept = map[string][]anomaly.Kind{
	LabelStep:      {anomaly.KindLatencyShift},
	LabelDrift:     {anomaly.KindLatencyDrift},
	LabelBurst:     {anomaly.KindErrorBurst, anomaly.KindFailureIncrease},
	LabelStall:     {anomaly.KindLatencyStall},
	LabelLeak:      {anomaly.KindMemoryLeak},
	LabelKnee:      {anomaly.KindThroughputLimit},
	LabelException: {anomaly.KindIterationErrors},
	LabelNetwork:   {anomaly.KindNetworkErrors},
}

// OnsetTolerance is how far a finding's start may lie from the label's
// onset to hit it.
const OnsetTolerance = 3 * time.Second

// RecordedRun is one recorded run of a corpus.
type RecordedRun struct {
	// ID names the run: "file/scenario#n".
	ID string `json:"id"`
	// Group names the runs of one test recorded one after another; a
	// group's runs are each other's history, in order of Index.
	Group string `json:"group,omitempty"`
	Index int    `json:"index,omitempty"`
	// Hog is set when a CPU hog ran beside the generator.
	Hog bool `json:"hog,omitempty"`
	// Endpoints is how many endpoints the run requested.
	Endpoints int `json:"endpoints"`
	// Spec is what the recorder ran (load, fault, target), for people and
	// for debugging; scoring does not read it.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Labels are the faults the run really had; empty for a null run.
	Labels []Label `json:"labels"`
	// Result is what loadtest.Run returned.
	Result loadtest.Result `json:"result"`
}

// Label is one fault a run had, from the run's start.
type Label struct {
	Kind string `json:"kind"`
	// Endpoint is the name tag of the endpoint the fault hit; empty when it
	// hit every endpoint.
	Endpoint string `json:"endpoint,omitempty"`
	// Start is the true onset; End the true end (0: the end of the run).
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns,omitempty"`
	// Size is the kind's magnitude: the latency factor of a step, the
	// added ms per second of a drift, the error share of a burst, the
	// stall's length in seconds, the bytes per request of a leak, the VUs
	// at the knee, the share of iterations that threw, of requests reset.
	Size float64 `json:"size,omitempty"`
	// Period is a stall's period.
	Period time.Duration `json:"period_ns,omitempty"`
	// Detail says more for people ("k6 error code 1212").
	Detail string `json:"detail,omitempty"`
}

// ReadCorpus reads a corpus file: a gzip-compressed JSON array of Runs.
func ReadCorpus(path string) ([]RecordedRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var runs []RecordedRun
	if err := json.NewDecoder(zr).Decode(&runs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return runs, nil
}

// WriteCorpus writes runs as ReadCorpus reads them.
func WriteCorpus(w io.Writer, runs []RecordedRun) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(zw)
	if err := enc.Encode(runs); err != nil {
		return err
	}
	return zw.Close()
}

// ReadCorpusDir reads every *.json.gz corpus file of dir, in name order,
// keyed by file name without the extension.
func ReadCorpusDir(dir string) (map[string][]RecordedRun, []string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json.gz"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(paths)
	out := map[string][]RecordedRun{}
	var names []string
	for _, p := range paths {
		runs, err := ReadCorpus(p)
		if err != nil {
			return nil, nil, err
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json.gz")
		out[name], names = runs, append(names, name)
	}
	return out, names, nil
}

// KindScore is the score of one label kind over a corpus.
type KindScore struct {
	Kind   string `json:"kind"`
	Labels int    `json:"labels"`
	Hits   int    `json:"hits"`
	// Findings counts the findings of the kind's accepted finding kinds in
	// every run; TruePos those that hit a label.
	Findings  int     `json:"findings"`
	TruePos   int     `json:"true_positives"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// OnsetMedian is the median |finding start − label onset| of the hits,
	// in seconds.
	OnsetMedian float64 `json:"onset_error_median_s"`
	// Misattributed counts findings at the right time and of the right kind
	// that named another endpoint.
	Misattributed int `json:"misattributed"`
}

// CorpusScore is the evaluation of a corpus.
type CorpusScore struct {
	Kinds []KindScore `json:"kinds"`
	// NullRuns counts runs without labels, analysed without history;
	// NullAlarms their findings of medium or higher severity.
	NullRuns   int     `json:"null_runs"`
	NullAlarms int     `json:"null_alarms"`
	PerNull    float64 `json:"alarms_per_null_run"`
	// HistoryRuns counts null runs analysed with 3 or more earlier runs of
	// their group as history; HistoryAlarms their medium+ findings.
	HistoryRuns    int     `json:"history_runs"`
	HistoryAlarms  int     `json:"history_alarms"`
	PerHistoryRun  float64 `json:"alarms_per_history_run"`
	Runs           int     `json:"runs"`
	Misses         []Miss  `json:"misses,omitempty"`
	FalsePositives []Miss  `json:"false_positives,omitempty"`
}

// Miss is a label no finding hit, or a finding that hit no label (or a
// null run's medium+ finding), for people to look at.
type Miss struct {
	Run     string `json:"run"`
	Kind    string `json:"kind"`
	At      string `json:"at"`
	Message string `json:"message"`
}

// minHistory is the fewest earlier runs a null run is judged with.
const minHistory = 3

// ScoreCorpus analyses every run (on GOMAXPROCS goroutines; the score does
// not depend on it) and scores the findings against the labels.
func ScoreCorpus(runs []RecordedRun, opts anomaly.Options) CorpusScore {
	type job struct {
		run     *RecordedRun
		history []loadtest.Result
	}
	jobs := make([]job, 0, len(runs))
	groups := map[string][]*RecordedRun{}
	for i := range runs {
		r := &runs[i]
		jobs = append(jobs, job{run: r})
		if r.Group != "" {
			groups[r.Group] = append(groups[r.Group], r)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		g := groups[name]
		slices.SortFunc(g, func(a, b *RecordedRun) int { return cmp.Compare(a.Index, b.Index) })
		for i := minHistory; i < len(g); i++ {
			if len(g[i].Labels) > 0 {
				continue
			}
			hist := make([]loadtest.Result, i)
			for j := range i {
				hist[j] = g[j].Result
			}
			jobs = append(jobs, job{run: g[i], history: hist})
		}
	}
	reports := make([]anomaly.Report, len(jobs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(jobs)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(jobs); i += workers {
				reports[i] = anomaly.Analyze(jobs[i].run.Result, jobs[i].history, opts)
			}
		})
	}
	wg.Wait()

	kindOf := map[anomaly.Kind]string{}
	for lk, fks := range Accept {
		for _, fk := range fks {
			kindOf[fk] = lk
		}
	}
	type acc struct {
		labels, hits, findings, tp, misattributed int
		onset                                     []float64
	}
	accs := map[string]*acc{}
	for _, k := range LabelKinds {
		accs[k] = &acc{}
	}
	var sc CorpusScore
	for ji, jb := range jobs {
		r, rep := jb.run, reports[ji]
		if jb.history != nil {
			sc.HistoryRuns++
			for _, f := range rep.Findings {
				if f.Severity >= anomaly.SeverityMedium {
					sc.HistoryAlarms++
					sc.FalsePositives = append(sc.FalsePositives, missOf(r.ID+" (history)", string(f.Kind), f))
				}
			}
			continue
		}
		sc.Runs++
		if len(r.Labels) == 0 {
			sc.NullRuns++
			for _, f := range rep.Findings {
				if f.Severity >= anomaly.SeverityMedium {
					sc.NullAlarms++
				}
			}
		}
		used := make([]bool, len(rep.Findings))
		for _, l := range r.Labels {
			a := accs[l.Kind]
			if a == nil {
				continue
			}
			a.labels++
			best, bestErr, wrongPlace := -1, time.Duration(math.MaxInt64), false
			for i, f := range rep.Findings {
				if used[i] || kindOf[f.Kind] != l.Kind {
					continue
				}
				d := absDur(f.Start - l.Start)
				if d > OnsetTolerance {
					continue
				}
				if !attributed(r, l, f) {
					wrongPlace = true
					continue
				}
				if d < bestErr {
					best, bestErr = i, d
				}
			}
			if best < 0 {
				if wrongPlace {
					a.misattributed++
				}
				sc.Misses = append(sc.Misses, Miss{Run: r.ID, Kind: l.Kind, At: fmtOffset(l.Start),
					Message: fmt.Sprintf("label on %q size %g; findings: %s", l.Endpoint, l.Size, summarize(rep))})
				continue
			}
			used[best] = true
			a.hits++
			a.onset = append(a.onset, bestErr.Seconds())
		}
		for i, f := range rep.Findings {
			lk, ok := kindOf[f.Kind]
			if ok {
				accs[lk].findings++
				if used[i] {
					accs[lk].tp++
					continue
				}
			}
			if ok || len(r.Labels) == 0 && f.Severity >= anomaly.SeverityMedium {
				sc.FalsePositives = append(sc.FalsePositives, missOf(r.ID, string(f.Kind), f))
			}
		}
	}
	for _, k := range LabelKinds {
		a := accs[k]
		ks := KindScore{Kind: k, Labels: a.labels, Hits: a.hits, Findings: a.findings, TruePos: a.tp, Misattributed: a.misattributed}
		ks.Precision, ks.Recall = ratio(a.tp, a.findings), ratio(a.hits, a.labels)
		if ks.Precision+ks.Recall > 0 {
			ks.F1 = 2 * ks.Precision * ks.Recall / (ks.Precision + ks.Recall)
		}
		if len(a.onset) > 0 {
			slices.Sort(a.onset)
			ks.OnsetMedian = medianSorted(a.onset)
		}
		sc.Kinds = append(sc.Kinds, ks)
	}
	if sc.NullRuns > 0 {
		sc.PerNull = float64(sc.NullAlarms) / float64(sc.NullRuns)
	}
	if sc.HistoryRuns > 0 {
		sc.PerHistoryRun = float64(sc.HistoryAlarms) / float64(sc.HistoryRuns)
	}
	return sc
}

// attributed reports whether finding f names the label's endpoint where it
// must: in a run of several endpoints with the fault on one, a finding that
// names an endpoint must name that one, and a finding about latency or
// errors must name one.
func attributed(r *RecordedRun, l Label, f anomaly.Finding) bool {
	if r.Endpoints <= 1 || l.Endpoint == "" {
		return true
	}
	name, ok := f.Tags["name"]
	if !ok {
		switch l.Kind {
		case LabelLeak, LabelKnee, LabelException:
			return true // not per endpoint
		}
		return false
	}
	return name == l.Endpoint
}

func missOf(run, kind string, f anomaly.Finding) Miss {
	return Miss{Run: run, Kind: kind, At: fmtOffset(f.Start), Message: fmt.Sprintf("[%s] %s", f.Severity, f.Message)}
}

func summarize(rep anomaly.Report) string {
	if len(rep.Findings) == 0 {
		return "none"
	}
	parts := make([]string, len(rep.Findings))
	for i, f := range rep.Findings {
		parts[i] = fmt.Sprintf("%s@%s%s", f.Kind, fmtOffset(f.Start), tagSuffix(f.Tags))
	}
	return strings.Join(parts, ", ")
}

func tagSuffix(tags map[string]string) string {
	if n, ok := tags["name"]; ok {
		return "{" + n + "}"
	}
	return ""
}

func fmtOffset(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Table formats the score as a plain-text table: per kind precision,
// recall, F1 and the median onset error, then the null runs' alarms.
func (s CorpusScore) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %6s %5s %8s %6s %6s %6s %12s %6s\n", "kind", "labels", "hits", "findings", "prec", "recall", "F1", "onset_med_s", "misattr")
	for _, k := range s.Kinds {
		fmt.Fprintf(&b, "%-14s %6d %5d %8d %6.3f %6.3f %6.3f %12.2f %6d\n", k.Kind, k.Labels, k.Hits, k.Findings,
			k.Precision, k.Recall, k.F1, k.OnsetMedian, k.Misattributed)
	}
	fmt.Fprintf(&b, "runs %d; null runs %d: %d medium+ findings (%.3f per run); with history: %d runs, %d (%.3f per run)\n",
		s.Runs, s.NullRuns, s.NullAlarms, s.PerNull, s.HistoryRuns, s.HistoryAlarms, s.PerHistoryRun)
	return b.String()
}

// SeriesTable formats the per-second series the detectors read, one row a
// second, for people debugging a run: VUs, req/s, failures, latency
// percentiles (overall and per endpoint), iteration errors, and the
// generator's, host's and target's CPU and memory.
func SeriesTable(r loadtest.Result) string {
	type col struct {
		head string
		vals []float64
	}
	var cols []col
	add := func(head string, s *loadtest.Series) {
		if s != nil {
			cols = append(cols, col{head, s.Values})
		}
	}
	tl := r.Timeline
	for _, n := range []struct{ name, head string }{{loadtest.SeriesVUs, "vus"}, {loadtest.SeriesRequests, "req/s"},
		{loadtest.SeriesFailedRate, "fail"}, {loadtest.SeriesLatencyP50, "p50"}, {loadtest.SeriesLatencyP95, "p95"},
		{loadtest.SeriesLatencyMax, "max"}, {loadtest.SeriesIterErrors, "iterr"}, {loadtest.SeriesDropped, "drop"},
		{loadtest.SeriesGeneratorCPU, "gcpu"}, {loadtest.SeriesHostCPU, "host"}, {loadtest.SeriesGeneratorSched, "sched"}} {
		add(n.head, tl.Find(n.name, nil))
	}
	for i := range tl.Series {
		s := &tl.Series[i]
		if name, ok := s.Tags["name"]; ok {
			short := strings.TrimPrefix(name, "GET /api/products")
			switch s.Name {
			case loadtest.SeriesRequests:
				cols = append(cols, col{"r" + short, s.Values})
			case loadtest.SeriesLatencyP95:
				cols = append(cols, col{"p95" + short, s.Values})
			case loadtest.SeriesFailedRate:
				cols = append(cols, col{"f" + short, s.Values})
			}
		}
		if s.Tags["source"] != "" && (s.Name == loadtest.SeriesTargetRSS || s.Name == loadtest.SeriesTargetHeap || s.Name == loadtest.SeriesTargetCPU) {
			cols = append(cols, col{strings.TrimPrefix(s.Name, "target."), s.Values})
		}
	}
	var b strings.Builder
	b.WriteString("   s")
	for _, c := range cols {
		fmt.Fprintf(&b, " %9s", c.head)
	}
	b.WriteString("\n")
	for i := range tl.Len() {
		fmt.Fprintf(&b, "%4d", i)
		for _, c := range cols {
			v := math.NaN()
			if i < len(c.vals) {
				v = c.vals[i]
			}
			switch {
			case math.IsNaN(v):
				fmt.Fprintf(&b, " %9s", "-")
			case math.Abs(v) >= 1e6:
				fmt.Fprintf(&b, " %9.3g", v)
			default:
				fmt.Fprintf(&b, " %9.4g", v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
