package scenarios

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConstantArrivalRateRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		iter         time.Duration
		preAllocated int64
		maxVUs       int64
		initDelay    time.Duration
		startedIters []uint64 // InTest of the started iterations
		dropped      int
		initialised  int64
		warnings     int
		took         time.Duration
	}{
		{
			name: "enough VUs: every iteration on schedule", iter: sec(0.15), preAllocated: 2,
			startedIters: []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, initialised: 2, took: sec(1.05),
		},
		{
			// Two VUs busy for 0.35s each: the iterations at 0.2, 0.3, 0.6
			// and 0.7 find no idle VU.
			name: "busy VUs drop iterations, never queue them", iter: sec(0.35), preAllocated: 2,
			startedIters: []uint64{0, 1, 4, 5, 8, 9}, dropped: 4, initialised: 2, warnings: 1, took: sec(1.25),
		},
		{
			// One VU; each drop starts initialising one more (50ms) up to 3.
			name: "drops initialise unplanned VUs one at a time", iter: sec(0.35), preAllocated: 1, maxVUs: 3, initDelay: sec(0.05),
			startedIters: []uint64{0, 2, 4, 5, 6, 8, 9}, dropped: 3, initialised: 3, warnings: 1, took: sec(1.25),
		},
		{
			name: "no preallocated VUs", iter: sec(0.05), maxVUs: 1, initDelay: sec(0.01),
			startedIters: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, dropped: 1, initialised: 1, took: sec(0.95),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(tt.iter)
				h.preinit, h.initDelay = int(tt.preAllocated), tt.initDelay
				cfg := ConstantArrivalRate{Rate: 10, Duration: time.Second, PreAllocatedVUs: tt.preAllocated, MaxVUs: tt.maxVUs}
				ex := cfg.NewExecutor("car", nil)
				assert.Equal(t, tt.took, run(t, ex, context.Background(), h))

				var started []uint64
				for i, e := range h.eventList() {
					started = append(started, e.It.InTest)
					assert.Equal(t, uint64(i), e.It.InScenario)
					due := time.Duration(e.It.InTest) * 100 * time.Millisecond
					assert.Equal(t, h.t0.Add(due), e.It.Scheduled, "iteration %d due at %s", e.It.InTest, due)
					assert.Equal(t, due, e.Start, "started on schedule")
					assert.True(t, e.Completed)
				}
				assert.Equal(t, tt.startedIters, started)
				assert.Equal(t, repeat(1.0, tt.dropped), h.sampleValues(metrics.DroppedIterations), "one sample per drop")
				assert.Equal(t, repeat(0.0, len(tt.startedIters)), h.sampleValues(metrics.IterationLateness), "one lateness sample per start")
				h.checkSampleTags(t, "car")
				p := ex.Progress()
				assert.Equal(t, uint64(tt.dropped), p.Dropped)
				assert.Equal(t, tt.initialised, p.MaxVUs, "initialised VUs")
				var warnings []string
				for _, l := range h.logs {
					if strings.Contains(l, "Insufficient VUs") {
						warnings = append(warnings, l)
					}
				}
				require.Len(t, warnings, tt.warnings, "k6's warning, logged once")
				if tt.warnings > 0 {
					assert.Contains(t, warnings[0], fmt.Sprintf("reached %d active VUs and cannot initialize more", tt.initialised))
					assert.Contains(t, warnings[0], "scenario=car")
					assert.Contains(t, warnings[0], "executor=constant-arrival-rate")
				}
				h.checkPool(t)
			})
		})
	}
}

func TestConstantArrivalRateStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                   string
		cause                  error
		completed, interrupted int
		took                   time.Duration
	}{
		// Iterations every 0.1s taking 0.3s, cancelled at 0.55s.
		{name: "cancel stops the schedule, running iterations finish", completed: 6, took: sec(0.8)},
		{name: "hard stop interrupts running iterations", cause: ErrHardStop, completed: 3, interrupted: 3, took: sec(0.55)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(sec(0.3))
				ex := ConstantArrivalRate{Rate: 10, Duration: 10 * time.Second, PreAllocatedVUs: 5}.NewExecutor("car", nil)
				took := run(t, ex, cancelAt(t, sec(0.55), tt.cause), h)
				assert.Equal(t, tt.took, took)
				completed, interrupted := h.counts()
				assert.Equal(t, tt.completed, completed)
				assert.Equal(t, tt.interrupted, interrupted)
				assert.Empty(t, h.sampleValues(metrics.DroppedIterations))
				h.checkPool(t)
			})
		})
	}
}

func TestConstantArrivalRateTimeUnit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(time.Second)
		ex := ConstantArrivalRate{Rate: 3, TimeUnit: time.Minute, Duration: time.Minute, PreAllocatedVUs: 1}.NewExecutor("car", nil)
		assert.Equal(t, 41*time.Second, run(t, ex, context.Background(), h))
		var starts []time.Duration
		for _, e := range h.eventList() {
			starts = append(starts, e.Start)
		}
		assert.Equal(t, []time.Duration{0, 20 * time.Second, 40 * time.Second}, starts)
	})
}

// rampExpect is the k-th (1-based) start of a ramp from a to b iterations/s
// over T seconds, solved directly: a·t + (b-a)·t²/(2T) = k.
func rampExpect(a, b, T, k float64) time.Duration {
	var t float64
	if a == b {
		t = k / a
	} else {
		t = (-a + math.Sqrt(a*a+2*k*(b-a)/T)) / ((b - a) / T)
	}
	return time.Duration(math.Round(t * float64(time.Second)))
}

func scheduleTimes(s schedule) (idx []int64, at []time.Duration) {
	for {
		gi, t, ok := s.next()
		if !ok {
			return idx, at
		}
		idx = append(idx, gi)
		at = append(at, t)
	}
}

func TestRampingArrivalRateSchedule(t *testing.T) {
	t.Parallel()
	var rampUp []time.Duration
	for k := 1.0; k <= 10; k++ {
		rampUp = append(rampUp, rampExpect(0, 10, 2, k))
	}
	for k := 1; k <= 9; k++ {
		rampUp = append(rampUp, 2*time.Second+time.Duration(k)*100*time.Millisecond)
	}
	var rampDown []time.Duration
	for k := 1.0; k <= 9; k++ {
		rampDown = append(rampDown, rampExpect(10, 0, 2, k))
	}
	tests := []struct {
		name string
		cfg  RampingArrivalRate
		want []time.Duration
	}{
		{
			// 0→10/s over 2s holds 10 iterations, the 10th at exactly 2s;
			// then 10/s: 2.1 … 2.9 (3.0 is the end, not run).
			name: "ramp up then flat",
			cfg:  RampingArrivalRate{Stages: []Stage{{2 * time.Second, 10}, {time.Second, 10}}},
			want: rampUp,
		},
		{
			name: "flat stage starts at 1/rate",
			cfg:  RampingArrivalRate{StartRate: 4, Stages: []Stage{{time.Second, 4}}},
			want: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond},
		},
		{
			name: "ramp down to zero",
			cfg:  RampingArrivalRate{StartRate: 10, Stages: []Stage{{2 * time.Second, 0}}},
			want: rampDown,
		},
		{
			name: "zero-duration stage jumps",
			cfg:  RampingArrivalRate{Stages: []Stage{{time.Second, 0}, {0, 5}, {time.Second, 5}}},
			want: []time.Duration{sec(1.2), sec(1.4), sec(1.6), sec(1.8)},
		},
		{
			name: "per-minute time unit",
			cfg:  RampingArrivalRate{StartRate: 60, TimeUnit: time.Minute, Stages: []Stage{{3 * time.Second, 60}}},
			want: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "nothing at rate zero",
			cfg:  RampingArrivalRate{Stages: []Stage{{time.Second, 0}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx, at := scheduleTimes(tt.cfg.schedule(nil))
			assert.Equal(t, tt.want, at)
			for i, gi := range idx {
				assert.Equal(t, int64(i), gi)
			}
		})
	}
}

func TestRampingArrivalRateRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(sec(0.05))
		cfg := RampingArrivalRate{PreAllocatedVUs: 2, Stages: []Stage{{2 * time.Second, 10}, {time.Second, 10}}}
		ex := cfg.NewExecutor("rar", nil)
		run(t, ex, context.Background(), h)
		_, want := scheduleTimes(cfg.schedule(nil))
		require.Len(t, want, 19)
		var got []time.Duration
		for _, e := range h.eventList() {
			got = append(got, e.Start)
			assert.Equal(t, h.t0.Add(e.Start), e.It.Scheduled)
		}
		assert.Equal(t, want, got)
		assert.Len(t, h.sampleValues(metrics.IterationLateness), 19)
		assert.Empty(t, h.sampleValues(metrics.DroppedIterations))
		p := ex.Progress()
		assert.Equal(t, uint64(19), p.Completed)
		assert.Equal(t, 3*time.Second, p.Duration)
		h.checkPool(t)
	})
}

// TestArrivalScheduleUnion: split over 2-, 3-, 4- and 100-way sequences, the
// instances' schedules are disjoint and together equal the single-instance
// schedule; their VUs add up to the scenario's.
func TestArrivalScheduleUnion(t *testing.T) {
	t.Parallel()
	configs := []struct {
		name  string
		sched func(et *ExecutionTuple) schedule
		split func(et *ExecutionTuple) arrivalSplit
	}{
		{
			name: "constant",
			sched: func(et *ExecutionTuple) schedule {
				return ConstantArrivalRate{Rate: 333, Duration: 3 * time.Second}.schedule(et)
			},
			split: func(et *ExecutionTuple) arrivalSplit { return mustSplit(t, et, 7, 120) },
		},
		{
			name: "ramping",
			sched: func(et *ExecutionTuple) schedule {
				cfg := RampingArrivalRate{StartRate: 5, TimeUnit: 500 * time.Millisecond, Stages: []Stage{{2 * time.Second, 200}, {0, 50}, {time.Second, 50}, {2 * time.Second, 0}}}
				return cfg.schedule(et)
			},
			split: func(et *ExecutionTuple) arrivalSplit { return mustSplit(t, et, 3, 200) },
		},
	}
	qs, splitEts := splitTuples(t)
	for _, c := range configs {
		wantIdx, wantAt := scheduleTimes(c.sched(nil))
		require.NotEmpty(t, wantIdx)
		for qi, q := range qs {
			got := map[int64]time.Duration{}
			var pre, maxVUs int64
			for _, et := range splitEts[qi] {
				s := c.split(et)
				pre += s.preAllocated
				maxVUs += s.maxVUs
				if s.maxVUs == 0 {
					continue
				}
				idx, at := scheduleTimes(c.sched(s.et))
				for i, gi := range idx {
					if _, dup := got[gi]; dup {
						t.Fatalf("%s %s: iteration %d in two instances", c.name, q, gi)
					}
					got[gi] = at[i]
				}
			}
			require.Len(t, got, len(wantIdx), "%s %s", c.name, q)
			for i, gi := range wantIdx {
				if got[gi] != wantAt[i] {
					t.Fatalf("%s %s: iteration %d at %s, single instance at %s", c.name, q, gi, got[gi], wantAt[i])
				}
			}
			assert.Equal(t, c.split(nil).preAllocated, pre)
			assert.Equal(t, c.split(nil).maxVUs, maxVUs)
		}
	}
}

// TestConstantArrivalRateSegmentsRun runs three instances side by side on
// the synctest clock: together they start exactly the single instance's
// iterations, at the same times.
func TestConstantArrivalRateSegmentsRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := ConstantArrivalRate{Rate: 30, Duration: time.Second, PreAllocatedVUs: 3}
		type start struct {
			gi uint64
			at time.Duration
		}
		var want []start
		whole := newHarness(sec(0.01))
		run(t, cfg.NewExecutor("car", nil), context.Background(), whole)
		for _, e := range whole.eventList() {
			want = append(want, start{e.It.InTest, e.Start})
		}
		require.Len(t, want, 30)

		var (
			got []start
			wg  sync.WaitGroup
			mu  sync.Mutex
		)
		for _, et := range tuples(t, EqualSegments(3)) {
			wg.Go(func() {
				h := newHarness(sec(0.01))
				ex := cfg.NewExecutor("car", et)
				assert.NoError(t, ex.Run(context.Background(), h.runtime()))
				assert.Equal(t, int64(1), ex.Progress().MaxVUs)
				mu.Lock()
				defer mu.Unlock()
				for _, e := range h.eventList() {
					got = append(got, start{e.It.InTest, e.Start})
				}
			})
		}
		wg.Wait()
		slices.SortFunc(got, func(a, b start) int { return int(a.gi) - int(b.gi) })
		assert.Equal(t, want, got)
	})
}

// repeat returns n copies of v, or nil for n = 0.
func repeat[T any](v T, n int) []T {
	if n == 0 {
		return nil
	}
	return slices.Repeat([]T{v}, n)
}

func mustSplit(t *testing.T, et *ExecutionTuple, preAllocated, maxVUs int64) arrivalSplit {
	t.Helper()
	s, err := splitArrival(et, preAllocated, maxVUs)
	require.NoError(t, err)
	return s
}

// TestSplitTooFine: re-splitting a prime number of VUs unevenly needs a
// striping cycle beyond MaxSegmentLCD; Run says so instead of running
// nothing.
func TestSplitTooFine(t *testing.T) {
	t.Parallel()
	et := mustTuple(t, "0:1/3", "")
	for _, cfg := range []Config{
		SharedIterations{VUs: 1_000_003, Iterations: 2_000_000},
		ConstantArrivalRate{Rate: 1, Duration: time.Second, PreAllocatedVUs: 1, MaxVUs: 1_000_003},
		RampingArrivalRate{Stages: []Stage{{time.Second, 1}}, MaxVUs: 1_000_003},
	} {
		err := cfg.NewExecutor("x", et).Run(context.Background(), newHarness(0).runtime())
		require.ErrorIs(t, err, ErrInvalidSegment, cfg.Type())
		assert.ErrorContains(t, err, "cycle longer than")
	}
}
