package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/target"
)

// The recorder runs each run's target, generator and CPU hog in processes
// of their own (this binary, with a child-… command), so that the
// generator's CPU and memory are its own and the target's telemetry is
// the target's.

// childTarget serves the demo target on a free loopback port: its Config
// (JSON) on stdin; it prints "listening URL", then the events log, one
// JSON line each, and stops at SIGTERM or when stdin closes.
func childTarget(ctx context.Context) error {
	var cfg target.Config
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		return fmt.Errorf("target config: %w", err)
	}
	cfg.Events = os.Stdout
	srv, err := target.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Listen(ctx, "127.0.0.1:0"); err != nil {
		return err
	}
	fmt.Printf("listening %s\n", srv.URL())
	return srv.Serve(ctx)
}

// genSpec is what a generator child runs.
type genSpec struct {
	Run     runSpec   `json:"run"`
	BaseURL string    `json:"base_url"`
	Epoch   time.Time `json:"epoch"`
}

// childGenerate runs one load test as the spec on stdin says, from its
// epoch, and writes the Result (JSON) to stdout.
func childGenerate(ctx context.Context) error {
	var gs genSpec
	if err := json.NewDecoder(os.Stdin).Decode(&gs); err != nil {
		return fmt.Errorf("generator spec: %w", err)
	}
	plan, err := buildPlan(ctx, gs)
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, gs.Epoch); err != nil {
		return err
	}
	res, err := loadtest.Run(ctx, plan)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// buildPlan makes the run's plan: its scenario, and a request plan or the
// scenario's script.
func buildPlan(ctx context.Context, gs genSpec) (loadtest.Plan, error) {
	r := gs.Run
	grace := 3 * time.Second
	common := scenarios.Common{GracefulStop: &grace}
	zero := int64(0)
	// Arrival-rate VUs: enough for iterations 20 times slower than usual
	// (a busy machine stalls for a moment now and then), and room to grow
	// when a fault slows them.
	var iter time.Duration
	for _, p := range r.Paths {
		iter += time.Duration(float64(r.Target.Latency)*routeWeight(p)) + 200*time.Microsecond
	}
	pre := int64(max(5, float64(r.Rate)*iter.Seconds()*20))
	maxVUs := max(pre*8, 50)
	var sc scenarios.Config
	switch r.Load {
	case "constant-vus":
		sc = scenarios.ConstantVUs{Common: common, VUs: int64(r.VUs), Duration: r.Duration}
	case "ramping-vus":
		stages := []scenarios.Stage{{Duration: r.Ramp, Target: int64(r.VUs)}}
		if rest := r.Duration - r.Ramp; rest > 0 {
			stages = append(stages, scenarios.Stage{Duration: rest, Target: int64(r.VUs)})
		}
		sc = scenarios.RampingVUs{Common: common, StartVUs: &zero, Stages: stages}
	case "constant-arrival-rate":
		sc = scenarios.ConstantArrivalRate{Common: common, Rate: int64(r.Rate), Duration: r.Duration, PreAllocatedVUs: pre, MaxVUs: maxVUs}
	case "ramping-arrival-rate":
		stages := []scenarios.Stage{{Duration: r.Ramp, Target: int64(r.Rate)}}
		if rest := r.Duration - r.Ramp; rest > 0 {
			stages = append(stages, scenarios.Stage{Duration: rest, Target: int64(r.Rate)})
		}
		sc = scenarios.RampingArrivalRate{Common: common, StartRate: max(1, int64(r.Rate)/4), Stages: stages, PreAllocatedVUs: pre, MaxVUs: maxVUs}
	default:
		return loadtest.Plan{}, fmt.Errorf("unknown load %q", r.Load)
	}
	tel := &loadtest.Telemetry{Prometheus: gs.BaseURL + "/metrics", Interval: time.Second}
	if r.Script == "" {
		eps := make([]loadtest.Endpoint, len(r.Paths))
		for i, p := range r.Paths {
			eps[i] = loadtest.Endpoint{Path: p}
		}
		return loadtest.Plan{Name: r.Name, TestType: "load", Scenarios: scenarios.Scenarios{"default": sc},
			Target: &loadtest.Target{Name: "demo", BaseURL: gs.BaseURL, Endpoints: eps}, Telemetry: tel}, nil
	}
	code, err := os.ReadFile(r.Script)
	if err != nil {
		return loadtest.Plan{}, err
	}
	env := map[string]string{"BASE_URL": gs.BaseURL, "PATHS": strings.Join(r.Paths, ",")}
	plan, _, _, err := js.Plan(ctx, js.Source{Filename: "script.js", Code: code}, loadtest.K6Options{}, loadtest.K6Options{},
		js.Options{Env: env, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return loadtest.Plan{}, err
	}
	plan.Name, plan.TestType, plan.Telemetry = r.Name, "load", tel
	plan.Scenarios = scenarios.Scenarios{"default": sc}
	return plan, nil
}

// hogSpec is what a CPU hog child does.
type hogSpec struct {
	From time.Time     `json:"from"`
	For  time.Duration `json:"for"`
}

// childHog keeps one CPU busy from its start for its length: another
// process on the generator's machine.
func childHog(ctx context.Context) error {
	var hs hogSpec
	if err := json.NewDecoder(os.Stdin).Decode(&hs); err != nil {
		return fmt.Errorf("hog spec: %w", err)
	}
	runtime.GOMAXPROCS(1)
	if err := waitUntil(ctx, hs.From); err != nil {
		return err
	}
	end := hs.From.Add(hs.For)
	x := uint64(1)
	for time.Now().Before(end) && ctx.Err() == nil {
		for range 1 << 16 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	_, err := fmt.Fprintln(io.Discard, x)
	return err
}

// waitUntil waits for t or until ctx ends.
func waitUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
