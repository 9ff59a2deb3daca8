package js

import (
	"context"
	"time"

	"github.com/grafana/sobek"
)

// eventLoop runs a VU's timers (setTimeout, setInterval) on the VU's own
// goroutine: an iteration ends when its function has returned and no timer
// is left, as in k6. It starts no goroutines; promise jobs run when each
// call from Go into the runtime returns.
type eventLoop struct {
	timers []*jsTimer
	nextID int64
	seq    uint64
	wait   *time.Timer
}

type jsTimer struct {
	id       int64
	at       time.Time
	seq      uint64
	fn       sobek.Callable
	args     []sobek.Value
	interval time.Duration // > 0 for setInterval
}

func (l *eventLoop) pending() bool { return len(l.timers) > 0 }

// add schedules fn after d and returns the timer's id.
func (l *eventLoop) add(d time.Duration, fn sobek.Callable, args []sobek.Value, repeat bool) int64 {
	d = max(d, 0)
	l.nextID++
	l.seq++
	t := &jsTimer{id: l.nextID, at: time.Now().Add(d), seq: l.seq, fn: fn, args: args}
	if repeat {
		t.interval = max(d, time.Millisecond)
	}
	l.timers = append(l.timers, t)
	return t.id
}

// remove cancels a timer; unknown ids are ignored, as in browsers.
func (l *eventLoop) remove(id int64) {
	for i, t := range l.timers {
		if t.id == id {
			l.timers = append(l.timers[:i], l.timers[i+1:]...)
			return
		}
	}
}

func (l *eventLoop) clear() { clear(l.timers); l.timers = l.timers[:0] }

// next returns the index of the timer due first.
func (l *eventLoop) next() int {
	best := 0
	for i, t := range l.timers {
		b := l.timers[best]
		if t.at.Before(b.at) || t.at.Equal(b.at) && t.seq < b.seq {
			best = i
		}
	}
	return best
}

// run fires timers in order until none is left, ctx ends (its error is
// returned, the timers dropped) or a callback throws (its error).
func (l *eventLoop) run(ctx context.Context, vu *VU) error {
	for len(l.timers) > 0 {
		i := l.next()
		t := l.timers[i]
		if wait := time.Until(t.at); wait > 0 {
			if l.wait == nil {
				l.wait = time.NewTimer(wait)
			} else {
				l.wait.Reset(wait)
			}
			select {
			case <-l.wait.C:
			case <-ctx.Done():
				l.wait.Stop()
				l.clear()
				return context.Cause(ctx)
			}
		}
		if t.interval > 0 {
			l.seq++
			t.at, t.seq = time.Now().Add(t.interval), l.seq
		} else {
			l.timers = append(l.timers[:i], l.timers[i+1:]...)
		}
		if _, err := t.fn(sobek.Undefined(), t.args...); err != nil {
			l.clear()
			return err
		}
		if err := ctx.Err(); err != nil {
			l.clear()
			return context.Cause(ctx)
		}
	}
	return nil
}

// installTimers defines setTimeout, clearTimeout, setInterval and
// clearInterval on obj (the global object, or k6/timers' exports).
func (vu *VU) timerFuncs() map[string]func(sobek.FunctionCall) sobek.Value {
	set := func(repeat bool) func(sobek.FunctionCall) sobek.Value {
		return func(call sobek.FunctionCall) sobek.Value {
			fn, ok := sobek.AssertFunction(call.Argument(0))
			if !ok {
				vu.typeErrorf("setTimeout: the callback must be a function")
			}
			ms := call.Argument(1).ToFloat()
			if ms != ms { // NaN
				ms = 0
			}
			var args []sobek.Value
			if len(call.Arguments) > 2 {
				args = append(args, call.Arguments[2:]...)
			}
			return vu.rt.ToValue(vu.loop.add(time.Duration(ms*float64(time.Millisecond)), fn, args, repeat))
		}
	}
	clearFn := func(call sobek.FunctionCall) sobek.Value {
		vu.loop.remove(call.Argument(0).ToInteger())
		return sobek.Undefined()
	}
	return map[string]func(sobek.FunctionCall) sobek.Value{
		"setTimeout": set(false), "setInterval": set(true), "clearTimeout": clearFn, "clearInterval": clearFn,
	}
}
