package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/target"
)

// demo is `loadlens demo`: the built-in target with a concurrency limit on
// a free loopback port, a short stress test against it with live progress,
// the summary and the analysis.
func (a *app) demo(ctx context.Context, args []string) int {
	f := newRunFlags("demo")
	if code, done := a.parseFlags(f.fs, "loadlens demo [flags]  (run's flags: --report, --result, -q, --ai, …)", args); done {
		return code
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "loadlens demo: takes no arguments, got %q\n\n", f.fs.Args())
		f.fs.Usage()
		return exitUsage
	}
	logger, logs, err := a.runLogger(f)
	if err != nil {
		return a.configError(loadtest.Invalid(err))
	}
	defer logs.Close()
	f.logger = logger
	srv, err := target.New(target.Config{Latency: 2 * time.Millisecond, Profile: target.Saturate, Slots: 8, Hold: 10 * time.Millisecond})
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens demo: %v\n", err)
		return exitGenericError
	}
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		fmt.Fprintf(a.stderr, "loadlens demo: %v\n", err)
		return exitGenericError
	}
	defer srv.Close()
	fmt.Fprintf(a.stdout, "loadlens demo: a built-in target on %s admits 8 requests at a time (a saturation fault);\n"+
		"a stress test of about 25 s follows: 0 → 40 VUs over 20 s, then 5 s at 40.\n", srv.URL())
	plan := demoPlan(srv.URL())
	plan.Logger = f.log(a)
	plan.Telemetry = &loadtest.Telemetry{Prometheus: srv.URL() + "/metrics"}
	if !f.fs.Changed("report") {
		f.reportFile = demoReport
	}
	_, code := a.execute(ctx, plan, f, "(built-in demo)")
	if code != exitInvalidConfig && code != exitGenericError {
		fmt.Fprintf(a.stdout, "The HTML report is in %s; open it in a browser.\n", f.reportFile)
	}
	return code
}

// demoReport is where the demo writes its HTML report unless --report says.
const demoReport = "loadlens-demo-report.html"

// demoPlan is a short stress test: VUs ramp well past the target's 8
// slots, so throughput stops growing part way and the analysis finds the
// knee.
func demoPlan(url string) loadtest.Plan {
	zero := int64(0)
	ths, _ := metrics.ParseThresholds(map[string][]string{
		metrics.HTTPReqDuration: {"p(95)<200"},
		metrics.HTTPReqFailed:   {"rate<0.05"},
	})
	return loadtest.Plan{
		Name:     "demo",
		TestType: loadtest.TestStress,
		Scenarios: scenarios.Scenarios{"stress": scenarios.RampingVUs{StartVUs: &zero, Stages: []scenarios.Stage{
			{Duration: 20 * time.Second, Target: 40}, {Duration: 5 * time.Second, Target: 40},
		}}},
		Thresholds: ths,
		Target: &loadtest.Target{Name: "demo-shop", BaseURL: url, Endpoints: []loadtest.Endpoint{
			{Path: "/api/products", Name: "list products"},
			{Path: "/api/products/42", Name: "product"},
		}},
	}
}
