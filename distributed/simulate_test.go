package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

var (
	simRunners  = flag.Int("coordinator.runners", 100, "BenchmarkCoordinatorRunners: simulated runners")
	simSeconds  = flag.Int("coordinator.seconds", 20, "BenchmarkCoordinatorRunners: length of the run, s")
	simRate     = flag.Int("coordinator.rate", 1000, "BenchmarkCoordinatorRunners: requests a second of the recorded runner")
	simChildEnv = "LOADLENS_SIMULATED_RUNNERS" // the child's JSON simConfig
)

// simConfig is what the child process of simulated runners is given.
type simConfig struct {
	URL      string `json:"url"`
	RunID    string `json:"run_id"`
	Runners  int    `json:"runners"`
	Partials string `json:"partials"` // a file of []simPartial
}

// simPartial is one recorded partial as a runner publishes it.
type simPartial struct {
	Data []byte `json:"data"`
	Zstd bool   `json:"zstd,omitempty"`
}

// BenchmarkCoordinatorRunners measures what one runner costs its
// coordinator at one partial a second: this process is the coordinator
// with its embedded NATS server, as `loadlens coordinator` runs it; a
// child process holds -coordinator.runners simulated runners, each with
// its own NATS connection, which join, measure their clock, get ready,
// watch the run's bucket, heartbeat every second and publish through
// JetStream, once a second, the partials recorded from a real runner at
// -coordinator.rate requests a second (8 endpoints, a check, the default
// summary's trends; each second's own partial, in order), then their last
// word. The coordinator decodes and merges them and evaluates thresholds
// every second on the merged metrics.
//
// It reports the coordinator process's CPU (NATS server included) and
// the bytes it received, per runner and second of the run, from the start
// order to the end of the run; runners/core is how many runners one core
// keeps up with at that cost. Run it alone:
//
//	go test ./distributed -run '^$' -bench CoordinatorRunners -benchtime 1x
func BenchmarkCoordinatorRunners(b *testing.B) {
	duration := time.Duration(*simSeconds) * time.Second
	partials := recordPartials(b, *simRate, duration)
	file := b.TempDir() + "/partials.json"
	data, err := json.Marshal(partials)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	var recorded int
	for _, p := range partials {
		recorded += len(p.Data)
	}

	for b.Loop() {
		ctx := b.Context()
		srv, err := StartServer(ctx, ServerOptions{})
		if err != nil {
			b.Fatal(err)
		}
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		mark := &startMark{}
		coord := &Coordinator{Conn: nc, URL: srv.ClientURL(), Runners: *simRunners, Archive: []byte("{}"),
			Launcher: childRunners{partials: file}, Logger: slog.New(mark)}
		ths, err := metrics.ParseThresholds(map[string][]string{
			"http_req_duration": {"p(95)<500", "p(99)<1000"}, "http_req_failed": {"rate<0.01"}, "checks": {"rate>0.99"}})
		if err != nil {
			b.Fatal(err)
		}
		res, err := loadtest.Run(ctx, loadtest.Plan{
			Scenarios: scenarios.Scenarios{"s": scenarios.ConstantArrivalRate{Rate: int64(*simRate * *simRunners),
				TimeUnit: time.Second, Duration: duration, PreAllocatedVUs: int64(*simRunners)}},
			Thresholds: ths,
			Program:    loadtest.Funcs{"default": func(context.Context, *loadtest.VU) error { return nil }},
			Remote:     coord,
		})
		end := processCPU()
		endAt := time.Now()
		nc.Close()
		srv.Shutdown()
		if err != nil {
			b.Fatal(err)
		}
		startCPU, startAt := mark.get()
		if startAt.IsZero() {
			b.Fatal("the run never started")
		}
		var bytes, received int64
		for _, s := range coord.Stats() {
			if s.Lost != "" {
				b.Fatalf("runner %d lost: %s", s.Index, s.Lost)
			}
			bytes += s.Bytes
			received += s.Partials
		}
		if want := int64(len(partials) * *simRunners); received < want {
			b.Fatalf("%d partials merged, want %d", received, want)
		}
		runnerSeconds := endAt.Sub(startAt).Seconds() * float64(*simRunners)
		cpu := (end - startCPU).Seconds()
		b.ReportMetric(cpu/runnerSeconds*1e3, "cpu-ms/runner-s")
		b.ReportMetric(float64(bytes)/runnerSeconds, "bytes/runner-s")
		b.ReportMetric(runnerSeconds/cpu, "runners/core")
		b.ReportMetric(res.Metrics["http_reqs"].Values["count"], "merged-requests")
		b.ReportMetric(float64(recorded)/float64(len(partials)), "recorded-bytes/partial")
	}
}

// startMark notes the process's CPU when the coordinator logs its start
// order.
type startMark struct {
	mu  sync.Mutex
	cpu time.Duration
	at  time.Time
}

func (m *startMark) get() (time.Duration, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpu, m.at
}

func (m *startMark) Enabled(context.Context, slog.Level) bool { return true }
func (m *startMark) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *startMark) WithGroup(string) slog.Handler            { return m }
func (m *startMark) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "start order" {
		m.mu.Lock()
		if m.at.IsZero() {
			m.cpu, m.at = processCPU(), time.Now()
		}
		m.mu.Unlock()
	}
	return nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recordPartials runs a runner's plan at rate requests a second against a
// loopback target for d and returns its partials as the runner's
// publisher sends them, one a second.
func recordPartials(b *testing.B, rate int, d time.Duration) []simPartial {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	rec := &recorder{}
	_, err := loadtest.Run(b.Context(), loadtest.Plan{
		Scenarios: scenarios.Scenarios{"s": scenarios.ConstantArrivalRate{Rate: int64(rate), TimeUnit: time.Second,
			Duration: d, PreAllocatedVUs: 20}},
		Program: loadtest.Funcs{"default": func(ctx context.Context, vu *loadtest.VU) error {
			n := vu.Iteration().IterationInTest
			resp, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + "/api/" + strconv.FormatUint(n%8, 10)})
			if err != nil {
				return err
			}
			vu.Check("200", resp.Status == 200)
			return nil
		}},
	}, rec)
	if err != nil {
		b.Fatal(err)
	}
	if len(rec.partials) < int(d/time.Second) {
		b.Fatalf("%d partials recorded in %s", len(rec.partials), d)
	}
	// Compressed as the runner's publisher compresses them.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	defer enc.Close()
	partials := make([]simPartial, len(rec.partials))
	for i, raw := range rec.partials {
		partials[i] = simPartial{Data: raw}
		if len(raw) > compressAbove {
			partials[i] = simPartial{Data: enc.EncodeAll(raw, nil), Zstd: true}
		}
	}
	return partials
}

// childRunners launches the simulated runners: this test binary again,
// which SimulatedRunnersMain turns into them.
type childRunners struct{ partials string }

func (c childRunners) Launch(ctx context.Context, url, runID string, n int, exited func(int, error)) (func(), error) {
	cfg, _ := json.Marshal(simConfig{URL: url, RunID: runID, Runners: n, Partials: c.partials})
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), simChildEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cmd.Wait()
		for i := range n {
			exited(i, err)
		}
	}()
	return func() { <-done }, nil
}

// SimulatedRunnersMain runs the simulated runners of
// BenchmarkCoordinatorRunners when this process is its child, and returns
// the exit code and true; false otherwise.
func SimulatedRunnersMain() (int, bool) {
	env := os.Getenv(simChildEnv)
	if env == "" {
		return 0, false
	}
	var cfg simConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "simulated runners:", err)
		return 1, true
	}
	data, err := os.ReadFile(cfg.Partials)
	var partials []simPartial
	if err == nil {
		err = json.Unmarshal(data, &partials)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulated runners:", err)
		return 1, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	errs := make([]error, cfg.Runners)
	var wg sync.WaitGroup
	for i := range cfg.Runners {
		wg.Go(func() {
			// Spread over the second, as runners that started apart are.
			phase := time.Duration(i) * time.Second / time.Duration(cfg.Runners)
			errs[i] = simulateRunner(ctx, cfg, i, phase, partials)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "simulated runners:", err)
		return 1, true
	}
	return 0, true
}

// simulateRunner is one runner, on the wire: join, clock, ready, the
// bucket's watch, heartbeats, a recorded partial a second, its last word.
func simulateRunner(ctx context.Context, cfg simConfig, index int, phase time.Duration, partials []simPartial) error {
	nc, err := nats.Connect(cfg.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	n := names{cfg.RunID}
	req, _ := json.Marshal(joinRequest{Index: index})
	msg, err := nc.RequestWithContext(ctx, n.join(), req)
	if err != nil {
		return fmt.Errorf("runner %d: join: %w", index, err)
	}
	var a Assignment
	if err := json.Unmarshal(msg.Data, &a); err != nil || a.Error != "" {
		return fmt.Errorf("runner %d: join: %v %s", index, err, a.Error)
	}
	kv, err := js.KeyValue(ctx, n.bucket())
	if err != nil {
		return err
	}
	watcher, err := kv.Watch(ctx, keyStart)
	if err != nil {
		return err
	}
	defer func() { _ = watcher.Stop() }()
	for range clockSamples {
		if _, err := nc.RequestWithContext(ctx, n.clock(), nil); err != nil {
			return fmt.Errorf("runner %d: clock: %w", index, err)
		}
	}
	ready, _ := json.Marshal(readyRequest{Index: index})
	if _, err := nc.RequestWithContext(ctx, n.ready(), ready); err != nil {
		return fmt.Errorf("runner %d: ready: %w", index, err)
	}
	var order startOrder
	for e := range watcher.Updates() {
		if e != nil && json.Unmarshal(e.Value(), &order) == nil {
			break
		}
	}
	if order.At.IsZero() {
		return fmt.Errorf("runner %d: no start order", index)
	}
	t := time.NewTimer(time.Until(order.At.Add(phase)))
	defer t.Stop()
	for _, p := range partials {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		t.Reset(time.Second)
		if err := nc.Publish(n.heartbeat(index), nil); err != nil {
			return err
		}
		m := nats.NewMsg(n.result(index, kindPartial))
		m.Data = p.Data
		if p.Zstd {
			m.Header.Set(headerEncoding, "zstd")
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return fmt.Errorf("runner %d: partial: %w", index, err)
		}
	}
	done, _ := json.Marshal(doneReport{Index: index, Status: loadtest.StatusPassed})
	if _, err := js.Publish(ctx, n.result(index, kindDone), done); err != nil {
		return fmt.Errorf("runner %d: done: %w", index, err)
	}
	return nil
}
