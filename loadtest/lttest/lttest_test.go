package lttest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
