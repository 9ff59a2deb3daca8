package gemini

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
)

var numberCases = []struct {
	text string
	want []float64 // values found, in order
}{
	{"p95 rose from 120 ms to 250 ms", []float64{120, 250}},
	{"p(99) was 1.2 s", []float64{1.2}},
	{"3 endpoints, 2 of them failing", nil},
	{"5xx errors on 2nd try", nil},
	{"error rate 0.5 % (111 of 5977)", []float64{0.5, 111, 5977}},
	{"12,000 requests at 100 req/s", []float64{12000, 100}},
	{"for 2m3s from 13:04:10 on 2026-01-01", []float64{123}},
	{"1h5m of load", []float64{3900}},
	{"CPU at 95% for 30s", []float64{95, 30}},
	{"an HTTP/2 server with 8 cores, v1.2.3", nil},
	{"memory grew 512 MiB, to 1.5 GB", []float64{512, 1.5}},
	{"status_503 and http_req_duration.p95", nil},
	{"-20 % change, 3x slower", []float64{20, 3}},
	{"", nil},
}

func TestExtractNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range numberCases {
		var got []float64
		for _, n := range extractNumbers(tc.text) {
			got = append(got, n.v)
		}
		assert.Equal(t, tc.want, got, tc.text)
	}
	ns := extractNumbers("took 1.25 s and 40 ms")
	require.Len(t, ns, 2)
	assert.Equal(t, number{text: "1.25 s", v: 1.25, unit: "s", half: 0.005}, ns[0])
	assert.Equal(t, "ms", ns[1].unit)
}

func FuzzExtractNumbers(f *testing.F) {
	for _, tc := range numberCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range extractNumbers(s) {
			// Properties: finite, non-negative, and its text is read back
			// as the same number.
			require.False(t, math.IsNaN(n.v) || math.IsInf(n.v, 0), "%q", s)
			require.GreaterOrEqual(t, n.v, 0.0)
			back := extractNumbers(" " + n.text + " ")
			require.NotEmpty(t, back, "%q from %q", n.text, s)
			require.InDelta(t, n.v, back[0].v, 1e-9*math.Max(1, n.v), "%q from %q", n.text, s)
		}
	})
}

func analysisFor(causes ...anomaly.Hypothesis) anomaly.AIAnalysis {
	return anomaly.AIAnalysis{Available: true, Summary: "A summary.", Conclusive: true, RootCauses: causes}
}

func TestGround(t *testing.T) {
	t.Parallel()
	ev := BuildEvidence(resultForTest(), reportForTest(), nil, Budget{})
	const shift = "latency_shift-0badc0de"
	const thr = "thr:http_req_duration:p(95)<200"
	for _, tc := range []struct {
		name    string
		in      anomaly.AIAnalysis
		kept    int
		notes   []string // kinds, in order
		details []string // substrings of the notes' details, in order
	}{
		{name: "faithful", in: analysisFor(anomaly.Hypothesis{Title: "Target slowed down",
			Explanation: "p95 doubled from 120 ms to 250 ms (+108 %) at 60 s while VUs stayed at 20; p95 over the run was 245.5 ms.",
			Supporting:  []string{shift, "ts:" + shift + ":vus"}, Confidence: "high"}), kept: 1},
		{name: "unit conversion", in: analysisFor(anomaly.Hypothesis{Title: "Slow",
			Explanation: "p95 went from 0.12 s to 0.25 s; 3 % of requests failed; the generator peaked at 80 MiB.",
			Supporting:  []string{shift, "gen:mem"}, Confidence: "high"}), kept: 1},
		{name: "unknown ID", in: analysisFor(anomaly.Hypothesis{Title: "DB pool", Explanation: "x",
			Supporting: []string{shift, "db:pool"}, Confidence: "high"}), kept: 0,
			notes: []string{NoteDroppedClaim}, details: []string{`"db:pool"`}},
		{name: "unknown contradicting ID", in: analysisFor(anomaly.Hypothesis{Title: "T", Explanation: "x",
			Supporting: []string{shift}, Contradicting: []string{"gen:gpu"}, Confidence: "low"}), kept: 0,
			notes: []string{NoteDroppedClaim}, details: []string{`"gen:gpu"`}},
		{name: "no evidence", in: analysisFor(anomaly.Hypothesis{Title: "Vibes", Explanation: "x", Confidence: "low"}),
			notes: []string{NoteDroppedClaim}, details: []string{"must cite"}},
		{name: "wrong number", in: analysisFor(anomaly.Hypothesis{Title: "Slow",
			Explanation: "p95 rose to 480 ms.", Supporting: []string{shift}, Confidence: "high"}), kept: 1,
			notes: []string{NoteNumberMismatch}, details: []string{`"480 ms"`}},
		{name: "number of an uncited item", in: analysisFor(anomaly.Hypothesis{Title: "Slow",
			Explanation: "the cart endpoint's p95 was 290 ms.", Supporting: []string{shift}, Confidence: "high"}), kept: 1,
			notes: []string{NoteNumberMismatch}, details: []string{`"290 ms"`}},
		{name: "threshold verdict contradicted", in: analysisFor(anomaly.Hypothesis{Title: "Fine",
			Explanation: "The p(95)<200 threshold passed comfortably.", Supporting: []string{thr}, Confidence: "high"}), kept: 0,
			notes: []string{NoteVerdictContradiction}, details: []string{"engine's verdict"}},
		{name: "threshold verdict repeated", in: analysisFor(anomaly.Hypothesis{Title: "Slow",
			Explanation: "The p(95)<200 threshold failed at 245.5 ms.", Supporting: []string{thr}, Confidence: "high"}), kept: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Ground(tc.in, ev)
			assert.Len(t, got.RootCauses, tc.kept)
			var kinds, details []string
			for _, n := range got.Grounding {
				kinds = append(kinds, n.Kind)
				details = append(details, n.Detail)
			}
			assert.Equal(t, tc.notes, kinds, "%+v", got.Grounding)
			for i, d := range tc.details {
				if i < len(details) {
					assert.Contains(t, details[i], d)
				}
			}
			if tc.kept == 0 {
				assert.False(t, got.Conclusive, "no root cause left: inconclusive")
				assert.NotEmpty(t, got.Limitations)
			}
			// Ground does not modify its argument.
			assert.Len(t, tc.in.RootCauses, 1)
		})
	}
}

func TestGroundInsightsAndRecommendations(t *testing.T) {
	t.Parallel()
	ev := BuildEvidence(resultForTest(), reportForTest(), nil, Budget{})
	in := anomaly.AIAnalysis{Available: true, Summary: "The run made 12,000 requests at 100 req/s and 6543 bogus ones.",
		Insights: []anomaly.Insight{
			{Text: "POST cart failed 260 times with error 1211.", Evidence: []string{"ep:POST https://shop.example.test/api/cart?session=[REDACTED]"}},
			{Text: "Bogus.", Evidence: []string{"ep:GET /nope"}},
			{Text: "Checks passed 97 % of the time."},
		},
		Recommendations: []anomaly.Recommendation{
			{Priority: 1, Action: "Profile the products handler", Rationale: "its p95 is 230 ms", Evidence: []string{"ep:GET /api/products"}},
			{Priority: 2, Action: "Ignore", Evidence: []string{"nope"}},
		}}
	got := Ground(in, ev)
	assert.Len(t, got.Insights, 2)
	assert.Len(t, got.Recommendations, 1)
	var details []string
	for _, n := range got.Grounding {
		details = append(details, n.Kind+": "+n.Detail)
	}
	joined := strings.Join(details, "\n")
	assert.Contains(t, joined, `dropped_claim: cites evidence that does not exist: "ep:GET /nope"`)
	assert.Contains(t, joined, `dropped_claim: cites evidence that does not exist: "nope"`)
	assert.Contains(t, joined, `number_mismatch: "6543" matches no number of any evidence item`)
	assert.Len(t, got.Grounding, 3, joined)
}

var answerCases = []struct {
	name string
	in   string
	err  error
}{
	{"plain", okAnswer, nil},
	{"fenced", "```json\n" + okAnswer + "\n```", nil},
	{"empty", "  ", errEmpty},
	{"empty object", "{}", errEmpty},
	{"truncated", okAnswer[:40], errMalformed},
	{"trailing", okAnswer + " {}", errMalformed},
	{"prose", "The run is fine.", errMalformed},
	{"wrong type", `{"summary": 3}`, errMalformed},
}

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range answerCases {
		_, err := parseAnswer(tc.in)
		assert.ErrorIs(t, err, tc.err, tc.name)
	}
	a, err := parseAnswer(`{"summary":"s","conclusion":"Conclusive","root_causes":[{"title":"t","explanation":"e",
		"supporting_evidence":[" run ","run",""],"confidence":"VERY HIGH"}],
		"recommendations":[{"priority":0,"action":"later"},{"priority":2,"action":"second"},{"priority":1,"action":"first"}],
		"risk":{"level":"HIGH","reason":"r"}}`)
	require.NoError(t, err)
	assert.Equal(t, conclusionConclusive, a.Conclusion)
	assert.Equal(t, anomaly.ConfidenceLow, a.RootCauses[0].Confidence, "unknown confidence is low")
	assert.Equal(t, []string{"run"}, a.RootCauses[0].Supporting)
	assert.Equal(t, []string{"first", "second", "later"}, []string{a.Recommendations[0].Action, a.Recommendations[1].Action, a.Recommendations[2].Action})
	assert.Equal(t, "high", a.Risk.Level)
	a, err = parseAnswer(`{"summary":"s","conclusion":"maybe","risk":{"level":"apocalyptic"}}`)
	require.NoError(t, err)
	assert.Equal(t, conclusionInconclusive, a.Conclusion)
	assert.Empty(t, a.Risk.Level)
}

func FuzzParseAnswer(f *testing.F) {
	for _, tc := range answerCases {
		f.Add(tc.in)
	}
	ev := BuildEvidence(resultForTest(), reportForTest(), nil, Budget{})
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAnswer(s)
		if err != nil {
			return
		}
		// Properties: enums are normalised, and grounding never panics
		// and never keeps a claim citing an unknown ID.
		require.Contains(t, []string{conclusionConclusive, conclusionInconclusive}, a.Conclusion)
		g := Ground(anomaly.AIAnalysis{Available: true, Summary: a.Summary, RootCauses: a.RootCauses,
			Insights: a.Insights, Recommendations: a.Recommendations}, ev)
		for _, h := range g.RootCauses {
			require.NotEmpty(t, h.Supporting)
			for _, id := range append(h.Supporting, h.Contradicting...) {
				_, ok := ev.Find(id)
				require.True(t, ok, id)
			}
		}
	})
}
