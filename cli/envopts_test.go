package cli

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

func fakeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// The K6_* environment sits above the test file's options and below the
// flags, as in k6.
func TestEnvLayerPrecedence(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "test.json", testFile("http://127.0.0.1:1", ""))
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags []string
		want  scenarios.Config
	}{
		{"file alone", nil, nil, scenarios.SharedIterations{VUs: 2, Iterations: 10}},
		{"env over the file", map[string]string{"K6_VUS": "3", "K6_ITERATIONS": "30"}, nil,
			scenarios.SharedIterations{VUs: 3, Iterations: 30}},
		{"flags over env", map[string]string{"K6_VUS": "3", "K6_ITERATIONS": "30"}, []string{"-u", "4"},
			scenarios.SharedIterations{VUs: 4, Iterations: 30}},
		{"env stages", map[string]string{"K6_STAGES": "1s:5,2s:0"}, nil,
			scenarios.RampingVUs{StartVUs: ptr(int64(2)), Stages: []scenarios.Stage{{Duration: time.Second, Target: 5}, {Duration: 2 * time.Second, Target: 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &app{stdout: io.Discard, stderr: io.Discard, getenv: fakeEnv(tc.env)}
			f := newRunFlags("run")
			require.NoError(t, f.fs.Parse(tc.flags))
			plan, _, err := a.loadPlan(t.Context(), path, f)
			require.NoError(t, err)
			require.Len(t, plan.Scenarios, 1)
			assert.Equal(t, tc.want, plan.Scenarios["default"])
		})
	}
}

func TestEnvLayerOptions(t *testing.T) {
	t.Parallel()
	o, err := envLayer(fakeEnv(map[string]string{
		"K6_TAGS": "env=ci, team=a", "K6_SUMMARY_TREND_STATS": "avg, p(99)", "K6_NO_COOKIES_RESET": "true",
		"K6_USER_AGENT": "ci-bot", "K6_SETUP_TIMEOUT": "5s", "K6_MAX_REDIRECTS": "0",
	}))
	require.NoError(t, err)
	assert.Equal(t, loadtest.Options{Tags: map[string]string{"env": "ci", "team": "a"}, SummaryTrendStats: []string{"avg", "p(99)"},
		NoCookiesReset: true, UserAgent: new("ci-bot"), SetupTimeout: 5 * time.Second, MaxRedirects: ptr(0)}, o.Options)
}

// Every bad variable is named at once.
func TestEnvLayerErrors(t *testing.T) {
	t.Parallel()
	_, err := envLayer(fakeEnv(map[string]string{
		"K6_VUS": "many", "K6_NO_SETUP": "maybe", "K6_STAGES": "1s:5,soon", "K6_TAGS": "novalue", "K6_DURATION": "later",
	}))
	require.ErrorIs(t, err, loadtest.ErrInvalidPlan)
	for _, want := range []string{`K6_VUS="many": want an integer`, `K6_NO_SETUP="maybe": want true or false`,
		`K6_STAGES: stage "soon"`, `K6_TAGS "novalue": want KEY=VALUE`, `K6_DURATION="later": options.duration`} {
		assert.ErrorContains(t, err, want)
	}
}

func ptr[T any](v T) *T { return &v }
