package gemini_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/anomaly/synth"
	"github.com/loadlens/loadlens/gemini"
	"github.com/loadlens/loadlens/gemini/geminitest"
	"github.com/loadlens/loadlens/loadtest"
)

// testKey is the API key of every test: it must never show up in a log
// line, an error or an analysis.
const testKey = "AIza-secret-test-key"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a fake server and an Analyzer talking to it, logging at debug
// level into logs.
type env struct {
	srv  *geminitest.Server
	an   *gemini.Analyzer
	logs *syncBuffer
}

// newEnv starts a fake and an Analyzer; edit adjusts the Config.
func newEnv(t *testing.T, edit func(*gemini.Config)) *env {
	t.Helper()
	srv := geminitest.NewServer(geminitest.Options{Key: testKey})
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	cfg := gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(),
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxRetryDelay: 50 * time.Millisecond, Timeout: 10 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	an, err := gemini.New(context.Background(), cfg)
	require.NoError(t, err)
	return &env{srv: srv, an: an, logs: logs}
}

// requireNoKey fails when the key shows up in the logs or the analysis.
func requireNoKey(t *testing.T, e *env, a anomaly.AIAnalysis) {
	t.Helper()
	require.NotContains(t, e.logs.String(), testKey)
	require.NotContains(t, e.logs.String(), strings.TrimPrefix(testKey, "AIza-"))
	js, err := jsonMarshal(a)
	require.NoError(t, err)
	require.NotContains(t, js, testKey)
}

// labelled is a run with a known root cause.
type labelled struct {
	name     string
	res      loadtest.Result
	baseline *loadtest.Result
	rep      anomaly.Report
	// cause is the finding kind that names the root cause; keywords are
	// words a correct hypothesis uses (any of them).
	cause    anomaly.Kind
	keywords []string
}

// labelledRuns returns the labelled set: generator saturation, a slow
// target (latency step, with a faster baseline run), an error burst. The
// runs are built once and shared read-only by the tests.
func labelledRuns(t testing.TB) []labelled {
	t.Helper()
	runs := labelledSet()
	for _, l := range runs {
		require.True(t, hasKind(l.rep, l.cause), "%s: anomaly found %v", l.name, kinds(l.rep))
	}
	return runs
}

var labelledSet = sync.OnceValue(func() []labelled {
	gen := synth.Generate(synth.Spec{Kind: synth.GeneratorSaturation, Seed: 1})
	slow := synth.Generate(synth.Spec{Kind: synth.LatencyStep, Seed: 3, Size: 0.5})
	burst := synth.Generate(synth.Spec{Kind: synth.ErrorBurst, Seed: 2, Size: 0.12})

	// The slow target's baseline: the same run before the step, as
	// previous releases measured it.
	base := slow.Result
	base.Name = slow.Result.Name
	base.Start = slow.Result.Start.Add(-24 * time.Hour)
	base.Metrics = map[string]loadtest.MetricSummary{}
	for k, m := range slow.Result.Metrics {
		vals := map[string]float64{}
		for a, v := range m.Values {
			if k == "http_req_duration" {
				v /= 1.3
			}
			vals[a] = v
		}
		m.Values = vals
		base.Metrics[k] = m
	}
	out := []labelled{
		{name: "generator_saturation", res: gen.Result, cause: anomaly.KindGeneratorCPU,
			keywords: []string{"generator", "load generator", "client"}},
		{name: "slow_target", res: slow.Result, baseline: &base, cause: anomaly.KindLatencyShift,
			keywords: []string{"target", "server", "service", "latency"}},
		{name: "error_burst", res: burst.Result, cause: anomaly.KindErrorBurst,
			keywords: []string{"error", "fail"}},
	}
	for i := range out {
		out[i].rep = anomaly.Analyze(out[i].res, nil, anomaly.Options{})
	}
	return out
})

func hasKind(rep anomaly.Report, k anomaly.Kind) bool {
	for _, f := range rep.Findings {
		if f.Kind == k {
			return true
		}
	}
	return false
}

func kinds(rep anomaly.Report) []anomaly.Kind {
	var out []anomaly.Kind
	for _, f := range rep.Findings {
		out = append(out, f.Kind)
	}
	return out
}

// findingOf returns the first finding of kind k.
func findingOf(rep anomaly.Report, k anomaly.Kind) anomaly.Finding {
	for _, f := range rep.Findings {
		if f.Kind == k {
			return f
		}
	}
	return anomaly.Finding{}
}

// goodAnswer is what a careful model answers for a labelled run: the right
// cause, citing real IDs and quoting their numbers.
func goodAnswer(ev gemini.Evidence, l labelled) map[string]any {
	f := findingOf(l.rep, l.cause)
	it, _ := ev.Find(f.ID)
	var expl string
	switch l.cause {
	case anomaly.KindGeneratorCPU:
		expl = "The load generator's CPU averaged " + fmtNum(it.Values["observed_pct"]) + " % for " +
			fmtNum(it.Values["seconds"]) + " s; latency of that time measures the generator."
	case anomaly.KindLatencyShift:
		expl = "p95 latency stepped from " + fmtNum(it.Values["baseline_ms"]) + " ms to " +
			fmtNum(it.Values["observed_ms"]) + " ms at steady load: the target server got slower."
	case anomaly.KindErrorBurst:
		expl = "Errors rose to " + fmtNum(100*it.Values["observed"]) + " % of requests for a while (" +
			fmtNum(it.Values["failed"]) + " failed requests)."
	}
	return map[string]any{
		"summary":    "The run's main problem: " + string(l.cause) + ".",
		"conclusion": "conclusive",
		"root_causes": []any{map[string]any{
			"title": l.keywords[0] + " problem", "explanation": expl,
			"supporting_evidence": []string{f.ID}, "contradicting_evidence": []string{}, "confidence": "high",
		}},
		"insights": []any{map[string]any{"text": "The run lasted " + fmtNum(runValue(ev, "duration_s")) + " s.",
			"evidence": []string{"run"}}},
		"recommendations": []any{map[string]any{"priority": 1, "action": "Investigate " + l.keywords[0] + ".",
			"rationale": "It explains the finding.", "evidence": []string{f.ID}}},
		"risk":        map[string]any{"level": "medium", "reason": "One finding."},
		"limitations": []string{},
	}
}

func runValue(ev gemini.Evidence, name string) float64 {
	it, _ := ev.Find("run")
	return it.Values[name]
}
