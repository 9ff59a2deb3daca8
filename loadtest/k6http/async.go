package k6http

import (
	"context"
	"errors"
)

// Pending is a request that [Client.Start] makes in the background. Its
// methods are not safe for concurrent use, but Done.
type Pending struct {
	c        *Client
	s        *batchSlot
	res      batchResult
	done     chan struct{}
	finished bool
}

// Start begins req in the background, as k6's http.asyncRequest does, and
// returns at once. notify (when not nil) is called on the request's own
// goroutine once the request has completed, just before Done is closed: it
// must not block nor use the client.
//
// The request runs on a client of a pool that Start keeps for the client's
// next requests, one client per request in flight: it has connections of
// its own, uses the client's cookie jar (or Request.Jar) and, once the
// request is finished, counts its bytes in the client's [Client.TakeIO].
// Its samples are emitted by [Pending.Finish], on the caller's goroutine.
//
// Every Pending must be finished, even when ctx has ended: Finish waits for
// the request's goroutine and gives its client back to the pool. Finish
// them all before calling [Client.Close] or [Client.CloseIdleConnections].
// Start returns an error only for misuse (a nil request, a closed client)
// and when ctx has already ended.
func (c *Client) Start(ctx context.Context, req *Request, notify func()) (*Pending, error) {
	if req == nil {
		return nil, errors.New("k6http: nil request")
	}
	if c.closed {
		return nil, ErrClosed
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	req = c.withVUDefaults(req)
	var s *batchSlot
	if n := len(c.spare); n > 0 {
		s = c.spare[n-1]
		c.spare[n-1] = nil
		c.spare = c.spare[:n-1]
	} else {
		s = c.newSlot()
	}
	c.lend(s)
	p := &Pending{c: c, s: s, done: make(chan struct{})}
	s.cur = &p.res
	go func() {
		defer close(p.done)
		s.run(ctx, req, nil)
		if notify != nil {
			notify()
		}
	}()
	return p, nil
}

// Done is closed once the request has completed. It is safe for
// concurrent use.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Finish waits for the request to complete, emits its samples (each hop's,
// as [Client.Do] would) on the caller's goroutine, gives its client back to
// the pool and returns what Do would have returned: a failed request is a
// Response with Error and ErrorCode; the error is the cause of the
// request's context when it ended first (after emitting the samples of the
// hops that completed). Call it from the goroutine that uses the client;
// later calls return the same values and emit nothing.
func (p *Pending) Finish() (*Response, error) {
	<-p.done
	if p.finished {
		return p.res.resp, p.res.err
	}
	p.finished = true
	c, s := p.c, p.s
	s.cur = nil
	c.takeBack(s)
	c.spare = append(c.spare, s)
	c.emitResult(&p.res)
	p.res.samples, p.res.hops = nil, nil
	if p.res.err != nil {
		p.res.resp = nil
	}
	return p.res.resp, p.res.err
}
