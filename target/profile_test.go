package target_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

// codes sends n requests to path in memory and returns their statuses.
func codes(ctx context.Context, h http.Handler, path string, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = serve(ctx, h, "GET", path).Code
	}
	return out
}

// tally counts statuses.
func tally(codes []int) map[int]int {
	m := map[int]int{}
	for _, c := range codes {
		m[c]++
	}
	return m
}

func TestErrorRateIsExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rate float64
		seed uint64
		n    int
		want int
	}{
		{"none", 0, 1, 500, 0},
		{"all", 1, 1, 500, 500},
		{"5% seed 0", 0.05, 0, 1000, 50},
		{"5% seed 42", 0.05, 42, 1000, 50},
		{"12.3% seed 7", 0.123, 7, 1000, 123},
		{"half", 0.5, 9, 1000, 500},
		{"1 in a million", 0.000001, 3, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := target.New(target.Config{ErrorRate: tc.rate, Seed: tc.seed})
			require.NoError(t, err)
			defer srv.Close()
			got := tally(codes(t.Context(), srv.Handler(), "/", tc.n))
			assert.Equal(t, tc.want, got[500]+got[503])
			assert.Equal(t, tc.n-tc.want, got[200])
			assert.Equal(t, uint64(tc.want), srv.Stats().Errors)
			assert.Equal(t, uint64(tc.n), srv.Stats().Requests)
			if tc.want >= 20 {
				assert.NotZero(t, got[500], "both codes appear")
				assert.NotZero(t, got[503], "both codes appear")
			}
		})
	}
}

func TestErrorSequenceDependsOnSeedOnly(t *testing.T) {
	t.Parallel()
	seq := func(seed uint64) []int {
		srv, err := target.New(target.Config{ErrorRate: 0.1, Seed: seed})
		require.NoError(t, err)
		defer srv.Close()
		return codes(t.Context(), srv.Handler(), "/api/products/1", 200)
	}
	assert.Equal(t, seq(5), seq(5))
	assert.NotEqual(t, seq(5), seq(6))
}

// Over real HTTP with concurrent clients the count stays exact: the choice
// depends on arrival numbers, not on timing.
func TestErrorRateOverLoopback(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{ErrorRate: 0.05, Seed: 11})
	const workers, each = 4, 50
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				code, _ := do(t, c, "GET", srv.URL()+"/", "")
				mu.Lock()
				got[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{200: 190, 500: got[500], 503: 10 - got[500]}, got)
	assert.Equal(t, uint64(10), srv.Stats().Errors)
	assert.Equal(t, uint64(workers*each), srv.Stats().Requests)
}

// latency measures one in-memory request under synctest's fake clock, so
// the wait is exact.
func latency(t *testing.T, h http.Handler, path string) (time.Duration, int) {
	t.Helper()
	t0 := time.Now()
	code := serve(t.Context(), h, "GET", path).Code
	return time.Since(t0), code
}

func TestLatencyWeightsAndDegradeStep(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, err := target.New(target.Config{
			Latency:    10 * time.Millisecond,
			Profile:    target.Degrade,
			FaultAfter: 30 * time.Second,
		})
		require.NoError(t, err)
		defer srv.Close()
		h := srv.Handler()
		for _, tc := range []struct {
			path   string
			before time.Duration
		}{
			{"/", 10 * time.Millisecond},
			{"/api/products/3", 10 * time.Millisecond},
			{"/api/products", 20 * time.Millisecond},
			{"/healthz", 0},
			{"/status/200", 0},
		} {
			d, code := latency(t, h, tc.path)
			assert.Equal(t, 200, code, tc.path)
			assert.Equal(t, tc.before, d, "%s before the fault", tc.path)
		}
		assert.False(t, srv.Stats().FaultActive)

		time.Sleep(30 * time.Second) // fake time: the fault starts
		assert.True(t, srv.Stats().FaultActive)
		for _, tc := range []struct {
			path  string
			after time.Duration
		}{
			{"/", 10*time.Millisecond*3 + 20*time.Millisecond},
			{"/api/products", 20*time.Millisecond*3 + 20*time.Millisecond},
			{"/healthz", 0},
		} {
			d, code := latency(t, h, tc.path)
			assert.Equal(t, 200, code, tc.path)
			assert.Equal(t, tc.after, d, "%s during the fault", tc.path)
		}
	})
}

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, err := target.New(target.Config{Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Seed: 3})
		require.NoError(t, err)
		defer srv.Close()
		seen := map[time.Duration]bool{}
		for range 100 {
			d, _ := latency(t, srv.Handler(), "/")
			assert.GreaterOrEqual(t, d, 5*time.Millisecond)
			assert.Less(t, d, 7*time.Millisecond)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 50, "jitter varies")
	})
}

// The fault window with an injected clock, for every profile.
func TestFaultWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		cfg           target.Config
		inactiveAt    []time.Duration
		activeAt      []time.Duration
		wantBurstOver time.Duration
	}{
		{name: "healthy never", cfg: target.Config{FaultAfter: time.Second}, inactiveAt: []time.Duration{0, time.Second, time.Hour}},
		{name: "degrade from the start", cfg: target.Config{Profile: target.Degrade}, activeAt: []time.Duration{0, time.Hour}},
		{name: "leak after 20s", cfg: target.Config{Profile: target.Leak, FaultAfter: 20 * time.Second},
			inactiveAt: []time.Duration{0, 19 * time.Second}, activeAt: []time.Duration{20 * time.Second, time.Hour}},
		{name: "saturate for 5s", cfg: target.Config{Profile: target.Saturate, FaultAfter: 10 * time.Second, FaultFor: 5 * time.Second},
			inactiveAt: []time.Duration{9 * time.Second, 15 * time.Second}, activeAt: []time.Duration{10 * time.Second, 14 * time.Second}},
		{name: "errors burst lasts 10s by default", cfg: target.Config{Profile: target.ErrorBurst, FaultAfter: 10 * time.Second},
			inactiveAt: []time.Duration{0, 20 * time.Second}, activeAt: []time.Duration{10 * time.Second, 19 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			now := t0
			tc.cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			srv, err := target.New(tc.cfg)
			require.NoError(t, err)
			defer srv.Close()
			at := func(d time.Duration) bool {
				mu.Lock()
				now = t0.Add(d)
				mu.Unlock()
				return srv.Stats().FaultActive
			}
			for _, d := range tc.activeAt {
				assert.True(t, at(d), "active at %v", d)
			}
			for _, d := range tc.inactiveAt {
				assert.False(t, at(d), "inactive at %v", d)
			}
		})
	}
}

func TestErrorBurstRecovers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, err := target.New(target.Config{Profile: target.ErrorBurst, ErrorRate: 0.01, FaultAfter: 10 * time.Second, FaultFor: 5 * time.Second, Seed: 1})
		require.NoError(t, err)
		defer srv.Close()
		h := srv.Handler()
		failed := func() int {
			m := tally(codes(t.Context(), h, "/", 1000))
			return m[500] + m[503]
		}
		assert.Equal(t, 10, failed(), "before: ErrorRate")
		time.Sleep(10 * time.Second)
		assert.Equal(t, 120, failed(), "during: BurstErrorRate 12 %")
		time.Sleep(5 * time.Second)
		assert.Equal(t, 10, failed(), "after: recovered")
	})
}

func TestLeakRetainsUpToItsCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      target.Config
		requests int
		want     int64
	}{
		{"defaults", target.Config{Profile: target.Leak}, 10, 10 * target.DefaultLeakPerRequest},
		{"custom", target.Config{Profile: target.Leak, LeakPerRequest: 1000}, 7, 7000},
		{"capped", target.Config{Profile: target.Leak, LeakPerRequest: 3000, LeakMax: 10000}, 5, 10000},
		{"healthy keeps nothing", target.Config{}, 10, 0},
		{"not before the fault", target.Config{Profile: target.Leak, FaultAfter: time.Hour}, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := target.New(tc.cfg)
			require.NoError(t, err)
			for range tc.requests {
				// Utility routes never leak.
				require.Equal(t, 200, serve(t.Context(), srv.Handler(), "GET", "/healthz").Code)
				require.Equal(t, 200, serve(t.Context(), srv.Handler(), "GET", "/").Code)
			}
			assert.Equal(t, tc.want, srv.Stats().RetainedBytes)
			require.NoError(t, srv.Close())
			assert.Zero(t, srv.Stats().RetainedBytes, "Close releases")
			serve(t.Context(), srv.Handler(), "GET", "/")
			assert.Zero(t, srv.Stats().RetainedBytes, "nothing retained after Close")
		})
	}
}

// The leak shows in the scraped heap, and Close gives it back.
func TestLeakShowsInMetricsHeap(t *testing.T) {
	t.Parallel()
	const per, total = 1 << 20, 48 << 20
	srv, c := start(t, target.Config{Profile: target.Leak, LeakPerRequest: per, LeakMax: total})
	heap := func() float64 {
		v, ok := value(scrape(t, c, srv), "go_memstats_heap_inuse_bytes")
		require.True(t, ok)
		return v
	}
	before := heap()
	for range total/per + 4 {
		code, _ := do(t, c, "GET", srv.URL()+"/", "")
		require.Equal(t, 200, code)
	}
	assert.Equal(t, int64(total), srv.Stats().RetainedBytes)
	fams := scrape(t, c, srv)
	retained, _ := value(fams, target.MetricRetainedBytes)
	assert.Equal(t, float64(total), retained)
	assert.Greater(t, heap()-before, float64(total)/2, "heap in use grows with the leak")

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	held := ms.HeapInuse
	require.NoError(t, srv.Close())
	runtime.GC()
	runtime.ReadMemStats(&ms)
	assert.Greater(t, int64(held)-int64(ms.HeapInuse), int64(total/2), "Close releases the retained memory")
}

func TestSaturateCapsConcurrency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const slots, extra = 3, 5
		srv, err := target.New(target.Config{Profile: target.Saturate, Slots: slots, Hold: 100 * time.Millisecond})
		require.NoError(t, err)
		defer srv.Close()
		t0 := time.Now()
		got := make([]int, slots+extra)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i] = serve(t.Context(), srv.Handler(), "GET", "/api/products/1").Code })
		}
		synctest.Wait() // every request is holding a slot or queued
		st := srv.Stats()
		assert.Equal(t, int64(slots), st.SlotsInUse)
		assert.Equal(t, int64(extra), st.Waiting)
		assert.Equal(t, int64(slots+extra), st.InFlight)
		wg.Wait()
		for _, c := range got {
			assert.Equal(t, 200, c)
		}
		st = srv.Stats()
		assert.Equal(t, int64(slots), st.PeakSlotsInUse)
		assert.Zero(t, st.SlotsInUse+st.Waiting+st.InFlight)
		assert.Equal(t, 300*time.Millisecond, time.Since(t0), "⌈8/3⌉ rounds of Hold")
	})
}

// Throughput plateaus at Slots/Hold however many clients there are.
func TestSaturateThroughputPlateaus(t *testing.T) {
	t.Parallel()
	for _, clients := range []int{2, 4, 16} {
		synctest.Test(t, func(t *testing.T) {
			srv, err := target.New(target.Config{Profile: target.Saturate, Slots: 4, Hold: 10 * time.Millisecond})
			require.NoError(t, err)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					for ctx.Err() == nil {
						serve(ctx, srv.Handler(), "GET", "/")
					}
				})
			}
			wg.Wait()
			st := srv.Stats()
			served := st.Requests - st.Cancelled
			want := uint64(min(clients, 4) * 100) // per second
			assert.InDelta(t, want, served, 4, "%d clients", clients)
		})
	}
}

func TestWaitsHonourTheContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  target.Config
		path string
	}{
		{"latency", target.Config{Latency: time.Minute}, "/"},
		{"delay route", target.Config{}, "/delay/30000"},
		{"saturate hold", target.Config{Profile: target.Saturate, Slots: 1, Hold: time.Minute}, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, err := target.New(tc.cfg)
				require.NoError(t, err)
				defer srv.Close()
				ctx, cancel := context.WithCancel(t.Context())
				var wg sync.WaitGroup
				var got [2]int
				for i := range got {
					wg.Go(func() { got[i] = serve(ctx, srv.Handler(), "GET", tc.path).Code })
				}
				synctest.Wait()
				assert.Equal(t, int64(2), srv.Stats().InFlight)
				t0 := time.Now()
				cancel()
				wg.Wait()
				assert.Zero(t, time.Since(t0), "freed at once")
				assert.Equal(t, [2]int{499, 499}, got)
				assert.Equal(t, uint64(2), srv.Stats().Cancelled)
				assert.Zero(t, srv.Stats().InFlight)
			})
		})
	}
}

// A client that gives up over real HTTP frees its handler.
func TestCancelledClientFreesHandler(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{Latency: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL()+"/", nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Eventually(t, func() bool { return srv.Stats().InFlight == 0 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), srv.Stats().Cancelled)
}

func TestSaturateOverLoopback(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{Profile: target.Saturate, Slots: 2, Hold: 5 * time.Millisecond, CPUWork: 200 * time.Microsecond})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 6 {
		wg.Go(func() {
			for range 5 {
				if code, _ := do(t, c, "GET", srv.URL()+"/", ""); code == 200 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 30, ok)
	assert.LessOrEqual(t, srv.Stats().PeakSlotsInUse, int64(2))
	assert.Positive(t, srv.Stats().PeakSlotsInUse)
}
