package target

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Event is one entry of the events log: a fault started or ended. Its
// times are the scheduled ones (the Server's start plus the fault's At, or
// At+For), which are when requests began and stopped being affected: the
// ground truth a detector is scored against.
type Event struct {
	// Time is the wall-clock instant of the event.
	Time time.Time `json:"time"`
	// Offset is Time from the Config's Epoch (by default when New
	// returned).
	Offset time.Duration `json:"offset_ns"`
	// Fault is the fault's index in Config().Faults (a Profile's fault
	// comes first); Kind and Endpoint repeat its kind and endpoint.
	Fault    int       `json:"fault"`
	Kind     FaultKind `json:"kind"`
	Endpoint string    `json:"endpoint,omitempty"`
	// What is "start" or "end" — or "capped" when a leak reached the
	// Config's LeakMax and stopped growing, before its end.
	What string `json:"what"`
}

// Events returns the events logged so far, in order. Faults' starts and
// ends are logged while Serve runs; a leak's cap when it is reached.
func (s *Server) Events() []Event {
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	return slices.Clone(s.events)
}

// logEvent records ev in the events log.
func (s *Server) logEvent(ev Event) {
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	s.events = append(s.events, ev)
	if s.cfg.Events != nil {
		line, _ := json.Marshal(ev) // plain data: cannot fail
		if _, err := s.cfg.Events.Write(append(line, '\n')); err != nil {
			s.log.Warn("demo target: events log", "err", err)
		}
	}
	s.log.Info("demo target fault "+ev.What, "fault", s.faults[ev.Fault].String())
}

// boundary is a scheduled fault transition.
type boundary struct {
	at    time.Duration
	fault *activeFault
	start bool
}

// schedule logs every fault's start and end at its time, and closes and
// reopens the listener for refuse faults, until ctx ends. Transitions
// already due when it starts are handled at once.
func (s *Server) schedule(ctx context.Context, ln *switchListener) {
	var bs []boundary
	for _, f := range s.faults {
		bs = append(bs, boundary{at: f.At, fault: f, start: true})
		if f.For > 0 {
			bs = append(bs, boundary{at: f.At + f.For, fault: f})
		}
	}
	// Ends before starts at the same instant: back-to-back windows.
	slices.SortStableFunc(bs, func(a, b boundary) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		if a.start == b.start {
			return 0
		}
		if a.start {
			return 1
		}
		return -1
	})
	refusing := 0
	for _, b := range bs {
		if err := wait(ctx, s.start.Add(b.at).Sub(s.cfg.Now())); err != nil {
			return
		}
		what := "end"
		if b.start {
			what = "start"
		}
		s.logEvent(Event{Time: s.start.Add(b.at), Offset: b.at, Fault: b.fault.index, Kind: b.fault.Kind, Endpoint: b.fault.Endpoint, What: what})
		if b.fault.Kind != FaultRefuse || ln == nil {
			continue
		}
		if b.start {
			if refusing++; refusing == 1 {
				ln.refuse()
				s.conns.closeAll()
			}
		} else if refusing--; refusing == 0 {
			if err := ln.reopen(ctx); err != nil {
				s.log.Error("demo target: listening again after refusing", "err", err)
			}
		}
	}
}

// switchListener is a listener that can stop listening for a while (the
// refuse fault: connections are refused) and listen again on the same
// address, while the http.Server serving it sees one listener that never
// fails. It is safe for concurrent use.
type switchListener struct {
	addr net.Addr

	mu      sync.Mutex
	ln      net.Listener  // nil while refusing
	resumed chan struct{} // closed when listening again or closed; nil while listening
	closed  bool
}

func newSwitchListener(ln net.Listener) *switchListener {
	return &switchListener{addr: ln.Addr(), ln: ln}
}

// Accept waits for a connection, across refusals.
func (l *switchListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln, resumed, closed := l.ln, l.resumed, l.closed
		l.mu.Unlock()
		switch {
		case closed:
			return nil, net.ErrClosed
		case ln == nil:
			<-resumed
			continue
		}
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		l.mu.Lock()
		switched := l.ln != ln || l.closed
		l.mu.Unlock()
		if !switched {
			return nil, err
		}
	}
}

// refuse closes the listening socket: new connections are refused.
func (l *switchListener) refuse() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil || l.closed {
		return
	}
	_ = l.ln.Close()
	l.ln, l.resumed = nil, make(chan struct{})
}

// reopen listens again on the same address.
func (l *switchListener) reopen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, l.addr.Network(), l.addr.String())
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ln != nil {
		return ln.Close()
	}
	l.ln = ln
	close(l.resumed)
	l.resumed = nil
	return nil
}

// Close stops listening for good.
func (l *switchListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	l.closed = true
	if l.ln == nil {
		close(l.resumed)
		return nil
	}
	return l.ln.Close()
}

// Addr returns the address it listens on.
func (l *switchListener) Addr() net.Addr { return l.addr }

// connSet tracks the open connections of a Server, so that a refuse fault
// can close them. It is safe for concurrent use.
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// track is an http.Server ConnState hook.
func (cs *connSet) track(c net.Conn, st http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch st {
	case http.StateNew:
		if cs.conns == nil {
			cs.conns = map[net.Conn]struct{}{}
		}
		cs.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(cs.conns, c)
	}
}

func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.conns {
		_ = c.Close()
	}
	clear(cs.conns)
}
