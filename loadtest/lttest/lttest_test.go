package lttest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/lttest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// recorder is a testing.TB that keeps the errors it is given instead of
// failing the real test, so that a failing load test can be checked.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// server answers 200 on /ok and 500 on anything else.
func server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func plan(t *testing.T, baseURL, path string) loadtest.Plan {
	ths, err := metrics.ParseThresholds(map[string][]string{
		"http_req_failed":   {"rate<0.01"},
		"http_req_duration": {"p(95)<5000"},
	})
	require.NoError(t, err)
	return loadtest.Plan{
		Name:       "checkout",
		Scenarios:  scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 2, Iterations: 20}},
		Thresholds: ths,
		Target:     &loadtest.Target{BaseURL: baseURL, Endpoints: []loadtest.Endpoint{{Path: path}}},
	}
}

func TestRunPasses(t *testing.T) {
	srv := server(t)
	rec := &recorder{TB: t}
	res := lttest.Run(rec, plan(t, srv.URL, "/ok"))
	assert.Empty(t, rec.errors)
	assert.Equal(t, loadtest.StatusPassed, res.Status)
	assert.EqualValues(t, 20, res.Metrics["http_reqs"].Values["count"])
	assert.Empty(t, lttest.Failure(res))
}

func TestRunFailsOnAThreshold(t *testing.T) {
	srv := server(t)
	rec := &recorder{TB: t}
	res := lttest.Run(rec, plan(t, srv.URL, "/broken"))
	require.Len(t, rec.errors, 1, "one message for the whole run")
	msg := rec.errors[0]
	assert.True(t, strings.HasPrefix(msg, `load test "checkout": status `+string(res.Status)), msg)
	assert.Contains(t, msg, "threshold http_req_failed 'rate<0.01' failed: rate = 1")
	assert.NotContains(t, msg, "http_req_duration", "a passing threshold is not named")
}

func TestRunFailsOnAnInvalidPlan(t *testing.T) {
	rec := &recorder{TB: t}
	lttest.Run(rec, loadtest.Plan{Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: -1}}})
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], "load test (unnamed): ")
	assert.Contains(t, rec.errors[0], "vus")
}

// closedURL is a loopback URL where nothing listens: connections are refused.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// The message says what was observed, in its unit, and why requests failed.
func TestRunFailureHasUnitsAndCauses(t *testing.T) {
	p := plan(t, closedURL(t), "/ok")
	p.Scenarios = scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 2, Iterations: 10}}
	ths, err := metrics.ParseThresholds(map[string][]string{"http_req_failed": {"rate<0.01"}, "http_req_duration": {"p(95)<0"}})
	require.NoError(t, err)
	p.Thresholds = ths
	rec := &recorder{TB: t}
	lttest.Run(rec, p)
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], "threshold http_req_failed 'rate<0.01' failed: rate = 100.00% (10 of 10 requests failed: 1212 connection refused ×10)")
	assert.Regexp(t, `threshold http_req_duration 'p\(95\)<0' failed: p\(95\) = [0-9.]+(ns|µs|ms|s)\b`, rec.errors[0])
}

// Iterations that return errors fail the test, even with no threshold.
func TestRunFailsOnIterationErrors(t *testing.T) {
	rec := &recorder{TB: t}
	lttest.Run(rec, loadtest.Plan{
		Name:      "errs",
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 2, Iterations: 10}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			return errors.New("checkout: cart is empty")
		}},
	})
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], `load test "errs": status passed; 10 of 10 iterations returned an error`)
	assert.Contains(t, rec.errors[0], "iteration error ×10: checkout: cart is empty")
}

// A panicking iteration is an iteration error that says where it
// panicked; the test binary lives on, and the VU's next iterations run.
func TestRunPanicIsAnIterationError(t *testing.T) {
	rec := &recorder{TB: t}
	var calls atomic.Int64
	res := lttest.Run(rec, loadtest.Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 1, Iterations: 4}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			calls.Add(1)
			vu.Check("at the root", true)
			return vu.Group("pay", func() error {
				panic("cart total is negative") // a bug a load test should report, not die of
			})
		}},
	})
	assert.EqualValues(t, 4, calls.Load())
	require.Len(t, rec.errors, 1)
	assert.Regexp(t, `iteration error ×4: panic: cart total is negative \(lttest_test\.go:\d+ in .*TestRunPanicIsAnIterationError`, rec.errors[0])
	require.Len(t, res.RootGroup.Checks, 1, "each iteration starts at the root group again")
	assert.EqualValues(t, 4, res.RootGroup.Checks[0].Passes)
}
