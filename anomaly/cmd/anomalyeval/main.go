// Command anomalyeval scores the anomaly detectors on the labelled
// synthetic suite of package synth and prints per-kind precision, recall,
// F1, detection delay, false alarms per null run and the knee error.
//
// Usage:
//
//	go run ./anomaly/cmd/anomalyeval [-seeds 20] [-json]
//	go run ./anomaly/cmd/anomalyeval -show knee [-short]   # each run's labels and findings
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/anomaly/synth"
)

func main() {
	seeds := flag.Int("seeds", 20, "runs per kind")
	asJSON := flag.Bool("json", false, "print the score as JSON")
	show := flag.String("show", "", "print each run of this kind with its labels and findings")
	short := flag.Bool("short", false, "with -show: the short runs (without: the long ones)")
	flag.Parse()
	if *show != "" {
		for _, spec := range synth.Suite(*seeds) {
			if string(spec.Kind) != *show || spec.Short != *short {
				continue
			}
			run := synth.Generate(spec)
			rep := anomaly.Analyze(run.Result, nil, anomaly.Options{})
			fmt.Printf("seed %d size %g no_plan=%v duration %s schedule %s steady %d\n", spec.Seed, spec.Size, spec.NoPlan, run.Result.Duration, rep.Schedule, len(rep.Steady))
			for _, l := range run.Labels {
				fmt.Printf("  label %s at %s size %g\n", l.Kind, l.At, l.Size)
			}
			for _, f := range rep.Findings {
				fmt.Printf("  %-8s %-20s %6s..%-6s %s\n", f.Severity, f.Kind, f.Start.Round(time.Second), f.End.Round(time.Second), f.Message)
			}
		}
		return
	}
	start := time.Now()
	sc := evaluation.Run(synth.Suite(*seeds), anomaly.Options{})
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sc); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	fmt.Print(sc.Table())
	fmt.Printf("(%d runs in %s)\n", sc.Runs, time.Since(start).Round(time.Millisecond))
}
