package js

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/grafana/sobek"
)

// eventLoop runs a VU's timers (setTimeout, setInterval) and settles the
// promises of its background tasks (http.asyncRequest) on the VU's own
// goroutine: an iteration ends when its function has returned and no timer
// nor task is left, as in k6. Promise jobs run when each call from Go into
// the runtime returns. Only complete is safe for concurrent use.
type eventLoop struct {
	timers []*jsTimer
	nextID int64
	seq    uint64
	wait   *time.Timer

	tasks []task // started, not yet settled

	mu   sync.Mutex
	done []loopEvent   // to handle on the VU's goroutine, in order
	wake chan struct{} // has a value when done may have grown
}

// loopEvent is a task that completed, or a callback posted by a task still
// running (a message of a WebSocket).
type loopEvent struct {
	t  task
	fn func() error
}

// task is work that runs in the background for the script, such as a
// request of http.asyncRequest.
type task interface {
	// settle runs on the VU's goroutine once the task has completed: it
	// settles the task's promise. Its error (an interruption) ends the
	// loop.
	settle() error
	// abandon runs on the VU's goroutine when the loop ends before the
	// task was settled: it interrupts the task with cause, waits for it
	// and releases what it holds, running no JavaScript.
	abandon(cause error)
}

type jsTimer struct {
	id       int64
	at       time.Time
	seq      uint64
	fn       sobek.Callable
	args     []sobek.Value
	interval time.Duration // > 0 for setInterval
}

func (l *eventLoop) pending() bool { return len(l.timers) > 0 || len(l.tasks) > 0 }

// newEventLoop returns an empty loop.
func newEventLoop() eventLoop { return eventLoop{wake: make(chan struct{}, 1)} }

// start registers a task that has begun: the loop waits for it. Call
// complete when it has completed.
func (l *eventLoop) start(t task) { l.tasks = append(l.tasks, t) }

// complete queues t to be settled on the VU's goroutine. It is safe for
// concurrent use and does not block.
func (l *eventLoop) complete(t task) { l.push(loopEvent{t: t}) }

// post queues fn to run on the VU's goroutine while a task is running; its
// error (an exception of a callback) ends the loop. It is safe for
// concurrent use and does not block. Posts after the loop was cleared are
// dropped.
func (l *eventLoop) post(fn func() error) { l.push(loopEvent{fn: fn}) }

func (l *eventLoop) push(e loopEvent) {
	l.mu.Lock()
	l.done = append(l.done, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// settleDone settles the tasks that have completed, in the order they
// did.
func (l *eventLoop) settleDone() error {
	l.mu.Lock()
	done := l.done
	l.done = nil
	l.mu.Unlock()
	for _, e := range done {
		if e.fn != nil {
			if err := e.fn(); err != nil {
				return err
			}
			continue
		}
		l.tasks = slices.DeleteFunc(l.tasks, func(x task) bool { return x == e.t })
		if err := e.t.settle(); err != nil {
			return err // clear abandons the others, still in tasks
		}
	}
	return nil
}

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

// clear drops the timers and abandons the tasks left, interrupting them
// with cause.
func (l *eventLoop) clear(cause error) {
	clear(l.timers)
	l.timers = l.timers[:0]
	for _, t := range l.tasks {
		t.abandon(cause)
	}
	clear(l.tasks)
	l.tasks = l.tasks[:0]
	l.mu.Lock()
	l.done = nil
	l.mu.Unlock()
	select {
	case <-l.wake:
	default:
	}
}

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

// run fires timers in order and settles tasks as they complete until none
// is left, ctx ends (its cause is returned, the timers dropped, the tasks
// interrupted) or a callback throws (its error).
func (l *eventLoop) run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			l.clear(err)
		}
	}()
	for l.pending() {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := l.settleDone(); err != nil {
			return err
		}
		var due <-chan time.Time
		if len(l.timers) > 0 {
			i := l.next()
			t := l.timers[i]
			if wait := time.Until(t.at); wait > 0 {
				if l.wait == nil {
					l.wait = time.NewTimer(wait)
				} else {
					l.wait.Reset(wait)
				}
				due = l.wait.C
			} else {
				if err := l.fire(i); err != nil {
					return err
				}
				continue
			}
		} else if len(l.tasks) == 0 {
			continue // settling emptied the loop
		}
		select {
		case <-due:
		case <-l.wake:
		case <-ctx.Done():
		}
		if due != nil {
			l.wait.Stop()
		}
	}
	return nil
}

// fire runs the i-th timer, rescheduling it when it repeats.
func (l *eventLoop) fire(i int) error {
	t := l.timers[i]
	if t.interval > 0 {
		l.seq++
		t.at, t.seq = time.Now().Add(t.interval), l.seq
	} else {
		l.timers = append(l.timers[:i], l.timers[i+1:]...)
	}
	_, err := t.fn(sobek.Undefined(), t.args...)
	return err
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
