// Command anomalyeval scores the anomaly detectors: on a corpus of real
// runs recorded against the fault-injecting demo target, and on the
// labelled synthetic suite of package synth.
//
// Usage:
//
//	go run ./anomaly/cmd/anomalyeval score  [-corpus anomaly/testdata/corpus] [-v] [-json]
//	go run ./anomaly/cmd/anomalyeval record [-faults anomaly/testdata/faults] [-corpus anomaly/testdata/corpus]
//	                                        [-only SCENARIO,…] [-parallel 2] [-dry]
//	go run ./anomaly/cmd/anomalyeval show   [-corpus anomaly/testdata/corpus] RUN-ID-PREFIX…
//	go run ./anomaly/cmd/anomalyeval synth  [-seeds 20] [-json] [-show KIND [-short]]
//
// score replays anomaly.Analyze over every corpus file (FILE.json.gz, one
// per faults file) and prints, per file, each label kind's precision,
// recall, F1 and median onset error (a finding hits a label when it is of
// the kind's finding kind, starts within ±3 s of the true onset and, in a
// run of several endpoints, names the faulted one), then the medium+
// findings per null run, without and with history. -v lists the misses
// and false alarms.
//
// show prints the runs whose IDs start with a prefix: labels, findings and
// the per-second series the detectors read.
//
// record runs the matrix the faults files describe, two runs at a time,
// and writes the corpus; -only re-records the named scenarios and keeps
// the other runs of the corpus; -dry prints the runs it would record and
// their total length. Each run starts three processes of this binary: the
// demo target with its fault (serving on a free loopback port, writing its
// events log), the load generator (loadtest.Run, or a k6 script, from an
// epoch shared with the target; it scrapes the target's /metrics), and a
// CPU hog when the scenario asks. The labels are the faults' true start
// and end from the events log, relative to the Result's start.
//
// # Faults files
//
// anomaly/testdata/faults/*.json each hold a matrix of scenarios; anyone
// may add a file or a scenario without reading the detectors. A file:
//
//	{
//	  "doc": "what these scenarios are for",
//	  "seed": 1,
//	  "scenarios": [
//	    {"name": "step-one-endpoint", "runs": 12,
//	     "fault": {"kind": "step", "factor": {"min": 3, "max": 30}, "endpoint": "one"},
//	     "onset": {"min": 0.05, "max": 0.95}, "duration": {"min": "10s", "max": "40s"},
//	     "endpoints": {"min": 1, "max": 4}, "load": ["constant-vus", "constant-arrival-rate"],
//	     "vus": {"min": 3, "max": 12}, "latency": ["5ms", "10ms"], "spread": 0.3}
//	  ]
//	}
//
// Every field but name, runs and script is a draw: a literal, a list of
// literals (one is drawn, uniformly), or a range {"min": a, "max": b}
// (uniform; "log": true for log-uniform). Durations are Go strings ("10s")
// or numbers of milliseconds. Each run draws from its own seed (the file's
// seed, the scenario's name and the run's number), so the corpus is the
// same every time and adding a scenario changes no other run.
//
//   - name, runs: the scenario's name (unique in the file) and how many runs.
//   - fault: what the target does (see target.Fault): kind (one of step,
//     drift, burst, stall, leak, saturate, exception, reset, refuse; the
//     label is the kind, except reset and refuse: "network-error", and
//     saturate: "knee"), endpoint ("one": one of the run's endpoints,
//     drawn, the default; "all"; refuse is always all), for (how long; 0
//     or absent: to the end), factor and delay (step), slope (drift: per
//     second), rate (burst, exception, reset: share of requests), period
//     and length (stall), bytes (leak: per request), slots and hold
//     (saturate). No fault: a null run.
//   - onset: when the fault starts, as a fraction of the run (default
//     uniform over 0.05–0.95). A run grows (up to 120 s) when the fault
//     would otherwise have less than it needs to be seen: 3 s before it
//     (5 s for a leak), and after it 4 s, 10 s for a drift or a leak, two
//     periods and a stall for stalls, its length and 2 s for a burst or
//     refusal.
//   - duration: the run's length before that (default 20s).
//   - endpoints: how many endpoints the run requests in each iteration, in
//     order (1–5, default 1), drawn from /api/products/7, /api/products,
//     /api/products/42, /api/products/3 and / (a script: the JSON ones).
//   - load: constant-vus (default), ramping-vus (0 to vus over ramp, then
//     held), constant-arrival-rate, ramping-arrival-rate (rate/4 to rate
//     over ramp, then held); vus (default 8), rate (iterations per second,
//     default half what 8 VUs would do), ramp (a fraction of the run,
//     default 0.3).
//   - saturate faults make a stress test instead: the VUs ramp from 0 to
//     vus (default 40) over duration (default 20–40 s) and hold 3–5 s;
//     the slots are set so that the knee falls at onset (a fraction of the
//     ramp, default 0.2–0.8); its label is when the ramp reaches it.
//   - latency: the target's base latency (default 8ms; /api/products
//     weighs 2), spread: its log-normal σ (default 0.3), errors: its share
//     of random 500/503 answers (default 0).
//   - hog: true runs a process that keeps one CPU busy beside the
//     generator, from a random time for a random while.
//   - history (null scenarios only): each run is that many runs of the same
//     test, recorded one after another; the score judges each from the
//     fourth on with the earlier ones as history.
//   - script: a k6 script, relative to the faults file, run instead of the
//     request plan; it gets BASE_URL and PATHS (comma-separated) in __ENV
//     and must name its requests "GET PATH". An exception fault needs one
//     that reads the bodies.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/anomaly/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "anomalyeval:", err)
		stop()
		os.Exit(1)
	}
}

const usage = "usage: anomalyeval score|record|synth [flags] (see go doc ./anomaly/cmd/anomalyeval)"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "score":
		return score(args, stdout)
	case "record":
		return record(ctx, args, stderr)
	case "synth":
		return synthTable(args, stdout)
	case "show":
		return show(args, stdout)
	case "child-target":
		return childTarget(ctx)
	case "child-generate":
		return childGenerate(ctx)
	case "child-hog":
		return childHog(ctx)
	}
	return fmt.Errorf("unknown command %q; %s", cmd, usage)
}

func score(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	dir := fs.String("corpus", "anomaly/testdata/corpus", "folder of corpus files")
	verbose := fs.Bool("v", false, "list misses and false alarms")
	asJSON := fs.Bool("json", false, "print the scores as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpora, names, err := evaluation.ReadCorpusDir(*dir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no corpus in %s: record one first", *dir)
	}
	scores := map[string]evaluation.CorpusScore{}
	for _, name := range names {
		t0 := time.Now()
		sc := evaluation.ScoreCorpus(corpora[name], anomaly.Options{})
		scores[name] = sc
		if *asJSON {
			continue
		}
		fmt.Fprintf(stdout, "== %s (%d runs, analysed in %s)\n%s", name, len(corpora[name]), time.Since(t0).Round(time.Millisecond), sc.Table())
		if *verbose {
			for _, m := range sc.Misses {
				fmt.Fprintf(stdout, "  MISS %-12s %-40s at %6s: %s\n", m.Kind, m.Run, m.At, m.Message)
			}
			for _, m := range sc.FalsePositives {
				fmt.Fprintf(stdout, "  FP   %-12s %-40s at %6s: %s\n", m.Kind, m.Run, m.At, m.Message)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(scores)
	}
	return nil
}

func record(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	faults := fs.String("faults", "anomaly/testdata/faults", "folder of faults files (*.json), or one file")
	dir := fs.String("corpus", "anomaly/testdata/corpus", "folder to write the corpus files to")
	only := fs.String("only", "", "comma-separated scenario names (or file/scenario) to re-record; others are kept")
	parallel := fs.Int("parallel", 2, "runs recorded at once")
	dry := fs.Bool("dry", false, "list the runs and their total length, record nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths := []string{*faults}
	if st, err := os.Stat(*faults); err == nil && st.IsDir() {
		paths, _ = filepath.Glob(filepath.Join(*faults, "*.json"))
		slices.Sort(paths)
	}
	var jobs []job
	var errs []error
	for _, p := range paths {
		mf, scs, err := readMatrix(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		jobs = append(jobs, expand(mf, scs)...)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rerecorded := map[string]bool{}
	if *only != "" {
		want := strings.Split(*only, ",")
		var kept []job
		for _, j := range jobs {
			sc := scenarioOf(j.specs[0].ID)
			_, name, _ := strings.Cut(sc, "/")
			if slices.Contains(want, sc) || slices.Contains(want, name) {
				kept = append(kept, j)
				rerecorded[sc] = true
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("-only %s: no such scenario", *only)
		}
		jobs = kept
	}
	var total time.Duration
	runs := 0
	for _, j := range jobs {
		for _, s := range j.specs {
			total += s.Duration
			runs++
			if *dry {
				b, _ := json.Marshal(s)
				fmt.Fprintf(log, "%s\n", b)
			}
		}
	}
	fmt.Fprintf(log, "%d runs, %s of load; about %s with %d at a time\n", runs, total, (total/time.Duration(*parallel) + time.Duration(runs)*3*time.Second/time.Duration(*parallel)).Round(time.Minute), *parallel)
	if *dry {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rc := &recorder{self: self, log: log}
	out, err := rc.record(ctx, jobs, max(1, *parallel))
	if werr := writeCorpus(*dir, out, rerecorded); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

func synthTable(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	seeds := fs.Int("seeds", 20, "runs per kind")
	asJSON := fs.Bool("json", false, "print the score as JSON")
	show := fs.String("show", "", "print each run of this kind with its labels and findings")
	short := fs.Bool("short", false, "with -show: the short runs (without: the long ones)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *show != "" {
		for _, spec := range synth.Suite(*seeds) {
			if string(spec.Kind) != *show || spec.Short != *short {
				continue
			}
			run := synth.Generate(spec)
			rep := anomaly.Analyze(run.Result, nil, anomaly.Options{})
			fmt.Fprintf(stdout, "seed %d size %g no_plan=%v duration %s schedule %s steady %d\n", spec.Seed, spec.Size, spec.NoPlan, run.Result.Duration, rep.Schedule, len(rep.Steady))
			for _, l := range run.Labels {
				fmt.Fprintf(stdout, "  label %s at %s size %g\n", l.Kind, l.At, l.Size)
			}
			for _, f := range rep.Findings {
				fmt.Fprintf(stdout, "  %-8s %-20s %6s..%-6s %s\n", f.Severity, f.Kind, f.Start.Round(time.Second), f.End.Round(time.Second), f.Message)
			}
		}
		return nil
	}
	start := time.Now()
	sc := evaluation.Run(synth.Suite(*seeds), anomaly.Options{})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sc)
	}
	fmt.Fprint(stdout, sc.Table())
	fmt.Fprintf(stdout, "(%d runs in %s)\n", sc.Runs, time.Since(start).Round(time.Millisecond))
	return nil
}

func show(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	dir := fs.String("corpus", "anomaly/testdata/corpus", "folder of corpus files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpora, names, err := evaluation.ReadCorpusDir(*dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		for _, r := range corpora[name] {
			if !slices.ContainsFunc(fs.Args(), func(p string) bool { return strings.HasPrefix(r.ID, p) }) {
				continue
			}
			fmt.Fprintf(stdout, "== %s hog=%v\n%s\n", r.ID, r.Hog, r.Spec)
			for _, l := range r.Labels {
				fmt.Fprintf(stdout, "  label %s %q at %.1fs end %.1fs size %g %s\n", l.Kind, l.Endpoint, l.Start.Seconds(), l.End.Seconds(), l.Size, l.Detail)
			}
			rep := anomaly.Analyze(r.Result, nil, anomaly.Options{})
			for _, f := range rep.Findings {
				fmt.Fprintf(stdout, "  %-8s %-22s %5.1fs..%5.1fs %v %s\n", f.Severity, f.Kind, f.Start.Seconds(), f.End.Seconds(), f.Tags, f.Message)
			}
			fmt.Fprint(stdout, evaluation.SeriesTable(r.Result))
		}
	}
	return nil
}
