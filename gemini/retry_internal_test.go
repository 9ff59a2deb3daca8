package gemini

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/gemini/geminitest"
)

var protoDurationCases = []struct {
	in   any
	want time.Duration
	ok   bool
}{
	{"37s", 37 * time.Second, true},
	{"0.5s", 500 * time.Millisecond, true},
	{"1.000340s", time.Second + 340*time.Microsecond, true},
	{" 2s ", 2 * time.Second, true},
	{"0s", 0, true},
	{"5", 0, false},
	{"-1s", 0, false},
	{"abcs", 0, false},
	{"1e99s", 0, false},
	{map[string]any{"seconds": "3", "nanos": 5e8}, 3500 * time.Millisecond, true},
	{map[string]any{"seconds": 4.0}, 4 * time.Second, true},
	{42.0, 0, false},
}

func TestParseProtoDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range protoDurationCases {
		got, ok := parseProtoDuration(tc.in)
		assert.Equal(t, tc.ok, ok, "%v", tc.in)
		assert.Equal(t, tc.want, got, "%v", tc.in)
	}
}

func FuzzParseProtoDuration(f *testing.F) {
	for _, tc := range protoDurationCases {
		if s, ok := tc.in.(string); ok {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseProtoDuration(s)
		if !ok {
			return
		}
		// Property: a parsed delay is never negative, and its own
		// formatting parses back to it.
		require.GreaterOrEqual(t, d, time.Duration(0))
		back, ok := parseProtoDuration(formatSeconds(d))
		require.True(t, ok)
		require.InDelta(t, float64(d), float64(back), float64(time.Microsecond)+float64(d)*1e-12)
	})
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	retryInfo := []map[string]any{{"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
		{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
		delay time.Duration
	}{
		{"429 with RetryInfo", genai.APIError{Code: 429, Details: retryInfo}, true, 12 * time.Second},
		{"429 without", genai.APIError{Code: 429}, true, 0},
		{"408", genai.APIError{Code: 408}, true, 0},
		{"500", genai.APIError{Code: 500}, true, 0},
		{"503 wrapped", errors.Join(errors.New("x"), genai.APIError{Code: 503}), true, 0},
		{"400", genai.APIError{Code: 400}, false, 0},
		{"403", genai.APIError{Code: 403}, false, 0},
		{"deadline", context.DeadlineExceeded, false, 0},
		{"cancelled", context.Canceled, false, 0},
		{"ours", unavailable("blocked prompt: SAFETY"), false, 0},
		{"connection reset", errors.New("doRequest: error sending request: read: connection reset by peer"), true, 0},
		{"bad body", errors.New("deserializeUnaryResponse: error unmarshalling response"), false, 0},
	} {
		retry, delay := retryable(tc.err)
		assert.Equal(t, tc.retry, retry, tc.name)
		assert.Equal(t, tc.delay, delay, tc.name)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	limit := 30 * time.Second
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: limit, 80: limit} {
		assert.InDelta(t, float64(want), float64(backoff(attempt, limit, 0.9999999999)), float64(time.Microsecond), "attempt %d hi", attempt)
		assert.Equal(t, want/2, backoff(attempt, limit, 0), "attempt %d lo", attempt)
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, wait(context.Background(), 7*time.Second))
		assert.Equal(t, 7*time.Second, time.Since(start))

		ctx, cancel := context.WithTimeoutCause(context.Background(), time.Second, errTimeout)
		defer cancel()
		start = time.Now()
		require.ErrorIs(t, wait(ctx, time.Minute), errTimeout)
		assert.Equal(t, time.Second, time.Since(start))
	})
}

// TestRetryDelays checks which waits the retry loop asks for: the
// server's RetryInfo delay when there is one, else the jittered backoff.
func TestRetryDelays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		replies []geminitest.Reply
		want    []time.Duration
		ok      bool
	}{
		{"RetryInfo honoured", []geminitest.Reply{{Status: 429, RetryDelay: 7 * time.Second},
			{Status: 429, RetryDelay: 1500 * time.Millisecond}, {Text: okAnswer}}, []time.Duration{7 * time.Second, 1500 * time.Millisecond}, true},
		{"backoff with jitter", []geminitest.Reply{{Status: 500}, {Status: 503}, {Text: okAnswer}},
			[]time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}, true},
		{"bounded attempts", []geminitest.Reply{{Status: 500}, {Status: 500}, {Status: 500}, {Text: okAnswer}},
			[]time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}, false},
		{"no retry on 400", []geminitest.Reply{{Status: 400}, {Text: okAnswer}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := geminitest.NewServer(geminitest.Options{Key: "k", Lax: true})
			defer srv.Close()
			srv.Enqueue(tc.replies...)
			a, err := New(context.Background(), Config{APIKey: "k", BaseURL: srv.URL(), HTTPClient: srv.Client(), Cache: NoCache{}})
			require.NoError(t, err)
			var mu sync.Mutex
			var waits []time.Duration
			a.wait = func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				waits = append(waits, d)
				return nil
			}
			a.jitter = func() float64 { return 0.5 } // factor 0.75
			got := a.AnalyzeEvidence(context.Background(), Evidence{Items: []Item{{ID: "run", Kind: ItemRun}}})
			assert.Equal(t, tc.ok, got.Available, got.Unavailable)
			assert.Equal(t, tc.want, waits)
		})
	}
}

const okAnswer = `{"summary":"Healthy run.","conclusion":"inconclusive","root_causes":[],"insights":[],"recommendations":[],"risk":{"level":"low","reason":"nothing found"},"limitations":[]}`

func TestDescribeNeverShowsKey(t *testing.T) {
	t.Parallel()
	const key = "AIza-secret-test-key"
	for _, err := range []error{
		genai.APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: "bad key " + key},
		errors.New("Post \"http://x/?key=" + key + "\": dial tcp: connection refused"),
		unavailable("echo %s", key),
	} {
		assert.NotContains(t, describe(err, 2, key), key)
	}
}

func TestAnalyzerNoKeyMakesNoClient(t *testing.T) {
	t.Parallel()
	a, err := New(context.Background(), Config{})
	require.NoError(t, err)
	assert.Nil(t, a.client)
	got := a.Analyze(context.Background(), resultForTest(), anomaly.Report{}, nil)
	assert.False(t, got.Available)
	assert.Equal(t, ReasonNoKey, got.Unavailable)
}
