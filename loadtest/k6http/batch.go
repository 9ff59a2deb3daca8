package k6http

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/loadlens/loadlens/metrics"
)

// k6's defaults for http.batch.
const (
	DefaultBatch        = 20 // k6's batch option
	DefaultBatchPerHost = 6  // k6's batchPerHost option
)

// BatchLimits bound how many requests of a [Client.Batch] are in flight at
// once: k6's batch and batchPerHost options. The zero value is k6's
// defaults.
type BatchLimits struct {
	// Parallel is the most requests in flight at once: 0 means
	// DefaultBatch, a negative value no limit.
	Parallel int
	// PerHost is the most requests in flight to one host, the URL's
	// host[:port] as written: 0 means DefaultBatchPerHost, a negative
	// value no limit.
	PerHost int
}

func (l BatchLimits) parallel(n int) int {
	p := l.Parallel
	switch {
	case p == 0:
		p = DefaultBatch
	case p < 0:
		p = n
	}
	return min(p, n)
}

func (l BatchLimits) perHost() int {
	if l.PerHost == 0 {
		return DefaultBatchPerHost
	}
	return l.PerHost // < 0: no limit
}

// batchSlot is one of Batch's clients and the result its samples go to.
type batchSlot struct {
	c   *Client
	cur *batchResult
}

// batchResult is what one request of a batch gave.
type batchResult struct {
	resp    *Response
	err     error
	samples []metrics.Sample // copies of the emitted samples
	hops    []int            // where each hop's samples end in samples
}

// slot returns Batch's i-th client, made on first use with the client's
// settings and metrics; its samples go to the slot's current result.
func (c *Client) slot(i int) *batchSlot {
	for len(c.slots) <= i {
		c.slots = append(c.slots, c.newSlot())
	}
	return c.slots[i]
}

// newSlot returns a client with c's settings and metrics whose samples go
// to the slot's current result.
func (c *Client) newSlot() *batchSlot {
	s := &batchSlot{}
	var emit Emitter
	if c.emit != nil {
		emit = func(samples []metrics.Sample) {
			r := s.cur
			r.samples = append(r.samples, samples...)
			r.hops = append(r.hops, len(r.samples))
		}
	}
	st := c.s
	st.vuDefaults = nil // Batch and Start apply them on the caller's goroutine
	s.c = newClient(st, emit)
	s.c.m = c.m
	s.c.checkIdle = c.checkIdle
	s.c.tr = c.transport() // one net/http pool per VU, as k6: HTTP/2 connections are shared
	return s
}

// lend prepares s for a request of c: c's current jar, what c knows of
// HTTP/2 servers.
func (c *Client) lend(s *batchSlot) {
	s.c.jar, s.c.jarUsed = c.jar, c.jarUsed // the jar ResetCookies made last
	clear(s.c.h2)
	for k := range c.h2 {
		s.c.markHTTP2Key(k)
	}
}

// takeBack adds what s did for c to c: its bytes, its use of the jar,
// the HTTP/2 servers it found.
func (c *Client) takeBack(s *batchSlot) {
	c.jarUsed = c.jarUsed || s.c.jarUsed
	sent, received := s.c.TakeIO()
	c.sent.Add(sent)
	c.received.Add(received)
	for k := range s.c.h2 {
		c.markHTTP2Key(k)
	}
}

// lentIdle holds a client's idle fast-path connections while its batch
// runs: the batch's clients take them before they dial, as k6's requests
// share the VU's pool.
type lentIdle struct {
	mu    sync.Mutex
	conns []*fconn
}

// take removes and returns an idle connection to key, or nil.
func (l *lentIdle) take(key string) *fconn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.conns) - 1; i >= 0; i-- {
		if fc := l.conns[i]; fc.key == key {
			l.conns = slices.Delete(l.conns, i, i+1)
			return fc
		}
	}
	return nil
}

// emitResult emits the samples of r, hop by hop, to c's emitter.
func (c *Client) emitResult(r *batchResult) {
	start := 0
	for _, end := range r.hops {
		c.emit(r.samples[start:end])
		start = end
	}
}

// Batch makes the requests in parallel, as k6's http.batch does, at most
// lim.Parallel at once and lim.PerHost at once to one host, and returns
// their responses in the order of reqs.
//
// The requests run on clients that Batch keeps for the client's next
// batches: they have connections of their own, use the client's cookie
// jar (or Request.Jar) and count their bytes in the client's [Client.TakeIO].
// Their samples are emitted on the caller's goroutine once all requests
// have completed, request by request in the order of reqs, each hop's as
// [Client.Do] would.
//
// As with Do, a request that fails on the network gives a Response with
// Error and ErrorCode. Batch returns an error only for misuse (a nil
// request, a closed client) and when ctx ends before all requests
// complete: it interrupts them all and returns the cause of ctx, after
// emitting the samples of the requests that completed.
func (c *Client) Batch(ctx context.Context, reqs []*Request, lim BatchLimits) ([]*Response, error) {
	for _, r := range reqs {
		if r == nil {
			return nil, errors.New("k6http: nil request")
		}
	}
	if c.closed {
		return nil, ErrClosed
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if c.s.vuDefaults != nil {
		reqs = slices.Clone(reqs)
		for i, r := range reqs {
			reqs[i] = c.withVUDefaults(r)
		}
	}
	n := len(reqs)
	res := make([]batchResult, n)
	sems := c.hostLimits(reqs, lim.perHost())
	workers := lim.parallel(n)
	lent := &lentIdle{conns: c.idle}
	c.idle = nil
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		s := c.slot(w)
		c.lend(s)
		s.c.lent = lent
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s.cur = &res[i]
				s.run(ctx, reqs[i], sems[i])
				s.cur = nil
			}
		})
	}
	wg.Wait()
	for _, fc := range lent.conns {
		c.putIdle(fc, fc.idleAt)
	}
	for _, s := range c.slots[:workers] {
		c.takeBack(s)
		s.c.lent = nil
		for _, fc := range s.c.idle { // back to the VU's pool
			c.putIdle(fc, fc.idleAt)
		}
		clear(s.c.idle)
		s.c.idle = s.c.idle[:0]
	}
	out := make([]*Response, n)
	var err error
	for i := range res {
		r := &res[i]
		c.emitResult(r)
		out[i] = r.resp
		if r.err != nil && err == nil {
			err = r.err
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hostLimits returns each request's per-host semaphore, nil when its host
// has no limit to enforce.
func (c *Client) hostLimits(reqs []*Request, perHost int) []chan struct{} {
	sems := make([]chan struct{}, len(reqs))
	if perHost < 0 || perHost >= len(reqs) {
		return sems
	}
	byHost := make(map[string]chan struct{})
	for i, r := range reqs {
		t, err := c.target(r.URL)
		if err != nil {
			continue // Do answers it at once
		}
		sem, ok := byHost[t.host]
		if !ok {
			sem = make(chan struct{}, perHost)
			byHost[t.host] = sem
		}
		sems[i] = sem
	}
	return sems
}

// run makes one request of a batch on the slot's client, holding a place
// of sem (when not nil) while it is in flight.
func (s *batchSlot) run(ctx context.Context, req *Request, sem chan struct{}) {
	if sem != nil {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			s.cur.err = context.Cause(ctx)
			return
		}
	}
	s.cur.resp, s.cur.err = s.c.Do(ctx, req)
}
