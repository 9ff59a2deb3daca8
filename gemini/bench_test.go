package gemini_test

import (
	"testing"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/gemini"
)

// BenchmarkBuildEvidence builds the pack of a 40-minute run (2 400 points
// per series); the analysis itself waits seconds on the model, so this
// only needs to stay far below that.
func BenchmarkBuildEvidence(b *testing.B) {
	run := synth.Generate(synth.Spec{Kind: synth.Leak, Seed: 1, Size: 5 << 20, Duration: 40 * time.Minute})
	rep := anomaly.Analyze(run.Result, nil, anomaly.Options{})
	b.ReportAllocs()
	for b.Loop() {
		gemini.BuildEvidence(run.Result, rep, &run.Result, gemini.Budget{})
	}
}

// BenchmarkGround checks a three-claim answer against a labelled pack.
func BenchmarkGround(b *testing.B) {
	l := labelledRuns(b)[1]
	ev := gemini.BuildEvidence(l.res, l.rep, l.baseline, gemini.Budget{})
	f := findingOf(l.rep, l.cause)
	a := anomaly.AIAnalysis{Available: true, Summary: "p95 rose 49 % at 7m5s, from 99 ms to 146 ms.",
		RootCauses: []anomaly.Hypothesis{{Title: "Slower target", Explanation: "p95 went from 98.51 ms to 146.3 ms at 106 VUs.",
			Supporting: []string{f.ID, "ts:" + f.ID + ":vus"}, Confidence: anomaly.ConfidenceHigh}},
		Insights: []anomaly.Insight{{Text: "The run made 173800 requests at 271.5 req/s.", Evidence: []string{"run"}}}}
	b.ReportAllocs()
	for b.Loop() {
		gemini.Ground(a, ev)
	}
}
