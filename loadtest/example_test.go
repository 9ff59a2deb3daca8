package loadtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// A request plan against a local server, with a k6 threshold.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	ths, _ := metrics.ParseThresholds(map[string][]string{"http_req_failed": {"rate<0.01"}})
	res, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios:  scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 4, Iterations: 40}},
		Thresholds: ths,
		Target:     &loadtest.Target{BaseURL: srv.URL, Endpoints: []loadtest.Endpoint{{Path: "/", Name: "home"}}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Metrics["http_reqs"].Values["count"], res.Endpoints[0].Name)
	for _, v := range res.Thresholds {
		fmt.Println(v.Metric, v.Threshold.Source, v.Status)
	}
	// Output:
	// passed 40 home
	// http_req_failed rate<0.01 passed
}

// statusCounter is a user's own Output: it counts requests by status as
// the samples arrive. AddSamples is called from one goroutine at a time, so
// it needs no lock; it copies nothing it keeps.
type statusCounter struct {
	byStatus map[string]int
	summary  string
}

var _ loadtest.Output = (*statusCounter)(nil)

func (c *statusCounter) Start(loadtest.RunInfo) error {
	c.byStatus = map[string]int{}
	return nil
}

func (c *statusCounter) AddSamples(batch []metrics.Sample) {
	for _, s := range batch {
		if s.Metric.Name == metrics.HTTPReqs {
			status, _ := s.Tags.Get("status")
			c.byStatus[status]++
		}
	}
}

func (c *statusCounter) Stop(res loadtest.Result) error {
	c.summary = fmt.Sprintf("%s: %d ok, %d not found", res.Status, c.byStatus["200"], c.byStatus["404"])
	return nil
}

// Plugging in an Output of one's own: it sees every sample of the run.
func ExampleOutput() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	counter := &statusCounter{}
	_, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 2, Iterations: 5}},
		Target: &loadtest.Target{BaseURL: srv.URL, Endpoints: []loadtest.Endpoint{
			{Path: "/"}, {Path: "/gone", ExpectStatus: http.StatusNotFound}}},
	}, counter)
	if err != nil {
		panic(err)
	}
	fmt.Println(counter.summary)
	// Output:
	// passed: 5 ok, 5 not found
}

// VUs written in Go: checks, groups and a custom metric.
func ExampleFuncs() {
	res, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.PerVUIterations{VUs: 2, Iterations: 3}},
		Metrics:   []metrics.Metric{{Name: "cart_items", Type: metrics.Trend}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			return vu.Group("checkout", func() error {
				vu.Check("cart not empty", true)
				return vu.Add("cart_items", float64(vu.ID()), nil)
			})
		}},
	})
	if err != nil {
		panic(err)
	}
	g := res.RootGroup.Groups[0]
	fmt.Println(g.Path, g.Checks[0].Name, g.Checks[0].Passes)
	fmt.Println(res.Metrics["cart_items"].Values["count"], res.Metrics["cart_items"].Values["max"])
	// Output:
	// ::checkout cart not empty 6
	// 6 2
}

// A test file — the agent's request body — turned into a plan.
func ExampleDecodeTestSpec() {
	spec, err := loadtest.DecodeTestSpec([]byte(`{
		"test_type": "spike", "virtual_users": 50, "duration": "1m", "ramp_up_duration_seconds": 30,
		"target": {"base_url": "http://127.0.0.1:8080", "endpoints": ["/api/products"], "auth_token": "secret"}
	}`))
	if err != nil {
		panic(err)
	}
	plan, _, err := spec.Plan()
	if err != nil {
		panic(err)
	}
	fmt.Println(plan.Scenarios["spike"].Description(nil))
	fmt.Println(plan.Echo().Target.AuthToken)
	// Output:
	// Up to 50 looping VUs for 3m0s over 4 stages (gracefulRampDown: 30s, gracefulStop: 30s)
	// [REDACTED]
}

// The k6 summary of a run, as `k6 run` prints it.
func ExampleWriteTextSummary() {
	res, err := loadtest.Run(context.Background(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"default": scenarios.SharedIterations{VUs: 1, Iterations: 5}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			vu.Check("works", true)
			return vu.Sleep(ctx, time.Millisecond)
		}},
	})
	if err != nil {
		panic(err)
	}
	_ = loadtest.WriteTextSummary(os.Stdout, res, loadtest.SummaryEnv{})
}
