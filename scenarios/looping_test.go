package scenarios

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConstantVUsRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		gracefulStop *time.Duration
		cancelAt     time.Duration
		cause        error
		completed    int
		interrupted  int
		took         time.Duration
	}{
		// 2 VUs, iterations of 1.5s for 5s: each VU starts at 0, 1.5, 3, 4.5.
		{name: "default gracefulStop lets the last iterations finish", completed: 8, took: sec(6)},
		{name: "gracefulStop cuts the last iterations", gracefulStop: ptr(sec(0.5)), completed: 6, interrupted: 2, took: sec(5.5)},
		{name: "explicit zero gracefulStop interrupts at the end", gracefulStop: ptr(time.Duration(0)), completed: 6, interrupted: 2, took: sec(5)},
		{name: "cancel ends the schedule and grants gracefulStop", cancelAt: sec(2.5), completed: 4, took: sec(3)},
		{name: "cancel with short gracefulStop", cancelAt: sec(2.5), gracefulStop: ptr(sec(0.2)), completed: 2, interrupted: 2, took: sec(2.7)},
		{name: "hard stop interrupts at once", cancelAt: sec(2.5), cause: ErrHardStop, completed: 2, interrupted: 2, took: sec(2.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(sec(1.5))
				ctx := context.Background()
				if tt.cancelAt > 0 {
					ctx = cancelAt(t, tt.cancelAt, tt.cause)
				}
				cfg := ConstantVUs{VUs: 2, Duration: 5 * time.Second, Common: Common{GracefulStop: tt.gracefulStop}}
				ex := cfg.NewExecutor("cv", nil)
				took := run(t, ex, ctx, h)
				assert.Equal(t, tt.took, took)
				completed, interrupted := h.counts()
				assert.Equal(t, tt.completed, completed)
				assert.Equal(t, tt.interrupted, interrupted)
				p := ex.Progress()
				assert.Equal(t, uint64(tt.completed), p.Completed)
				assert.Equal(t, uint64(tt.interrupted), p.Interrupted)
				assert.True(t, p.Done)
				assert.Equal(t, int64(0), p.ActiveVUs)
				assert.Equal(t, int64(2), p.MaxVUs)
				assert.Empty(t, h.sampleValues(metrics.DroppedIterations), "constant-vus never drops")
				h.checkPool(t)
			})
		})
	}
}

func TestConstantVUsProgressWhileRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(sec(1.5))
		ex := ConstantVUs{VUs: 2, Duration: 5 * time.Second}.NewExecutor("cv", nil)
		done := make(chan error)
		go func() { done <- ex.Run(context.Background(), h.runtime()) }()
		time.Sleep(sec(2))
		synctest.Wait()
		p := ex.Progress()
		assert.InDelta(t, 0.4, p.Fraction, 1e-9)
		assert.Equal(t, sec(2), p.Elapsed)
		assert.Equal(t, 5*time.Second, p.Duration)
		assert.Equal(t, int64(2), p.ActiveVUs)
		assert.Equal(t, uint64(2), p.Completed)
		assert.False(t, p.Done)
		require.NoError(t, <-done)
		assert.Equal(t, sec(6), ex.Progress().Elapsed)
	})
}

func TestSharedIterationsRun(t *testing.T) {
	t.Parallel()
	t.Run("fast VUs do more", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(0)
			h.iterDur = func(vu int, _ Iteration) time.Duration { return []time.Duration{0, sec(1), sec(2), sec(3.5)}[vu] }
			ex := SharedIterations{VUs: 3, Iterations: 10}.NewExecutor("si", nil)
			took := run(t, ex, context.Background(), h)
			assert.Equal(t, sec(7), took, "the slow VU's second iteration ends last")
			assert.Equal(t, map[int]int{1: 5, 2: 3, 3: 2}, h.perVU())
			var nums []uint64
			for _, e := range h.eventList() {
				assert.Equal(t, e.It.InScenario, e.It.InTest)
				nums = append(nums, e.It.InScenario)
			}
			assert.ElementsMatch(t, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nums)
			assert.Empty(t, h.sampleValues(metrics.DroppedIterations))
			p := ex.Progress()
			assert.Equal(t, 1.0, p.Fraction)
			assert.Equal(t, uint64(10), p.Completed)
			h.checkPool(t)
		})
	})
	tests := []struct {
		name         string
		gracefulStop *time.Duration
		completed    int
		interrupted  int
		took         time.Duration
	}{
		// 2 VUs, 10 iterations of 1.2s, maxDuration 3s: starts at 0, 1.2, 2.4.
		{name: "maxDuration drops the rest", completed: 6, took: sec(3.6)},
		{name: "gracefulStop interrupts after maxDuration", gracefulStop: ptr(sec(0.5)), completed: 4, interrupted: 2, took: sec(3.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(sec(1.2))
				cfg := SharedIterations{VUs: 2, Iterations: 10, MaxDuration: 3 * time.Second, Common: Common{GracefulStop: tt.gracefulStop}}
				ex := cfg.NewExecutor("si", nil)
				assert.Equal(t, tt.took, run(t, ex, context.Background(), h))
				completed, interrupted := h.counts()
				assert.Equal(t, tt.completed, completed)
				assert.Equal(t, tt.interrupted, interrupted)
				assert.Equal(t, []float64{4}, h.sampleValues(metrics.DroppedIterations), "one sample for all iterations not started")
				assert.Equal(t, uint64(4), ex.Progress().Dropped)
				h.checkSampleTags(t, "si")
				h.checkPool(t)
			})
		})
	}
}

func TestPerVUIterationsRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		iterations int64
		completed  int
		dropped    []float64
	}{
		// 2 VUs, iterations of 1.2s, maxDuration 3s: starts at 0, 1.2, 2.4.
		{name: "all iterations fit", iterations: 3, completed: 6},
		{name: "each VU drops what it did not start", iterations: 5, completed: 6, dropped: []float64{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(sec(1.2))
				ex := PerVUIterations{VUs: 2, Iterations: tt.iterations, MaxDuration: 3 * time.Second}.NewExecutor("pvi", nil)
				assert.Equal(t, sec(3.6), run(t, ex, context.Background(), h))
				completed, _ := h.counts()
				assert.Equal(t, tt.completed, completed)
				assert.Equal(t, map[int]int{1: 3, 2: 3}, h.perVU())
				assert.Equal(t, tt.dropped, h.sampleValues(metrics.DroppedIterations))
				h.checkSampleTags(t, "pvi")
				h.checkPool(t)
			})
		})
	}
}

func TestExecutorRunErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(0)
	ex := ConstantVUs{VUs: -1}.NewExecutor("bad", nil)
	err := ex.Run(context.Background(), h.runtime())
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, `scenario "bad"`)
	assert.ErrorContains(t, err, "vus: must be > 0, got -1")

	ex = ConstantVUs{Duration: time.Second}.NewExecutor("nopool", nil)
	require.Error(t, ex.Run(context.Background(), Runtime{}))
	require.ErrorContains(t, ex.Run(context.Background(), h.runtime()), "Run called twice")

	h.limit = 1
	ex = ConstantVUs{VUs: 3, Duration: time.Second}.NewExecutor("few", nil)
	require.ErrorContains(t, ex.Run(context.Background(), h.runtime()), "getting VU 2 of 3")
	h.checkPool(t)
}

// TestIterationNumbersAcrossSegments: instances of shared- and
// per-vu-iterations running side by side number their iterations so that
// together they are exactly 0 … total-1.
func TestIterationNumbersAcrossSegments(t *testing.T) {
	t.Parallel()
	configs := []struct {
		cfg   Config
		total int
	}{
		{SharedIterations{VUs: 5, Iterations: 23}, 23},
		{PerVUIterations{VUs: 5, Iterations: 4}, 20},
	}
	for _, c := range configs {
		for _, seq := range []string{"0,1/3,2/3,1", "0,0.3,0.5,0.6,1", "0,1/2,1"} {
			t.Run(c.cfg.Type()+"/"+seq, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					q, err := ParseExecutionSegmentSequence(seq)
					require.NoError(t, err)
					var (
						mu  sync.Mutex
						got []int
						wg  sync.WaitGroup
					)
					for _, et := range tuples(t, q) {
						wg.Go(func() {
							h := newHarness(time.Second)
							assert.NoError(t, c.cfg.NewExecutor("n", et).Run(context.Background(), h.runtime()))
							mu.Lock()
							defer mu.Unlock()
							for _, e := range h.eventList() {
								got = append(got, int(e.It.InTest))
							}
						})
					}
					wg.Wait()
					slices.Sort(got)
					want := make([]int, c.total)
					for i := range want {
						want[i] = i
					}
					assert.Equal(t, want, got)
				})
			})
		}
	}
}
