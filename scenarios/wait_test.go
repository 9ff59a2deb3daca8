package scenarios

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
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
	// A sub-millisecond wait must not be rounded up to the runtime's whole
	// millisecond; allow generous slack for a loaded machine. It never
	// wakes before the deadline minus the timer lead.
	var late []time.Duration
	for range 20 {
		due := time.Now().Add(300 * time.Microsecond)
		for time.Now().Before(due) {
			w.sleepUntil(context.Background(), due)
		}
		late = append(late, time.Since(due))
	}
	slices.Sort(late)
	assert.Less(t, late[len(late)/2], 700*time.Microsecond, "median lateness %s", late[len(late)/2])
}
