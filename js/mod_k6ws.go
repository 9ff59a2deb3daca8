package js

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/grafana/sobek"
)

// wsModule is k6/ws: ws.connect(url, [params], callback) opens a socket,
// runs callback(socket) to register its handlers and blocks the iteration
// until the socket closes, running the socket's events and timers on the
// VU's goroutine, as k6 does.
func wsModule(vu *VU) (Exports, error) {
	m, err := newWSMetrics(vu)
	if err != nil {
		return Exports{}, err
	}
	return Exports{Named: map[string]any{
		"connect": func(call sobek.FunctionCall) sobek.Value { return vu.wsConnect(m, call) },
	}}, nil
}

// k6Socket is the socket object of k6/ws.
//
// The script runs on two goroutines, never at once: the VU's (the setup
// function, open and the timers) and the connection's reader (every
// event, run where it was read, without a hand-over to the VU's
// goroutine). mu is held by whichever runs it; the fields below it are
// the script's and are guarded by it.
type k6Socket struct {
	vu *VU
	c  *wsConn

	mu       sync.Mutex
	handlers map[string][]sobek.Callable
	timers   []*jsTimer
	nextID   int64
	closed   bool  // the close event ran: send, ping and close do nothing
	over     bool  // the session is over: no more script runs
	err      error // why it is over, when a handler threw

	rearm chan struct{} // has a value when the timers changed
	ended chan struct{} // closed when over is set
}

func (vu *VU) wsConnect(m *wsMetrics, call sobek.FunctionCall) sobek.Value {
	vu.mustNotInit("ws.connect")
	if vu.state == nil {
		vu.throwf("ws.connect needs a running test")
	}
	rawURL := call.Argument(0).String()
	fn, ok := sobek.AssertFunction(call.Argument(1))
	var params *sobek.Object
	if !ok {
		params, _ = call.Argument(1).(*sobek.Object)
		if fn, ok = sobek.AssertFunction(call.Argument(2)); !ok {
			vu.typeErrorf("ws.connect: the last argument must be a function that sets up the socket")
		}
	}
	header := http.Header{}
	tags := vu.paramTags(params)
	if params != nil {
		if h, ok := params.Get("headers").(*sobek.Object); ok {
			for _, k := range h.Keys() {
				header.Set(textproto.CanonicalMIMEHeaderKey(k), h.Get(k).String())
			}
		}
	}
	c, resp, samples, err := vu.wsDial(vu.ctx, m, rawURL, header, nil, vu.state.Tags().Merge(tags))
	vu.state.Emit(samples...)
	if err != nil && vu.ctx.Err() != nil {
		vu.throwError(context.Cause(vu.ctx))
	}
	res := vu.rt.NewObject()
	_ = res.Set("url", rawURL)
	status, errText := 0, ""
	headers := vu.rt.NewObject()
	if resp != nil {
		status = resp.StatusCode
		for k, vs := range resp.Header {
			_ = headers.Set(k, vs[0])
		}
	} else if err != nil {
		errText = err.Error()
	}
	_ = res.Set("status", status)
	_ = res.Set("headers", headers)
	_ = res.Set("body", "")
	_ = res.Set("error", errText)
	if c == nil {
		return res
	}
	s := &k6Socket{vu: vu, c: c, handlers: map[string][]sobek.Callable{},
		rearm: make(chan struct{}, 1), ended: make(chan struct{})}
	s.mu.Lock() // the reader waits for setup and open
	c.read(s.deliver)
	err = s.run(fn)
	if vu.ctx.Err() != nil {
		c.stop()
	} else {
		c.end()
	}
	if err != nil {
		vu.throwError(err)
	}
	return res
}

// deliver runs the handlers of an event on the reading goroutine.
func (s *k6Socket) deliver(ev wsEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over || s.vu.ctx.Err() != nil {
		return
	}
	if end, err := s.handle(ev); err != nil || end {
		s.finish(err)
	}
}

// finish ends the session with err (nil: it closed); mu is held. When a
// handler threw, the socket closes first with 1001 (going away) and its
// close handlers run, as in k6; an interrupted session ends as it is.
func (s *k6Socket) finish(err error) {
	if s.over {
		return
	}
	s.over = true
	if err != nil && !s.closed && s.vu.ctx.Err() == nil {
		s.closed = true
		_ = s.c.closeFrame(websocket.CloseGoingAway, "")
		_ = s.fire("close", s.vu.rt.ToValue(websocket.CloseGoingAway)) // the first error is the one thrown
	}
	s.err = err
	close(s.ended)
}

// run calls the setup function and fires open with mu held (locked by
// the caller), then fires the socket's timers until the session is over
// or the iteration ends (its cause is returned).
func (s *k6Socket) run(setup sobek.Callable) error {
	vu := s.vu
	if _, err := setup(sobek.Undefined(), s.object()); err != nil {
		s.finish(err)
	} else if err := s.fire("open"); err != nil {
		s.finish(err)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(s.timers) > 0 {
			timer.Reset(max(time.Until(s.timers[s.next()].at), 0))
			due = timer.C
		}
		s.mu.Unlock()
		select {
		case <-s.ended:
		case <-due:
		case <-s.rearm:
		case <-vu.ctx.Done():
		}
		timer.Stop()
		s.mu.Lock()
		switch {
		case s.over:
			s.mu.Unlock()
			return s.err
		case vu.ctx.Err() != nil:
			s.finish(context.Cause(vu.ctx))
			s.mu.Unlock()
			return s.err
		}
		if len(s.timers) > 0 {
			if err := s.fireTimer(); err != nil {
				s.finish(err)
			}
		}
	}
}

// handle runs the handlers of an event; end is true for the last.
func (s *k6Socket) handle(ev wsEvent) (end bool, err error) {
	rt := s.vu.rt
	switch ev.kind {
	case websocket.TextMessage:
		s.c.count(s.c.m.received)
		return false, s.fire("message", rt.ToValue(string(ev.data)))
	case websocket.BinaryMessage:
		s.c.count(s.c.m.received)
		return false, s.fire("binaryMessage", s.vu.arrayBuffer(bytes.Clone(ev.data)))
	case websocket.PingMessage:
		return false, s.fire("ping")
	case websocket.PongMessage:
		if ev.rtt >= 0 {
			s.c.emitPing(ev.rtt)
		}
		return false, s.fire("pong")
	}
	s.closed = true
	if ev.err != nil && !errors.Is(ev.err, net.ErrClosed) {
		msg := ev.err.Error()
		errObj := rt.NewObject()
		_ = errObj.Set("error", func(sobek.FunctionCall) sobek.Value { return rt.ToValue(msg) })
		if err := s.fire("error", errObj); err != nil {
			return true, err
		}
	}
	return true, s.fire("close", rt.ToValue(ev.code))
}

// fire calls the handlers of event.
func (s *k6Socket) fire(event string, args ...sobek.Value) error {
	for _, h := range s.handlers[event] {
		if _, err := h(sobek.Undefined(), args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *k6Socket) next() int {
	best := 0
	for i, t := range s.timers {
		if t.at.Before(s.timers[best].at) {
			best = i
		}
	}
	return best
}

func (s *k6Socket) fireTimer() error {
	i := s.next()
	t := s.timers[i]
	if time.Until(t.at) > 0 {
		return nil
	}
	if t.interval > 0 {
		t.at = time.Now().Add(t.interval)
	} else {
		s.timers = append(s.timers[:i], s.timers[i+1:]...)
	}
	_, err := t.fn(sobek.Undefined())
	return err
}

// wakeTimers tells run that the timers changed, when a handler on the
// reading goroutine set or cleared one.
func (s *k6Socket) wakeTimers() {
	select {
	case s.rearm <- struct{}{}:
	default:
	}
}

// object is the socket as the script sees it.
func (s *k6Socket) object() *sobek.Object {
	vu, rt := s.vu, s.vu.rt
	o := rt.NewObject()
	set := func(name string, f func(sobek.FunctionCall) sobek.Value) { _ = o.Set(name, f) }
	set("on", func(call sobek.FunctionCall) sobek.Value {
		h, ok := sobek.AssertFunction(call.Argument(1))
		if !ok {
			vu.typeErrorf("socket.on: the handler must be a function")
		}
		ev := call.Argument(0).String()
		s.handlers[ev] = append(s.handlers[ev], h)
		return sobek.Undefined()
	})
	send := func(typ int, data []byte) {
		if s.closed {
			return
		}
		if err := s.c.send(typ, data); err != nil {
			_ = s.fire("error", rt.ToValue(err.Error()))
		}
	}
	set("send", func(call sobek.FunctionCall) sobek.Value {
		send(websocket.TextMessage, []byte(call.Argument(0).String()))
		return sobek.Undefined()
	})
	set("sendBinary", func(call sobek.FunctionCall) sobek.Value {
		b, ok := vu.bytesOf(call.Argument(0))
		if !ok {
			vu.typeErrorf("socket.sendBinary: want an ArrayBuffer")
		}
		send(websocket.BinaryMessage, b)
		return sobek.Undefined()
	})
	set("ping", func(sobek.FunctionCall) sobek.Value {
		if !s.closed {
			_ = s.c.ping()
		}
		return sobek.Undefined()
	})
	set("close", func(call sobek.FunctionCall) sobek.Value {
		code := websocket.CloseNormalClosure
		if a := call.Argument(0); !isNullish(a) {
			code = int(a.ToInteger())
		}
		if !s.closed {
			_ = s.c.closeFrame(code, "")
		}
		return sobek.Undefined()
	})
	timer := func(repeat bool) func(sobek.FunctionCall) sobek.Value {
		return func(call sobek.FunctionCall) sobek.Value {
			f, ok := sobek.AssertFunction(call.Argument(0))
			if !ok {
				vu.typeErrorf("socket timers take a function")
			}
			d := time.Duration(call.Argument(1).ToFloat() * float64(time.Millisecond))
			s.nextID++
			t := &jsTimer{id: s.nextID, at: time.Now().Add(max(d, 0)), fn: f}
			if repeat {
				t.interval = max(d, time.Millisecond)
			}
			s.timers = append(s.timers, t)
			s.wakeTimers()
			return rt.ToValue(t.id)
		}
	}
	set("setTimeout", timer(false))
	set("setInterval", timer(true))
	clearTimer := func(call sobek.FunctionCall) sobek.Value {
		id := call.Argument(0).ToInteger()
		for i, t := range s.timers {
			if t.id == id {
				s.timers = append(s.timers[:i], s.timers[i+1:]...)
				s.wakeTimers()
				break
			}
		}
		return sobek.Undefined()
	}
	set("clearTimeout", clearTimer)
	set("clearInterval", clearTimer)
	return o
}
