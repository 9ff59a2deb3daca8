package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/gemini"
	"github.com/loadlens/loadlens/gemini/geminitest"
)

var update = flag.Bool("update", false, "rewrite the golden evidence packs in testdata/packs")

// names reports whether an analysis names the labelled root cause: its
// first root cause cites the cause's finding (or, for a saturated
// generator, gen:cpu) and uses one of the label's words.
func names(l labelled, a anomaly.AIAnalysis) bool {
	if !a.Available || len(a.RootCauses) == 0 {
		return false
	}
	top := a.RootCauses[0]
	id := findingOf(l.rep, l.cause).ID
	cites := slices.Contains(top.Supporting, id) || (l.cause == anomaly.KindGeneratorCPU && slices.Contains(top.Supporting, "gen:cpu"))
	text := strings.ToLower(top.Title + " " + top.Explanation)
	return cites && slices.ContainsFunc(l.keywords, func(k string) bool { return strings.Contains(text, k) })
}

// TestLabelledPacks keeps the labelled evidence packs under review
// (golden files) and checks that each carries the evidence that decides
// its root cause, and that a faithful answer passes the grounding check
// while a wrong one does not name the cause.
func TestLabelledPacks(t *testing.T) {
	t.Parallel()
	for _, l := range labelledRuns(t) {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			ev := gemini.BuildEvidence(l.res, l.rep, l.baseline, gemini.Budget{})
			var buf bytes.Buffer
			require.NoError(t, json.Indent(&buf, ev.JSON(), "", "  "))
			buf.WriteByte('\n')
			golden := filepath.Join("testdata", "packs", l.name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./gemini -run TestLabelledPacks -update")
			assert.Equal(t, string(want), buf.String(), "evidence pack changed: review the diff, then -update")
			t.Logf("%s: %d items, %d chars, ≈ %d tokens", l.name, len(ev.Items), len(ev.JSON()), ev.Estimate())
			assert.LessOrEqual(t, ev.Estimate(), gemini.DefaultMaxTokens)
			assert.Empty(t, ev.Omitted)

			// The decisive evidence is in the pack.
			f := findingOf(l.rep, l.cause)
			_, ok := ev.Find(f.ID)
			require.True(t, ok)
			ts, ok := ev.Find("ts:" + f.ID + ":" + f.Metric)
			require.True(t, ok, "time buckets of the cause's own series")
			switch l.cause {
			case anomaly.KindGeneratorCPU:
				gen, _ := ev.Find("gen:cpu")
				assert.Greater(t, gen.Values["seconds_at_or_above_85_pct"], 60.0)
				assert.Greater(t, ts.Values["during"], 85.0)
			case anomaly.KindLatencyShift:
				base, ok := ev.Find("base:http_req_duration.p95")
				require.True(t, ok)
				assert.InDelta(t, 30, base.Values["change_pct"], 1)
				vus, _ := ev.Find("ts:" + f.ID + ":vus")
				assert.Equal(t, vus.Values["before"], vus.Values["during"], "the load was steady")
				assert.Greater(t, ts.Values["during"], ts.Values["before"])
			case anomaly.KindErrorBurst:
				assert.Greater(t, ts.Values["during"], 5*ts.Values["before"])
			}

			// Against the fake: the faithful answer names the cause and
			// passes the grounding check untouched…
			e := newEnv(t, nil)
			e.srv.Enqueue(geminitest.Reply{Answer: goodAnswer(ev, l)})
			a := e.an.Analyze(context.Background(), l.res, l.rep, l.baseline)
			assert.True(t, names(l, a), "%+v", a)
			assert.Empty(t, a.Grounding)

			// …a wrong one does not, and its invented number is flagged.
			wrong := goodAnswer(ev, l)
			wrong["root_causes"] = []any{map[string]any{"title": "Network congestion",
				"explanation": "Packets were lost at 37.5 % between the hosts.", "supporting_evidence": []string{"run"},
				"confidence": "high"}}
			e = newEnv(t, func(c *gemini.Config) { c.Cache = gemini.NoCache{} })
			e.srv.Enqueue(geminitest.Reply{Answer: wrong})
			b := e.an.Analyze(context.Background(), l.res, l.rep, l.baseline)
			assert.False(t, names(l, b))
			require.Len(t, b.Grounding, 1)
			assert.Equal(t, gemini.NoteNumberMismatch, b.Grounding[0].Kind)
		})
	}
}

// TestLabelledRealAPI asks the real Gemini API to explain the labelled
// runs, and checks that it names the right root cause. It runs only when
// GEMINI_API_KEY is set (it costs a few thousand tokens per run).
func TestLabelledRealAPI(t *testing.T) {
	if os.Getenv("GEMINI_API_KEY") == "" {
		t.Skip("GEMINI_API_KEY is not set: the real-API check is skipped")
	}
	cfg := gemini.ConfigFromEnv(os.Getenv)
	cfg.Cache = gemini.NoCache{}
	cfg.Timeout = 3 * time.Minute
	an, err := gemini.New(context.Background(), cfg)
	require.NoError(t, err)
	for _, l := range labelledRuns(t) {
		t.Run(l.name, func(t *testing.T) {
			a := an.Analyze(context.Background(), l.res, l.rep, l.baseline)
			require.True(t, a.Available, a.Unavailable)
			js, _ := json.MarshalIndent(a, "", "  ")
			t.Logf("%s", js)
			assert.True(t, names(l, a), "the model missed the root cause %s", l.cause)
			for _, n := range a.Grounding {
				assert.NotEqual(t, gemini.NoteDroppedClaim, n.Kind, "%+v", n)
			}
		})
	}
}
