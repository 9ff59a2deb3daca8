package scenarios

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"time"
)

// vuSet is the VUs of a ramping-vus or externally-controlled run: handle i
// is the i-th VU to start, and scaling down stops the newest first. One
// controlling goroutine calls scale, applyStops, nextStop and drain; the
// VUs' own goroutines only touch their handle under its lock.
type vuSet struct {
	t       *tracker
	rt      Runtime
	st      *stopper
	iterate func(ctx context.Context, vu VU) // runs one numbered iteration

	wg      sync.WaitGroup
	handles []*vuHandle
	active  int       // handles wanted now: 0 … active-1
	stops   stopQueue // pending gracefulRampDown deadlines
}

// vuHandle is one VU slot. Its VU is taken from the pool when the slot
// starts and given back when its goroutine ends.
type vuHandle struct {
	mu     sync.Mutex
	wanted bool // the schedule wants this VU looping
	alive  bool // its goroutine runs
	life   context.Context
	cancel context.CancelCauseFunc

	gen int // controller-owned: bumped on each activation to void old stops
}

// noRampDownLimit lets VUs stopped by a scale-down finish their iteration
// however long it takes (externally-controlled).
const noRampDownLimit = time.Duration(-1)

// scale makes n VUs wanted. New ones are taken from the pool (ctx bounds the
// wait); removed ones, newest first, finish their iteration and are
// interrupted rampDown after now unless wanted again before.
func (s *vuSet) scale(ctx context.Context, n int, now time.Time, rampDown time.Duration) error {
	for s.active < n {
		if err := s.activate(ctx, s.active); err != nil {
			return err
		}
		s.active++
	}
	for s.active > n {
		s.active--
		h := s.handles[s.active]
		h.mu.Lock()
		h.wanted = false
		h.mu.Unlock()
		if rampDown != noRampDownLimit {
			heap.Push(&s.stops, pendingStop{at: now.Add(rampDown), handle: s.active, gen: h.gen})
		}
	}
	return nil
}

func (s *vuSet) activate(ctx context.Context, i int) error {
	if i == len(s.handles) {
		s.handles = append(s.handles, &vuHandle{})
	}
	h := s.handles[i]
	h.gen++ // a pending ramp-down stop no longer applies
	h.mu.Lock()
	h.wanted = true
	if h.alive {
		// Still finishing its last iteration: it just goes on looping.
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()
	vu, err := s.rt.Pool.Get(ctx)
	if err != nil {
		h.mu.Lock()
		h.wanted = false
		h.mu.Unlock()
		return err
	}
	h.mu.Lock()
	h.alive = true
	h.life, h.cancel = context.WithCancelCause(s.st.hard)
	h.mu.Unlock()
	s.t.active.Add(1)
	s.wg.Go(func() { s.loop(h, vu) })
	return nil
}

// loop runs iterations while the VU is wanted and the schedule runs.
func (s *vuSet) loop(h *vuHandle, vu VU) {
	defer func() {
		s.rt.Pool.Put(vu)
		s.t.active.Add(-1)
	}()
	for {
		h.mu.Lock()
		if !h.wanted || !s.st.running() {
			h.alive = false
			h.cancel(errRampedDown)
			h.mu.Unlock()
			return
		}
		if h.life.Err() != nil {
			// Interrupted in a ramp-down, then wanted again before it
			// noticed: carry on with a fresh context.
			h.life, h.cancel = context.WithCancelCause(s.st.hard)
		}
		ctx := h.life
		h.mu.Unlock()
		s.iterate(ctx, vu)
	}
}

// applyStops interrupts the iterations of VUs whose gracefulRampDown ended
// by now.
func (s *vuSet) applyStops(now time.Time) {
	for s.stops.Len() > 0 && !s.stops[0].at.After(now) {
		p := heap.Pop(&s.stops).(pendingStop)
		h := s.handles[p.handle]
		if p.gen != h.gen {
			continue // wanted again since
		}
		h.mu.Lock()
		if !h.wanted && h.alive {
			h.cancel(errRampedDown)
		}
		h.mu.Unlock()
	}
}

// nextStop returns the earliest pending ramp-down deadline.
func (s *vuSet) nextStop() (time.Time, bool) {
	for s.stops.Len() > 0 {
		p := s.stops[0]
		if p.gen == s.handles[p.handle].gen {
			return p.at, true
		}
		heap.Pop(&s.stops)
	}
	return time.Time{}, false
}

// drain waits, once the schedule has ended, for every VU goroutine, still
// applying ramp-down deadlines that fall before gracefulStop's.
func (s *vuSet) drain() {
	done := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		s.wg.Wait()
		close(done)
	})
	defer waiter.Wait()
	timer := time.NewTimer(time.Duration(math.MaxInt64))
	defer timer.Stop()
	for {
		at, ok := s.nextStop()
		if !ok {
			<-done
			return
		}
		timer.Reset(time.Until(at))
		select {
		case <-done:
			return
		case <-timer.C:
			s.applyStops(time.Now())
		}
	}
}

type pendingStop struct {
	at     time.Time
	handle int
	gen    int
}

type stopQueue []pendingStop

func (q stopQueue) Len() int           { return len(q) }
func (q stopQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q stopQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *stopQueue) Push(x any)        { *q = append(*q, x.(pendingStop)) }
func (q *stopQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
