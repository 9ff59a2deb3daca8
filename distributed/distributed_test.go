package distributed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// spec is the tests' archive: what a runner needs to build the plan.
type spec struct {
	Scenarios  scenarios.Scenarios `json:"scenarios"`
	Thresholds json.RawMessage     `json:"thresholds,omitempty"`
	// URL, when set, is requested once per iteration; a header carries
	// the iteration number, which the target's latency depends on.
	URL string `json:"url,omitempty"`
	// Pause ends each iteration, as a real test waits for its target:
	// iterations that spin would starve the stop order on a busy machine.
	Pause time.Duration `json:"pause,omitempty"`
}

// seen records every iteration number across the runners of a test.
type seen struct {
	mu    sync.Mutex
	iters map[uint64]int
	// durs are the http_req_duration values the runners measured.
	durs  []float64
	setup atomic.Int64
	// lastStart is when the latest iteration started, in Unix nanoseconds.
	lastStart atomic.Int64
}

func (s *seen) durations() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.durs)
}

// Start, AddSamples and Stop make seen a runner's own output.
func (s *seen) Start(loadtest.RunInfo) error { return nil }
func (s *seen) Stop(loadtest.Result) error   { return nil }
func (s *seen) AddSamples(batch []metrics.Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, smp := range batch {
		if smp.Metric.Name == metrics.HTTPReqDuration {
			s.durs = append(s.durs, smp.Value)
		}
	}
}

func (s *seen) add(n uint64) {
	s.lastStart.Store(time.Now().UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iters == nil {
		s.iters = map[uint64]int{}
	}
	s.iters[n]++
}

func (s *seen) snapshot() map[uint64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]int, len(s.iters))
	for k, v := range s.iters {
		out[k] = v
	}
	return out
}

// build is the tests' BuildFunc, and what the coordinator runs: a program
// that counts setup calls and iterations, records a deterministic trend
// value per iteration and requests URL.
func build(rec *seen) distributed.BuildFunc {
	return func(_ context.Context, archive []byte, _ distributed.Assignment) (loadtest.Plan, []loadtest.Output, error) {
		var s spec
		if err := json.Unmarshal(archive, &s); err != nil {
			return loadtest.Plan{}, nil, err
		}
		plan := loadtest.Plan{Scenarios: s.Scenarios, Program: &program{spec: s, rec: rec},
			Metrics: []metrics.Metric{{Name: "iteration_value", Type: metrics.Trend, Contains: metrics.Time}}}
		if len(s.Thresholds) > 0 {
			if err := json.Unmarshal(s.Thresholds, &plan.Thresholds); err != nil {
				return loadtest.Plan{}, nil, err
			}
		}
		return plan, []loadtest.Output{rec}, nil
	}
}

type program struct {
	spec spec
	rec  *seen
}

func (p *program) NewVU(_ context.Context, vu *loadtest.VU) (loadtest.VUCode, error) {
	return vuCode{p, vu}, nil
}

func (p *program) Setup(context.Context, *loadtest.VU) (json.RawMessage, error) {
	n := p.rec.setup.Add(1)
	return json.RawMessage(fmt.Sprintf(`{"setup_call":%d}`, n)), nil
}

type vuCode struct {
	p  *program
	vu *loadtest.VU
}

func (v vuCode) Run(ctx context.Context, _ string) error {
	n := v.vu.Iteration().IterationInTest
	v.p.rec.add(n)
	if string(v.vu.SetupData()) != `{"setup_call":1}` {
		return fmt.Errorf("setup data %s", v.vu.SetupData())
	}
	if err := v.vu.Add("iteration_value", float64(n%97), nil); err != nil {
		return err
	}
	if v.p.spec.URL != "" {
		if _, err := v.vu.HTTP().Do(ctx, &k6http.Request{URL: v.p.spec.URL,
			Header: http.Header{"X-Iteration": {strconv.FormatUint(n, 10)}}}); err != nil {
			return err
		}
	}
	if v.p.spec.Pause > 0 {
		return v.vu.Sleep(ctx, v.p.spec.Pause)
	}
	return nil
}

// cluster is a NATS server with JetStream and a connection to it.
type cluster struct {
	url string
	nc  *nats.Conn
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv, err := distributed.StartServer(t.Context(), distributed.ServerOptions{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return connect(t, srv.ClientURL())
}

func connect(t *testing.T, url string) *cluster {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return &cluster{url: url, nc: nc}
}

// externalCluster runs Debian's nats-server (installed by .ci/run) on a
// free loopback port. Outside CI a machine without it skips the test.
func externalCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nats-server")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nats-server is not installed: .ci/run installs Debian's")
		}
		t.Skip("nats-server is not installed (apt-get install nats-server); the embedded server's tests still ran")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "nats-server did not start: %v", err)
		time.Sleep(20 * time.Millisecond) // polling the port, with a deadline
	}
	return connect(t, url)
}

var servers = []struct {
	name  string
	start func(*testing.T) *cluster
}{{"embedded", newCluster}, {"nats-server", externalCluster}}

// goroutineRunners launches runners as goroutines of the test, each with
// its own NATS connection, and keeps their results.
type goroutineRunners struct {
	t     *testing.T
	build distributed.BuildFunc

	mu      sync.Mutex
	results map[int]loadtest.Result
	errs    map[int]error
	kills   map[int]func()
}

func (g *goroutineRunners) Launch(ctx context.Context, url, runID string, n int, exited func(int, error)) (func(), error) {
	g.results, g.errs, g.kills = map[int]loadtest.Result{}, map[int]error{}, map[int]func(){}
	var wg sync.WaitGroup
	for i := range n {
		nc, err := nats.Connect(url)
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		g.mu.Lock()
		g.kills[i] = func() { nc.Close(); cancel() } // as kill -9: no last word
		g.mu.Unlock()
		wg.Go(func() {
			defer nc.Close()
			defer cancel()
			r := &distributed.Runner{Conn: nc, RunID: runID, Index: i, Build: g.build, JoinTimeout: 20 * time.Second}
			res, err := r.Run(rctx)
			g.mu.Lock()
			g.results[i], g.errs[i] = res, err
			g.mu.Unlock()
			exited(i, err)
		})
	}
	return wg.Wait, nil
}

// run runs s on n runners through a coordinator, as `run --runners N`.
func (c *cluster) run(t *testing.T, ctx context.Context, s spec, n int, rec *seen, tweak func(*distributed.Coordinator), outputs ...loadtest.Output) (loadtest.Result, *goroutineRunners, error) {
	t.Helper()
	archive, err := json.Marshal(s)
	require.NoError(t, err)
	runners := &goroutineRunners{t: t, build: build(rec)}
	plan, _, err := build(rec)(ctx, archive, distributed.Assignment{})
	require.NoError(t, err)
	coord := &distributed.Coordinator{Conn: c.nc, URL: c.url, Runners: n, Archive: archive,
		Launcher: runners, JoinTimeout: 20 * time.Second, ReadyTimeout: 20 * time.Second}
	if tweak != nil {
		tweak(coord)
	}
	plan.Remote = coord
	res, err := loadtest.Run(ctx, plan, outputs...)
	return res, runners, err
}

func single(t *testing.T, ctx context.Context, s spec, rec *seen, outputs ...loadtest.Output) loadtest.Result {
	t.Helper()
	archive, err := json.Marshal(s)
	require.NoError(t, err)
	plan, _, err := build(rec)(ctx, archive, distributed.Assignment{})
	require.NoError(t, err)
	res, err := loadtest.Run(ctx, plan, outputs...)
	require.NoError(t, err)
	return res
}

func TestSharedAndPerVUIterationsAreExactAcrossRunners(t *testing.T) {
	t.Parallel()
	for _, server := range servers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			exactIterations(t, server.start(t))
		})
	}
}

func exactIterations(t *testing.T, c *cluster) {
	s := spec{Scenarios: scenarios.Scenarios{
		"shared": scenarios.SharedIterations{VUs: 10, Iterations: 1000},
		"per_vu": scenarios.PerVUIterations{VUs: 7, Iterations: 5},
	}}
	var rec seen
	res, runners, err := c.run(t, t.Context(), s, 3, &rec, nil)
	require.NoError(t, err)
	assert.Equal(t, loadtest.StatusPassed, res.Status, "%+v %v", res.Abort, res.Warnings)
	assert.Equal(t, int64(1), rec.setup.Load(), "setup ran once, on the coordinator")

	byScenario := map[string]scenarios.Progress{}
	for _, p := range res.Scenarios {
		byScenario[p.Scenario] = p
	}
	assert.Equal(t, uint64(1000), byScenario["shared"].Completed)
	assert.Equal(t, uint64(35), byScenario["per_vu"].Completed)
	assert.Equal(t, int64(10), byScenario["shared"].MaxVUs, "VUs add up to the plan's")
	assert.Equal(t, int64(7), byScenario["per_vu"].MaxVUs)
	assert.Equal(t, 1035.0, res.Metrics[metrics.Iterations].Values["count"])
	assert.Len(t, rec.snapshot(), 1000, "iteration numbers 0 … 999 (per-vu-iterations number theirs 0 … 34)")
	var perRunner float64
	for i := range 3 {
		require.NoError(t, runners.errs[i], "runner %d", i)
		perRunner += runners.results[i].Metrics[metrics.Iterations].Values["count"]
	}
	assert.Equal(t, 1035.0, perRunner)
}

func TestArrivalRateAcrossRunnersMatchesOneProcess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	s := spec{Scenarios: scenarios.Scenarios{"rate": scenarios.ConstantArrivalRate{
		Rate: 900, TimeUnit: time.Second, Duration: 2 * time.Second, PreAllocatedVUs: 20, MaxVUs: 100}}}
	one := single(t, t.Context(), s, &seen{})
	var rec seen
	res, _, err := c.run(t, t.Context(), s, 4, &rec, nil)
	require.NoError(t, err)
	// Every scheduled iteration starts or is dropped (a busy machine drops
	// some): the schedules add up to the plan's.
	scheduled := func(r loadtest.Result) float64 {
		return r.Metrics[metrics.Iterations].Values["count"] + r.Metrics[metrics.DroppedIterations].Values["count"]
	}
	want, got := scheduled(one), scheduled(res)
	t.Logf("constant-arrival-rate 900/s for 2 s: one process %v iterations (%v started), 4 runners %v (%v started)",
		want, one.Metrics[metrics.Iterations].Values["count"], got, res.Metrics[metrics.Iterations].Values["count"])
	assert.InEpsilon(t, want, got, 0.01)
	assert.InDelta(t, 1800, got, 18)
}

// A trend of deterministic values merges bit for bit: the merged
// percentiles are the single process's. The merged p95 of a target whose
// latency depends on the request alone is the p95 of every runner's
// samples taken together, within the sketch's error (never an average of
// the runners' p95s), and lands on the same plateau (the slow fifth of
// requests) as one process's. The single process's exact value is not the
// bar: on a busy machine the two runs see different scheduling delays.
func TestMergedPercentilesMatchOneProcess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.Header.Get("X-Iteration"))
		d := time.Millisecond
		if i%10 < 2 { // 20 %: the p95 falls among these
			d = 100 * time.Millisecond
		}
		time.Sleep(d)
	}))
	t.Cleanup(target.Close)
	s := spec{URL: target.URL, Scenarios: scenarios.Scenarios{"shared": scenarios.SharedIterations{VUs: 12, Iterations: 300}}}
	one := single(t, t.Context(), s, &seen{})
	var rec seen
	res, runners, err := c.run(t, t.Context(), s, 3, &rec, nil)
	require.NoError(t, err)
	assert.Empty(t, res.Warnings)
	assert.Equal(t, one.Metrics["iteration_value"].Values, res.Metrics["iteration_value"].Values)

	union := metrics.NewTrendSink()
	for _, v := range rec.durations() {
		union.Add(v)
	}
	p95union := union.Quantile(0.95)
	p95one := one.Metrics[metrics.HTTPReqDuration].Values["p(95)"]
	p95 := res.Metrics[metrics.HTTPReqDuration].Values["p(95)"]
	var averaged float64
	for _, r := range runners.results {
		averaged += r.Metrics[metrics.HTTPReqDuration].Values["p(95)"] / float64(len(runners.results))
	}
	t.Logf("http_req_duration p(95): one process %.2f ms, 3 runners merged %.2f ms, of all their samples %.2f ms, "+
		"the runners' p95s averaged %.2f ms", p95one, p95, p95union, averaged)
	require.Equal(t, int64(300), union.Count(), "every runner's request was seen")
	assert.InEpsilon(t, p95union, p95, metrics.TrendAccuracy)
	assert.GreaterOrEqual(t, p95one, 100.0)
	assert.GreaterOrEqual(t, p95, 100.0)
	assert.Equal(t, 300.0, res.Metrics[metrics.HTTPReqs].Values["count"])
}

// Thresholds are evaluated once, on the merged metrics: a count that each
// runner's share passes fails in aggregate, and one that each share fails
// passes.
func TestThresholdsAreEvaluatedOnMergedMetrics(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	s := spec{
		Scenarios:  scenarios.Scenarios{"shared": scenarios.SharedIterations{VUs: 6, Iterations: 300}},
		Thresholds: json.RawMessage(`{"iterations": ["count<200"], "iteration_value": ["max>=96"], "iterations{scenario:shared}": ["count>250"]}`),
	}
	res, runners, err := c.run(t, t.Context(), s, 3, &seen{}, nil)
	require.NoError(t, err)
	assert.Equal(t, loadtest.StatusThresholdsFailed, res.Status)
	verdicts := map[string]metrics.Status{}
	for _, v := range res.Thresholds {
		verdicts[v.Metric+" "+v.Threshold.Source] = v.Status
	}
	assert.Equal(t, metrics.Failed, verdicts["iterations count<200"])
	assert.Equal(t, metrics.Passed, verdicts["iterations{scenario:shared} count>250"])
	assert.Equal(t, metrics.Passed, verdicts["iteration_value max>=96"])
	for i, r := range runners.results {
		assert.Less(t, r.Metrics[metrics.Iterations].Values["count"], 200.0, "runner %d's share alone would pass", i)
	}
}

func TestAbortOnFailStopsEveryRunnerWithinASecond(t *testing.T) {
	t.Parallel()
	for _, server := range servers {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			abortOnFail(t, server.start(t))
		})
	}
}

// abortOnFail checks that the load stops within a second of the
// coordinator's decision: no runner starts an iteration later. The
// runners run in the test's process, so the decision and the iterations
// are read on one clock. Each runner's Result ends later, once its
// samples are drained, which a busy machine makes slow: that end is held
// to the no-hang bound only.
func abortOnFail(t *testing.T, c *cluster) {
	s := spec{
		Scenarios:  scenarios.Scenarios{"long": scenarios.ConstantVUs{VUs: 4, Duration: time.Minute}},
		Thresholds: json.RawMessage(`{"iterations": [{"threshold": "count<2000", "abortOnFail": true}]}`),
		Pause:      time.Millisecond,
	}
	start := time.Now()
	var rec seen
	res, runners, err := c.run(t, t.Context(), s, 2, &rec, nil)
	require.NoError(t, err)
	require.NotNil(t, res.Abort)
	assert.Equal(t, loadtest.AbortByThreshold, res.Abort.By)
	assert.Equal(t, loadtest.StatusThresholdsFailed, res.Status)
	decided := res.Start.Add(res.Abort.After)
	lastStart := time.Unix(0, rec.lastStart.Load())
	t.Logf("the last iteration started %s after the coordinator's decision", lastStart.Sub(decided))
	assert.Less(t, lastStart.Sub(decided), time.Second, "every runner stopped within a second")
	require.Len(t, runners.results, 2)
	for i, r := range runners.results {
		t.Logf("runner %d's result ended %s after the decision", i, r.End.Sub(decided))
		assert.Equal(t, loadtest.StatusAborted, r.Status, "runner %d", i)
		assert.Less(t, r.End.Sub(decided), 10*time.Second, "runner %d", i)
	}
	assert.Less(t, time.Since(start), 30*time.Second, "the minute-long test was cut short")
}

func TestRunnerThatNeverJoinsFailsTheStart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	archive, _ := json.Marshal(spec{Scenarios: scenarios.Scenarios{"s": scenarios.SharedIterations{VUs: 1, Iterations: 1}}})
	plan, _, err := build(&seen{})(t.Context(), archive, distributed.Assignment{})
	require.NoError(t, err)
	plan.Remote = &distributed.Coordinator{Conn: c.nc, Runners: 2, Archive: archive, JoinTimeout: 500 * time.Millisecond}
	start := time.Now()
	res, err := loadtest.Run(t.Context(), plan)
	require.ErrorContains(t, err, "runners 0, 1 did not join within 500ms")
	assert.Equal(t, loadtest.StatusErrored, res.Status)
	assert.Less(t, time.Since(start), 10*time.Second)
}

// A runner that dies mid-run is reported within seconds and, by default,
// aborts the run; with continue, the run finishes without it.
func TestLostRunner(t *testing.T) {
	t.Parallel()
	for _, policy := range []distributed.LossPolicy{distributed.LossAbort, distributed.LossContinue} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			c := newCluster(t)
			s := spec{Scenarios: scenarios.Scenarios{"vus": scenarios.ConstantVUs{VUs: 2, Duration: 6 * time.Second}}}
			var rec seen
			var runners *goroutineRunners
			ready := make(chan *goroutineRunners, 1)
			ctx := t.Context()
			var wg sync.WaitGroup
			var lostAt time.Time
			wg.Go(func() { // kill runner 1 once the load is on
				r := <-ready
				for len(rec.snapshot()) < 20 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
				r.mu.Lock()
				kill := r.kills[1]
				r.mu.Unlock()
				lostAt = time.Now()
				kill()
			})
			res, _, err := c.run(t, ctx, s, 2, &rec, func(co *distributed.Coordinator) {
				co.OnRunnerLoss = policy
				runners = co.Launcher.(*goroutineRunners)
				ready <- runners
			})
			wg.Wait()
			require.NoError(t, err)
			joined := fmt.Sprint(res.Warnings)
			assert.Contains(t, joined, "runner 1 lost")
			if policy == distributed.LossAbort {
				require.NotNil(t, res.Abort)
				assert.Equal(t, loadtest.AbortByGenerator, res.Abort.By)
				assert.Less(t, res.Start.Add(res.Abort.After).Sub(lostAt), 5*time.Second, "reported within 5 s")
			} else {
				assert.Nil(t, res.Abort)
				assert.Greater(t, res.Duration, 6*time.Second, "the other runner went on")
			}
		})
	}
}

func TestMain(m *testing.M) {
	if code, child := distributed.SimulatedRunnersMain(); child {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
