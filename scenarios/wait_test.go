package scenarios

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaiterClock(t *testing.T) {
	t.Parallel()
	assert.Equal(t, runtime.GOOS == "linux", canSleepPrecisely(), "precise outside a bubble on Linux")
	synctest.Test(t, func(t *testing.T) {
		assert.False(t, canSleepPrecisely(), "the fake clock needs timers")
		w := newWaiter()
		defer w.stop()
		start := time.Now()
		assert.True(t, w.sleepUntil(context.Background(), start.Add(1500*time.Microsecond)))
		assert.Equal(t, 1500*time.Microsecond, time.Since(start), "to the nanosecond on the fake clock")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Millisecond, cancel)
		assert.False(t, w.sleepUntil(ctx, time.Now().Add(time.Hour)))
	})
}

func TestWaiterPrecise(t *testing.T) {
	t.Parallel()
	if !canSleepPrecisely() {
		t.Skip("no precise sleep on " + runtime.GOOS)
	}
	w := newWaiter()
	defer w.stop()
	// Sub-millisecond and longer waits sleep, never spin: a few calls per
	// wait (a kernel sleep may end early on a signal), not thousands.
	// Precision is the benchmark's business, not a timed test's.
	for _, d := range []time.Duration{300 * time.Microsecond, 1500 * time.Microsecond, 3 * time.Millisecond} {
		due := time.Now().Add(d)
		calls := 0
		for time.Now().Before(due) {
			require.True(t, w.sleepUntil(context.Background(), due))
			calls++
		}
		assert.LessOrEqual(t, calls, 20, "waiting %s", d)
	}
}
