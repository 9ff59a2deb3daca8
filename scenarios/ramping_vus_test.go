package scenarios

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rampExample: 2 VUs, up to 5 over 3s, hold 2s, down to 1 over 4s, jump to
// 3, down to 0 over 2s (the end, 11s, is not a step).
var rampExample = RampingVUs{
	StartVUs: ptr(int64(2)),
	Stages: []Stage{
		{3 * time.Second, 5}, {2 * time.Second, 5}, {4 * time.Second, 1}, {0, 3}, {2 * time.Second, 0},
	},
}

func TestRampingVUsSteps(t *testing.T) {
	t.Parallel()
	third, twoThirds := 9*time.Second+666666667, 10*time.Second+333333334 // ⌈2s/3⌉, ⌈4s/3⌉ after 9s
	tests := []struct {
		seg, seq string
		want     []vuChange
	}{
		{"", "", []vuChange{
			{0, 2}, {1 * time.Second, 3}, {2 * time.Second, 4}, {3 * time.Second, 5},
			{6 * time.Second, 4}, {7 * time.Second, 3}, {8 * time.Second, 2}, {9 * time.Second, 3},
			{third, 2}, {twoThirds, 1},
		}},
		{"0:1/2", "", []vuChange{{0, 1}, {1 * time.Second, 2}, {3 * time.Second, 3}, {6 * time.Second, 2}, {8 * time.Second, 1}, {9 * time.Second, 2}, {third, 1}}},
		{"1/2:1", "", []vuChange{{0, 1}, {2 * time.Second, 2}, {7 * time.Second, 1}, {twoThirds, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.seg, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, rampExample.vuSteps(mustTuple(t, tt.seg, tt.seq)))
		})
	}
}

func TestRampingVUsRequirements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		stages   []Stage // nil: rampExample's
		grd, gs  time.Duration
		expected []VUStep
	}{
		{
			// Removed VUs stay reserved for 1s; the stages end (11s) at 0
			// VUs, so the last one is ramped down too and the scenario
			// ends gracefulRampDown later (k6 inspect: stages + min(grd,
			// gracefulStop) when the last target is 0).
			name: "short ramp-down window", grd: time.Second, gs: 2 * time.Second,
			expected: []VUStep{
				{Offset: 0, Planned: 2}, {Offset: time.Second, Planned: 3}, {Offset: 2 * time.Second, Planned: 4},
				{Offset: 3 * time.Second, Planned: 5}, {Offset: 7 * time.Second, Planned: 4}, {Offset: 8 * time.Second, Planned: 3},
				{Offset: 10*time.Second + 666666667, Planned: 2}, {Offset: 11*time.Second + 333333334, Planned: 1},
				{Offset: 12 * time.Second},
			},
		},
		{
			// A VU removed at 6s is reserved until 36s, before the 41s end.
			name: "defaults reserve for 30s", grd: DefaultGracefulRampDown, gs: DefaultGracefulStop,
			expected: []VUStep{
				{Offset: 0, Planned: 2}, {Offset: time.Second, Planned: 3}, {Offset: 2 * time.Second, Planned: 4},
				{Offset: 3 * time.Second, Planned: 5}, {Offset: 36 * time.Second, Planned: 4}, {Offset: 37 * time.Second, Planned: 3},
				{Offset: 39*time.Second + 666666667, Planned: 2}, {Offset: 40*time.Second + 333333334, Planned: 1},
				{Offset: 41 * time.Second},
			},
		},
		{
			// 2→0 over 2s (1 at 1s, 0 at 2s), then 0 until the 4s end:
			// the reservation reaches 0 at 3s, before the end; no step for
			// the end.
			name: "ends at zero before the end", stages: []Stage{{2 * time.Second, 0}, {2 * time.Second, 0}},
			grd: time.Second, gs: 2 * time.Second,
			expected: []VUStep{{Offset: 0, Planned: 2}, {Offset: 2 * time.Second, Planned: 1}, {Offset: 3 * time.Second}},
		},
		{
			// k6 v2.2.0 on startVUs 2, one 0s stage to 5, gracefulStop 0s:
			// "5 max VUs, 0s max duration".
			name: "zero length initialises the peak", stages: []Stage{{0, 5}}, grd: 0, gs: 0,
			expected: []VUStep{{Offset: 0, Planned: 5}},
		},
		{
			name: "no grace: the raw steps", grd: 0, gs: 0,
			expected: []VUStep{
				{Offset: 0, Planned: 2}, {Offset: time.Second, Planned: 3}, {Offset: 2 * time.Second, Planned: 4},
				{Offset: 3 * time.Second, Planned: 5}, {Offset: 6 * time.Second, Planned: 4}, {Offset: 7 * time.Second, Planned: 3},
				{Offset: 8 * time.Second, Planned: 2}, {Offset: 9 * time.Second, Planned: 3}, {Offset: 9*time.Second + 666666667, Planned: 2},
				{Offset: 10*time.Second + 333333334, Planned: 1}, {Offset: 11 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rampExample
			if tt.stages != nil {
				c.Stages = tt.stages
			}
			c.GracefulRampDown, c.GracefulStop = &tt.grd, &tt.gs
			assert.Equal(t, tt.expected, c.Requirements(nil))
		})
	}
}

// TestRampingVUsStepsAddUp: for 2-, 3-, 4- and 100-way splits the
// instances' VU counts add up to the whole count at every instant.
func TestRampingVUsStepsAddUp(t *testing.T) {
	t.Parallel()
	configs := []RampingVUs{
		rampExample,
		{StartVUs: ptr(int64(0)), Stages: []Stage{{10 * time.Second, 250}, {7 * time.Second, 3}, {0, 40}, {3 * time.Second, 41}, {5 * time.Second, 0}}},
		{Stages: []Stage{{time.Second, 1000}, {1500 * time.Millisecond, 999}, {time.Second, 0}}},
	}
	qs, splitEts := splitTuples(t)
	for _, c := range configs {
		whole := c.vuSteps(nil)
		for qi, q := range qs {
			parts := make([][]vuChange, 0, len(q)+1)
			for _, et := range splitEts[qi] {
				parts = append(parts, c.vuSteps(et))
			}
			parts = append(parts, whole)
			// Every change of any instance, and the instants just before.
			var instants []time.Duration
			for _, p := range parts {
				for _, s := range p {
					instants = append(instants, s.At, s.At-1)
				}
			}
			slices.Sort(instants)
			next := make([]int, len(parts)) // per part: index of its next change
			cur := make([]int64, len(parts))
			for _, at := range slices.Compact(instants) {
				var sum int64
				for i, p := range parts {
					for next[i] < len(p) && p[next[i]].At <= at {
						cur[i] = p[next[i]].VUs
						next[i]++
					}
					if i < len(parts)-1 {
						sum += cur[i]
					}
				}
				if sum != cur[len(parts)-1] {
					t.Fatalf("split %s at %s: instances sum to %d VUs, whole test has %d", q, at, sum, cur[len(parts)-1])
				}
			}
		}
	}
}

// lastIteration returns each VU's last event.
func lastIteration(h *harness) map[int]event {
	out := map[int]event{}
	for _, e := range h.eventList() {
		if e.Start >= out[e.VU].Start {
			out[e.VU] = e
		}
	}
	return out
}

func TestRampingVUsRun(t *testing.T) {
	t.Parallel()
	// 0→3 VUs over 3s (VUs start at 1, 2, 3s), 3→0 over 3s (the newest
	// stops at 4s, then 5s, the first at the 6s end with gracefulStop 0).
	// Iterations take 0.7s, so VU3 runs 3.7-4.4, VU2 4.8-5.5, VU1 5.9-6.6.
	tests := []struct {
		name string
		grd  time.Duration
		last map[int]event // VU → its last iteration's end and outcome
	}{
		{name: "zero gracefulRampDown interrupts at once", grd: 0, last: map[int]event{
			3: {End: sec(4)}, 2: {End: sec(5)}, 1: {End: sec(6)},
		}},
		{name: "gracefulRampDown cuts the last iteration", grd: sec(0.2), last: map[int]event{
			3: {End: sec(4.2)}, 2: {End: sec(5.2)}, 1: {End: sec(6)},
		}},
		{name: "gracefulRampDown lets the last iteration finish", grd: sec(0.6), last: map[int]event{
			3: {End: sec(4.4), Completed: true}, 2: {End: sec(5.5), Completed: true}, 1: {End: sec(6)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(sec(0.7))
				cfg := RampingVUs{
					StartVUs:         ptr(int64(0)),
					Stages:           []Stage{{3 * time.Second, 3}, {3 * time.Second, 0}},
					GracefulRampDown: &tt.grd,
					Common:           Common{GracefulStop: ptr(time.Duration(0))},
				}
				ex := cfg.NewExecutor("rv", nil)
				done := make(chan time.Duration)
				go func() { done <- run(t, ex, context.Background(), h) }()
				var active []int64
				for range 6 {
					time.Sleep(time.Second)
					synctest.Wait()
					active = append(active, ex.Progress().ActiveVUs)
				}
				assert.Equal(t, sec(6), <-done)
				if tt.grd == 0 {
					assert.Equal(t, []int64{1, 2, 3, 2, 1, 0}, active, "VUs at 1s … 6s")
				}
				got := lastIteration(h)
				for vu, want := range tt.last {
					assert.Equal(t, want.End, got[vu].End, "VU %d", vu)
					assert.Equal(t, want.Completed, got[vu].Completed, "VU %d", vu)
				}
				first := map[int]time.Duration{}
				for _, e := range h.eventList() {
					if _, ok := first[e.VU]; !ok {
						first[e.VU] = e.Start
					}
				}
				assert.Equal(t, map[int]time.Duration{1: sec(1), 2: sec(2), 3: sec(3)}, first, "one VU per second")
				assert.Equal(t, int64(3), ex.Progress().MaxVUs)
				h.checkPool(t)
			})
		})
	}
}

func TestRampingVUsReactivation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// VU2 starts at 1s; the count drops at 2s and rises at 2.3s while
		// VU2's iteration (1.0-2.5s) still runs: it goes on looping, with
		// no interruption and no new VU, until the 4s end.
		h := newHarness(sec(1.5))
		cfg := RampingVUs{
			Stages: []Stage{{time.Second, 2}, {time.Second, 1}, {sec(0.3), 2}, {sec(1.7), 2}},
			Common: Common{GracefulStop: ptr(sec(1))},
		}
		run(t, cfg.NewExecutor("rv", nil), context.Background(), h)
		var vu2 []time.Duration
		for _, e := range h.eventList() {
			assert.True(t, e.Completed)
			if e.VU == 2 {
				vu2 = append(vu2, e.Start)
			}
		}
		assert.Equal(t, []time.Duration{sec(1), sec(2.5)}, vu2)
		h.mu.Lock()
		assert.Equal(t, 2, h.gets)
		h.mu.Unlock()
		h.checkPool(t)
	})
}

// requirementsByDefinition is Requirements as its doc defines it, rescanning
// the window for every instant: quadratic, for checking the fast one.
func requirementsByDefinition(c RampingVUs, et *ExecutionTuple) []VUStep {
	steps := c.vuSteps(et)
	end := stagesDuration(c.Stages)
	grd, final := c.gracefulRampDown(), end+c.grace()
	if final == 0 {
		return []VUStep{{Planned: et.ScaleInt64(c.peak())}}
	}
	lastAt := steps[len(steps)-1].At
	maxOver := func(a, b time.Duration) int64 {
		var m int64
		for i, s := range steps {
			inEffectAtA := s.At <= a && (i+1 == len(steps) || steps[i+1].At > a)
			if inEffectAtA || (s.At > a && s.At <= b) {
				m = max(m, s.VUs)
			}
		}
		return m
	}
	times := []time.Duration{0, end}
	for _, s := range steps {
		times = append(times, s.At, s.At+grd)
	}
	slices.Sort(times)
	var out []VUStep
	for _, t := range slices.Compact(times) {
		if t >= final {
			break
		}
		planned := maxOver(min(max(t-grd, 0), lastAt), lastAt)
		if t < end {
			planned = maxOver(max(t-grd, 0), t)
		}
		if len(out) == 0 || out[len(out)-1].Planned != planned {
			out = append(out, VUStep{Offset: t, Planned: planned})
		}
	}
	if out[len(out)-1].Planned != 0 {
		out = append(out, VUStep{Offset: final})
	}
	return out
}

// Requirements agrees with its definition on random ramps, whole and split.
func TestRampingVUsRequirementsMatchDefinition(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 3))
	_, splitEts := splitTuples(t)
	for i := range 300 {
		c := RampingVUs{StartVUs: ptr(rng.Int64N(20))}
		for range 1 + rng.IntN(6) {
			c.Stages = append(c.Stages, Stage{time.Duration(rng.Int64N(8)) * 500 * time.Millisecond, rng.Int64N(60)})
		}
		grd, gs := time.Duration(rng.Int64N(5))*700*time.Millisecond, time.Duration(rng.Int64N(3))*time.Second
		c.GracefulRampDown, c.GracefulStop = &grd, &gs
		if c.peak() == 0 {
			continue
		}
		for _, et := range append([]*ExecutionTuple{nil}, splitEts[i%len(splitEts)]...) {
			require.Equal(t, requirementsByDefinition(c, et), c.Requirements(et), "%+v", c)
		}
	}
}

// BenchmarkRampingVUsRequirements100k is the agent's limit check of a
// quick-stress test of 100 000 VUs: quadratic, it never returned.
//
//	go test -run '^$' -bench RampingVUsRequirements -benchmem ./scenarios/
func BenchmarkRampingVUsRequirements100k(b *testing.B) {
	c := Stress(PresetParams{VUs: 100_000, Duration: time.Minute, RampUp: new(20 * time.Second)})["stress"].(RampingVUs)
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Requirements(nil)) == 0 {
			b.Fatal("no steps")
		}
	}
}

// TestRampingVUsRampsDownAtTheEnd holds k6 v2.2.0's run of 5 VUs ramped to
// 0 over 4s with gracefulRampDown 0s (gracefulStop the default 30s) and
// 3s iterations: "2 complete and 5 interrupted iterations" in 4.0s. The
// VU still looping when the stages end at 0 is ramped down too, not
// granted gracefulStop.
func TestRampingVUsRampsDownAtTheEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(sec(3))
		zero := time.Duration(0)
		cfg := RampingVUs{StartVUs: ptr(int64(5)), Stages: []Stage{{4 * time.Second, 0}}, GracefulRampDown: &zero}
		assert.Equal(t, 4*time.Second, cfg.End(), "k6 inspect: totalDuration 4s")
		ex := cfg.NewExecutor("rv", nil)
		assert.Equal(t, sec(4), run(t, ex, context.Background(), h))
		var completed, interrupted int
		for _, e := range h.eventList() {
			if e.Completed {
				completed++
			} else {
				interrupted++
			}
		}
		assert.Equal(t, 2, completed)
		assert.Equal(t, 5, interrupted)
		p := ex.Progress()
		assert.Equal(t, uint64(2), p.Completed)
		assert.Equal(t, uint64(5), p.Interrupted)
		h.checkPool(t)
	})
}

// TestRampingVUsEnd holds `k6 inspect --execution-requirements`'s
// totalDuration for 5 VUs over one 4s stage.
func TestRampingVUsEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		grd    time.Duration
		target int64
		want   time.Duration
	}{{0, 0, sec(4)}, {sec(10), 0, sec(14)}, {sec(50), 0, sec(34)}, {0, 2, sec(34)}} {
		cfg := RampingVUs{StartVUs: ptr(int64(5)), Stages: []Stage{{4 * time.Second, tc.target}}, GracefulRampDown: &tc.grd}
		assert.Equal(t, tc.want, cfg.End(), "gracefulRampDown %s, target %d", tc.grd, tc.target)
	}
}
