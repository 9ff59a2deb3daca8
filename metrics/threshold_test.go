package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseThresholdCases is TestParseThreshold's table; it seeds
// FuzzParseThreshold too.
var parseThresholdCases = []struct {
	in    string
	agg   string
	op    Operator
	bound float64
	err   string
}{
	{in: "p(95)<500", agg: "p(95)", op: Less, bound: 500},
	{in: " p(99.9) <= 1.5 ", agg: "p(99.9)", op: LessEqual, bound: 1.5},
	{in: "avg>=3", agg: "avg", op: GreaterEqual, bound: 3},
	{in: "rate>0.9", agg: "rate", op: Greater, bound: 0.9},
	{in: "count===10", agg: "count", op: StrictEqual, bound: 10},
	{in: "count==10", agg: "count", op: Equal, bound: 10},
	{in: "value!=0", agg: "value", op: NotEqual, bound: 0},
	{in: "med<1e3", agg: "med", op: Less, bound: 1000},
	{in: "max<-1", agg: "max", op: Less, bound: -1},
	{in: "p(0)>0", agg: "p(0)", op: Greater, bound: 0},
	{in: "p(100)<9", agg: "p(100)", op: Less, bound: 9},
	{in: "p(95)", err: "no operator"},
	{in: "p(95)<", err: "no operator"},
	{in: "p(95)<=", err: `"=" after "<" is not a number`},
	{in: "p(95)<abc", err: "not a number"},
	{in: "p(95)<NaN", err: "not a number"},
	{in: "p(101)<5", err: "percentile must be a number in [0, 100]"},
	{in: "p(-1)<5", err: "percentile must be a number in [0, 100]"},
	{in: "p(NaN)<5", err: "percentile"},
	{in: "p(95<5", err: "p(N)"},
	{in: "mean<5", err: "unknown"},
	{in: "", err: "no operator"},
}

func TestParseThreshold(t *testing.T) {
	t.Parallel()
	for _, tt := range parseThresholdCases {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			th, err := ParseThreshold(tt.in)
			if tt.err != "" {
				var syn *ThresholdSyntaxError
				require.ErrorAs(t, err, &syn)
				assert.Equal(t, tt.in, syn.Expr)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.agg, th.Aggregation.String())
			assert.Equal(t, tt.op, th.Operator)
			assert.Equal(t, tt.bound, th.Bound)
			assert.Equal(t, tt.in, th.Source)
		})
	}
}

func TestOperatorHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op         Operator
		a, b       float64
		holds      bool
		holdsEqual bool // with a == b
	}{
		{LessEqual, 1, 2, true, true},
		{Less, 1, 2, true, false},
		{GreaterEqual, 1, 2, false, true},
		{Greater, 1, 2, false, false},
		{StrictEqual, 1, 2, false, true},
		{Equal, 1, 2, false, true},
		{NotEqual, 1, 2, true, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.holds, tt.op.Holds(tt.a, tt.b), "%v %s %v", tt.a, tt.op, tt.b)
		assert.Equal(t, tt.holdsEqual, tt.op.Holds(tt.a, tt.a), "%v %s %v", tt.a, tt.op, tt.a)
	}
	assert.False(t, Operator("~").Holds(1, 1))
}

func TestThresholdsJSON(t *testing.T) {
	t.Parallel()
	in := `{
		"http_req_duration": ["p(95)<500", "avg<300"],
		"http_req_duration{scenario:car}": [{"threshold": "p(99)<0.0001", "abortOnFail": true, "delayAbortEval": "10s"}],
		"checks": [{"threshold": "rate>0.9"}]
	}`
	var ths Thresholds
	require.NoError(t, json.Unmarshal([]byte(in), &ths))
	require.Len(t, ths["http_req_duration"], 2)
	car := ths["http_req_duration{scenario:car}"][0]
	assert.True(t, car.AbortOnFail)
	assert.Equal(t, 10*time.Second, car.DelayAbortEval)
	assert.False(t, ths["checks"][0].AbortOnFail)

	out, err := json.Marshal(ths)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"http_req_duration": ["p(95)<500", "avg<300"],
		"http_req_duration{scenario:car}": [{"threshold": "p(99)<0.0001", "abortOnFail": true, "delayAbortEval": "10s"}],
		"checks": ["rate>0.9"]
	}`, string(out))

	// An encoder that does not escape HTML, as k6's `--out json`, writes the
	// operators as they are, in both forms.
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(ths))
	assert.Contains(t, raw.String(), `["p(95)<500","avg<300"]`)
	assert.Contains(t, raw.String(), `{"threshold":"p(99)<0.0001","abortOnFail":true,"delayAbortEval":"10s"}`)
	assert.NotContains(t, raw.String(), `\u003c`)
}

func TestThresholdsJSONReportsEveryProblem(t *testing.T) {
	t.Parallel()
	in := `{
		"a": ["p(95)<", "avg<1", "bogus"],
		"b": "not a list",
		"c": [{"threshold": "rate<1", "abortOnFail": true, "unknown": 1}],
		"d": [{"threshold": "rate<1", "delayAbortEval": "-5s"}]
	}`
	var ths Thresholds
	err := json.Unmarshal([]byte(in), &ths)
	require.Error(t, err)
	for _, want := range []string{`thresholds["a"][0]`, `thresholds["a"][2]`, `thresholds["b"]`, `thresholds["c"][0]`, "unknown", `delayAbortEval must be >= 0`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), `thresholds["a"][1]`)
}

func TestParseThresholds(t *testing.T) {
	t.Parallel()
	ths, err := ParseThresholds(map[string][]string{"checks": {"rate>0.9"}})
	require.NoError(t, err)
	assert.Equal(t, "rate>0.9", ths["checks"][0].String())
	_, err = ParseThresholds(map[string][]string{"a": {"x", "y"}, "b": {"z"}})
	require.Error(t, err)
	for _, want := range []string{`["a"][0]`, `["a"][1]`, `["b"][0]`} {
		assert.Contains(t, err.Error(), want)
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, tt := range parseThresholdCases {
		f.Add(tt.in)
	}
	for _, s := range []string{"p(1e2)<1", "count<0x10", "max>-Inf", "p(95)<+Inf", "p(99.99999)<1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		back, err := ParseThreshold(th.String())
		require.NoError(t, err, "String() = %q", th.String())
		require.Equal(t, th.Aggregation, back.Aggregation)
		require.Equal(t, th.Operator, back.Operator)
		require.True(t, th.Bound == back.Bound || math.IsNaN(th.Bound) && math.IsNaN(back.Bound))
	})
}
