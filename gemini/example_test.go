package gemini_test

import (
	"context"
	"fmt"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/gemini"
	"github.com/loadlens/loadlens/gemini/geminitest"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Without a key, every analysis is unavailable, and says why; the run and
// its report are unaffected.
func Example() {
	an, err := gemini.New(context.Background(), gemini.Config{})
	if err != nil {
		panic(err)
	}
	ai := an.Analyze(context.Background(), loadtest.Result{}, anomaly.Report{}, nil)
	fmt.Println(ai.Available)
	fmt.Println(ai.Summary)
	// Output:
	// false
	// AI analysis unavailable: no API key
}

func ExampleConfigFromEnv() {
	env := map[string]string{"GEMINI_API_KEY": "AIza-example", "GEMINI_TIMEOUT": "90s"}
	cfg := gemini.ConfigFromEnv(func(k string) string { return env[k] })
	fmt.Println(cfg.APIKey != "", cfg.Timeout, cfg.Vertex.Project == "")

	env = map[string]string{"GOOGLE_CLOUD_PROJECT": "my-project", "VERTEX_AI_LOCATION": "europe-west4"}
	cfg = gemini.ConfigFromEnv(func(k string) string { return env[k] })
	fmt.Println(cfg.Vertex.Project, cfg.Vertex.Location)
	// Output:
	// true 1m30s true
	// my-project europe-west4
}

func ExampleBuildEvidence() {
	th, _ := metrics.ParseThreshold("p(95)<500")
	res := loadtest.Result{
		Status:     loadtest.StatusThresholdsFailed,
		Duration:   time.Minute,
		Metrics:    map[string]loadtest.MetricSummary{"http_req_duration": {Values: map[string]float64{"p(95)": 612.5}}},
		Thresholds: []metrics.Verdict{{Metric: "http_req_duration", Threshold: th, Status: metrics.Failed, Observed: 612.5}},
		Endpoints: []loadtest.EndpointStats{{Name: "GET /api/products", Method: "GET", Requests: 1200,
			Duration: map[string]float64{"p(95)": 612.5}}},
		Generator: loadtest.GeneratorHealth{CPUs: 2, CPUAvg: 35, CPUMax: 52},
	}
	ev := gemini.BuildEvidence(res, anomaly.Analyze(res, nil, anomaly.Options{}), nil, gemini.Budget{})
	for _, it := range ev.Items {
		fmt.Println(it.Kind, it.ID)
	}
	// Output:
	// test test
	// run run
	// threshold thr:http_req_duration:p(95)<500
	// finding threshold_failed-cd4266d2
	// generator gen:cpu
	// endpoint ep:GET /api/products
}

// An analysis against the fake server: the claim citing evidence that
// does not exist is dropped, the faithful one is kept.
func ExampleAnalyzer_Analyze() {
	run := synth.Generate(synth.Spec{Kind: synth.GeneratorSaturation, Seed: 1})
	rep := anomaly.Analyze(run.Result, nil, anomaly.Options{})
	gen := rep.Findings[0]

	srv := geminitest.NewServer(geminitest.Options{Key: "test-key"})
	defer srv.Close()
	srv.Enqueue(geminitest.Reply{Answer: map[string]any{
		"summary":    "The load generator, not the target, was the bottleneck for two minutes.",
		"conclusion": "conclusive",
		"root_causes": []any{
			map[string]any{"title": "Saturated load generator", "confidence": "high",
				"explanation":         "Its CPU averaged 94.51 % for 123 s.",
				"supporting_evidence": []string{gen.ID, "gen:cpu"}},
			map[string]any{"title": "Slow database", "confidence": "medium",
				"explanation": "Queries were slow.", "supporting_evidence": []string{"db:queries"}},
		},
		"risk": map[string]any{"level": "low", "reason": "The target was not at fault."},
	}})
	an, err := gemini.New(context.Background(), gemini.Config{APIKey: "test-key", BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	ai := an.Analyze(context.Background(), run.Result, rep, nil)
	fmt.Println(ai.Available, ai.Model, ai.PromptVersion, ai.Conclusive)
	for _, h := range ai.RootCauses {
		fmt.Println(h.Confidence, h.Title, h.Supporting)
	}
	for _, n := range ai.Grounding {
		fmt.Println(n.Kind, n.Claim+":", n.Detail)
	}
	// Output:
	// true gemini-2.5-flash loadlens-analysis/1 true
	// high Saturated load generator [generator_cpu-f6e1d653 gen:cpu]
	// dropped_claim Slow database: cites evidence that does not exist: "db:queries"
}
