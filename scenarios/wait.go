package scenarios

import (
	"context"
	"math"
	"time"
)

// preciseBelow is the wait under which a precise waiter sleeps in the
// kernel instead of on a runtime timer.
const preciseBelow = 2 * time.Millisecond

// waiter sleeps the arrival-rate pacer until an iteration is due. The Go
// runtime parks an idle thread in epoll with whole milliseconds, so a timer
// for 200µs fires after about 1ms: at 5 000 iterations/s that is a median
// lateness of half a millisecond. Where the platform allows (Linux), a
// waiter therefore lets a timer cover all but the last millisecond of a
// long wait and sleeps the rest in the kernel (nanosleep: tens of µs of
// slack). It never spins. Under testing/synctest, whose fake clock only
// moves when goroutines block on timers, it uses timers alone.
type waiter struct {
	timer   *time.Timer
	precise bool
}

func newWaiter() *waiter {
	return &waiter{timer: time.NewTimer(time.Duration(math.MaxInt64)), precise: canSleepPrecisely()}
}

func (w *waiter) stop() { w.timer.Stop() }

// sleepUntil waits until due or less (the caller checks the clock again),
// and reports false when ctx ended first.
func (w *waiter) sleepUntil(ctx context.Context, due time.Time) bool {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err() == nil
	}
	if w.precise && d < preciseBelow {
		sleepPrecisely(d)
		return ctx.Err() == nil
	}
	if w.precise {
		d -= preciseBelow / 2
	}
	w.timer.Reset(d)
	select {
	case <-w.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
