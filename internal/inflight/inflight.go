// Package inflight is an HTTP handler for tests of client concurrency
// limits.
//
// It counts the requests in flight at once, holding each until the count the
// test expects is reached, so that the most seen at once is the client's
// real limit rather than an accident of timing.
package inflight

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// patience is how long a request waits for the others when the client
// never gets to Want in flight: the test then fails on Max.
const patience = 3 * time.Second

// Gate counts the requests in flight at once and answers each with its
// own path. It holds every request until Want are in flight together (or
// the request's context ends). With Hold, it holds them until their
// contexts end. With Linger, it keeps the Want requests that long once
// they are all in flight: not to wait for anything, but to give a client
// that breaks its limit the time to show it. Use New.
type Gate struct {
	Want   int
	Hold   bool
	Linger time.Duration

	mu       sync.Mutex
	inFlight int
	most     int
	full     chan struct{} // closed when Want requests were in flight
}

// New returns a gate for want requests at once.
func New(want int) *Gate { return &Gate{Want: want, full: make(chan struct{})} }

// ServeHTTP implements http.Handler.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	if g.inFlight == g.Want {
		select {
		case <-g.full:
		default:
			if g.Linger > 0 {
				time.AfterFunc(g.Linger, func() { close(g.full) })
			} else {
				close(g.full)
			}
		}
	}
	g.mu.Unlock()
	full := g.full
	if g.Hold {
		full = nil
	}
	select {
	case <-full:
	case <-r.Context().Done():
	case <-time.After(patience):
	}
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	_, _ = fmt.Fprint(w, r.URL.Path)
}

// Full is closed once Want requests have been in flight together.
func (g *Gate) Full() <-chan struct{} { return g.full }

// Max returns the most requests that were in flight at once.
func (g *Gate) Max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}
