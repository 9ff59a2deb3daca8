package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/target"
)

// targetEnv, when set, makes the test binary a demo target with that
// profile instead of running tests: the target must be another process,
// with its own memory, as `loadlens target` would be.
const targetEnv = "LOADLENS_EXAMPLE_TARGET_PROFILE"

// leakPerRequest and rate make the leak profile's growth plain within
// seconds: 24 KiB × 100 req/s is 2.4 MB/s, 144 MB a minute. Few large
// requests keep the targets, race-instrumented test binaries, light
// enough to answer their scrapes on a busy machine.
const (
	leakPerRequest = 24 << 10
	rate           = 100
)

func TestMain(m *testing.M) {
	if p, ok := os.LookupEnv(targetEnv); ok {
		os.Exit(serveTarget(p))
	}
	goleak.VerifyTestMain(m)
}

// serveTarget runs the demo target on a loopback port, prints its URL and
// serves until its standard input closes.
func serveTarget(profile string) int {
	p, err := target.ParseProfile(profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv, err := target.New(target.Config{Profile: p, LeakPerRequest: leakPerRequest})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes it
	_ = srv.Close()
	return 0
}

// startTarget starts the demo target with profile in a child process and
// returns its base URL and pid; the child ends with the test.
func startTarget(t *testing.T, profile string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), targetEnv+"="+profile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	url := strings.TrimSpace(line)
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), url)
	return url, cmd.Process.Pid
}

// soak runs a constant arrival rate against the target for d, reading its
// telemetry from /metrics and from its pid.
func soak(t *testing.T, url string, pid int, d time.Duration) loadtest.Result {
	t.Helper()
	plan := loadtest.Plan{
		Name:     "telemetry soak",
		TestType: loadtest.TestSoak,
		// Few VUs: when a busy machine slows the target down, iterations
		// are dropped rather than queued in the target ahead of its
		// scrapes.
		Scenarios: scenarios.Scenarios{"soak": scenarios.ConstantArrivalRate{
			Rate: rate, Duration: d, PreAllocatedVUs: 10, MaxVUs: 10,
		}},
		Target: &loadtest.Target{BaseURL: url, Endpoints: []loadtest.Endpoint{{Path: "/api/products/1"}}},
		// A scrape may take most of its second: on a busy machine the
		// generator's goroutines wait hundreds of milliseconds to run.
		Telemetry: &loadtest.Telemetry{Prometheus: url + "/metrics", PID: pid, Interval: time.Second, Timeout: 950 * time.Millisecond,
			Metrics: []string{target.MetricRetainedBytes}},
	}
	res, err := loadtest.Run(t.Context(), plan)
	require.NoError(t, err)
	require.NotNil(t, res.Target)
	require.Len(t, res.Target.Sources, 2)
	for _, h := range res.Target.Sources {
		// On a busy machine (load 35 on 2 cores) a third of the scrapes
		// time out; growth below still wants ten samples.
		assert.LessOrEqual(t, h.Errors, h.Scrapes/2, "%s: %s", h.Source, h.LastError)
		if h.Errors > 0 {
			t.Logf("%s: %d of %d scrapes failed, last: %s", h.Source, h.Errors, h.Scrapes, h.LastError)
		}
		assert.Empty(t, h.Missing, h.Source)
	}
	return res
}

// growth returns the median of a series' last fifth over the median of
// its first fifth (after the first 2 s).
func growth(t *testing.T, res loadtest.Result, name, source string) (first, last float64) {
	t.Helper()
	s := res.Timeline.Find(name, map[string]string{"source": source})
	require.NotNil(t, s, "%s{source=%s}", name, source)
	var xs []float64
	for _, v := range s.Values[min(2, len(s.Values)):] {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	require.GreaterOrEqual(t, len(xs), 10, "%s: %v", name, s.Values)
	k := len(xs) / 5
	return median(xs[:k]), median(xs[len(xs)-k:])
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

func leakFindings(rep anomaly.Report) []anomaly.Finding {
	var out []anomaly.Finding
	for _, f := range rep.Findings {
		if f.Kind == anomaly.KindMemoryLeak {
			out = append(out, f)
		}
	}
	return out
}

// check runs a soak of d against a leaking and a healthy target, at once
// (each in its own process): the leaking one's memory rises, the healthy
// one's does not, and the analyzer finds no leak in the healthy one. With
// wantLeak, the analyzer must also find the leaking one's.
func check(t *testing.T, d time.Duration, wantLeak bool) {
	for _, tc := range []struct {
		profile string
		leaks   bool
	}{{"leak", true}, {"healthy", false}} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			url, pid := startTarget(t, tc.profile)
			res := soak(t, url, pid, d)
			prom, proc := url+"/metrics", "pid:"+strconv.Itoa(pid)
			rss0, rss1 := growth(t, res, loadtest.SeriesTargetRSS, prom)
			heap0, heap1 := growth(t, res, loadtest.SeriesTargetHeap, prom)
			pid0, pid1 := growth(t, res, loadtest.SeriesTargetRSS, proc)
			rep := anomaly.Analyze(res, nil, anomaly.Options{})
			leaks := leakFindings(rep)
			requests := res.Metrics["http_reqs"].Values["count"]
			t.Logf("%s: %s at %d req/s: RSS %.1f → %.1f MiB (/proc: %.1f → %.1f MiB), heap %.1f → %.1f MiB; target CPU avg %.0f %%, max %.0f %%; %d requests",
				tc.profile, d, rate, rss0/(1<<20), rss1/(1<<20), pid0/(1<<20), pid1/(1<<20), heap0/(1<<20), heap1/(1<<20),
				res.Target.Sources[0].CPUAvgPct, res.Target.Sources[0].CPUMaxPct, int64(requests))
			for _, f := range rep.Findings {
				t.Logf("finding %s %s %s: %s", f.Kind, f.Severity, f.Metric, f.Message)
			}
			// The growth after warm-up, with room, of the requests the
			// target served: a busy machine may not reach the rate.
			expected := float64(leakPerRequest) * requests * 0.6
			if tc.leaks {
				assert.Greater(t, rss1-rss0, expected/2, "resident memory rises")
				assert.Greater(t, heap1-heap0, expected/2, "the heap rises")
				assert.Greater(t, pid1-pid0, expected/2, "/proc shows it too")
				if !wantLeak {
					return
				}
				require.NotEmpty(t, leaks, "a leak finding")
				assert.Equal(t, anomaly.BlameTarget, leaks[0].Target)
				assert.Contains(t, []string{loadtest.SeriesTargetRSS, loadtest.SeriesTargetHeap}, leaks[0].Metric)
				return
			}
			assert.Less(t, math.Abs(heap1-heap0), expected/10, "the heap stays flat")
			flat := expected / 3
			if raceEnabled {
				flat = expected // the race detector's shadow memory grows some 10 MB here
			}
			assert.Less(t, math.Abs(rss1-rss0), flat, "resident memory stays about flat")
			assert.Empty(t, leaks)
		})
	}
}

// TestLeakSoak is the soak of issue 10's proof: 50 s, and the analyzer
// must find the leak. Under the race detector the target is instrumented
// too and its resident memory grows in the detector's steps, so the
// finding cannot be required there: the race detector and -short run a
// 20 s soak that checks the telemetry only. (The analyzer's short-run leak
// detector does not find every 20 s leak, as resident memory grows in
// steps, so its findings are logged, not required, there.)
func TestLeakSoak(t *testing.T) {
	if testing.Short() || raceEnabled {
		check(t, 20*time.Second, false)
		return
	}
	check(t, 50*time.Second, true)
}
