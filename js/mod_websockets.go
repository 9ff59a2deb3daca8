package js

import (
	"bytes"
	"context"
	"net/http"
	"net/textproto"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/metrics"
)

// websocketsModule is k6/websockets (and k6/experimental/websockets): the
// browser's WebSocket with event listeners. The socket connects and reads
// in the background; its events run on the VU's goroutine through the
// VU's event loop, and the iteration ends once every socket is closed, as
// in k6.
func websocketsModule(vu *VU) (Exports, error) {
	m, err := newWSMetrics(vu)
	if err != nil {
		return Exports{}, err
	}
	return Exports{Named: map[string]any{
		"WebSocket": func(call sobek.ConstructorCall) *sobek.Object { return vu.newWebSocket(m, call) },
	}}, nil
}

// experimentalWebsocketsModule is k6/websockets under its old name, with
// k6's deprecation warning.
func experimentalWebsocketsModule(vu *VU) (Exports, error) {
	vu.prog.warnOnce("k6/experimental/websockets is deprecated and will be removed in a future release. Please use k6/websockets instead.")
	return websocketsModule(vu)
}

// The readyState values.
const (
	wsConnecting = iota
	wsOpen
	wsClosing
	wsClosed
)

// browserSocket is a WebSocket object. It is a task of the VU's event
// loop from its construction until it has closed.
type browserSocket struct {
	vu        *VU
	obj       *sobek.Object
	listeners map[string][]sobek.Callable
	c         *wsConn // nil until open
	state     int

	cancel context.CancelFunc // of the dial
	wg     sync.WaitGroup     // the goroutine that dials and waits for the reader
	mu     sync.Mutex
	live   *wsConn // the connection once dialled, for abandon
}

var _ task = (*browserSocket)(nil)

func (vu *VU) newWebSocket(m *wsMetrics, call sobek.ConstructorCall) *sobek.Object {
	vu.mustNotInit("new WebSocket()")
	if vu.state == nil {
		vu.throwf("WebSocket needs a running test")
	}
	rawURL := call.Argument(0).String()
	var protocols []string
	switch p := call.Argument(1).(type) {
	case *sobek.Object:
		if p.ClassName() == "Array" {
			for _, k := range p.Keys() {
				protocols = append(protocols, p.Get(k).String())
			}
		}
	default:
		if !isNullish(p) {
			protocols = []string{p.String()}
		}
	}
	header := http.Header{}
	params, _ := call.Argument(2).(*sobek.Object)
	if params != nil {
		if h, ok := params.Get("headers").(*sobek.Object); ok {
			for _, k := range h.Keys() {
				header.Set(textproto.CanonicalMIMEHeaderKey(k), h.Get(k).String())
			}
		}
	}
	tags := vu.state.Tags().Merge(metrics.NewTags("name", rawURL)).Merge(vu.paramTags(params))
	s := &browserSocket{vu: vu, obj: call.This, listeners: map[string][]sobek.Callable{}}
	s.define(rawURL)
	ctx, cancel := context.WithCancel(vu.ctx)
	s.cancel = cancel
	vu.loop.start(s)
	s.wg.Go(func() {
		c, _, samples, err := vu.wsDial(ctx, m, rawURL, header, protocols, tags)
		if err == nil {
			s.mu.Lock()
			s.live = c
			if ctx.Err() != nil { // abandoned while dialling
				_ = c.conn.Close()
			}
			s.mu.Unlock()
		}
		vu.loop.post(func() error { return s.opened(c, samples, err) })
		if err != nil {
			vu.loop.complete(s)
			return
		}
		c.read(func(ev wsEvent) {
			ev.data = bytes.Clone(ev.data)
			vu.loop.post(func() error { return s.handle(ev) })
		})
		c.reader.Wait()
		vu.loop.complete(s)
	})
	return nil
}

// define sets the object's properties and methods.
func (s *browserSocket) define(rawURL string) {
	vu, rt, o := s.vu, s.vu.rt, s.obj
	_ = o.Set("url", rawURL)
	_ = o.Set("readyState", wsConnecting)
	_ = o.Set("bufferedAmount", 0)
	_ = o.Set("binaryType", "arraybuffer")
	_ = o.Set("protocol", "")
	for name, v := range map[string]int{"CONNECTING": wsConnecting, "OPEN": wsOpen, "CLOSING": wsClosing, "CLOSED": wsClosed} {
		_ = o.Set(name, v)
	}
	_ = o.Set("addEventListener", func(call sobek.FunctionCall) sobek.Value {
		fn, ok := sobek.AssertFunction(call.Argument(1))
		if !ok {
			vu.typeErrorf("addEventListener: the listener must be a function")
		}
		ev := call.Argument(0).String()
		s.listeners[ev] = append(s.listeners[ev], fn)
		return sobek.Undefined()
	})
	_ = o.Set("removeEventListener", func(call sobek.FunctionCall) sobek.Value {
		ev := call.Argument(0).String()
		target := call.Argument(1)
		ls := s.listeners[ev]
		for i, fn := range ls {
			if rt.ToValue(fn).SameAs(target) {
				s.listeners[ev] = append(ls[:i:i], ls[i+1:]...)
				break
			}
		}
		return sobek.Undefined()
	})
	_ = o.Set("send", func(call sobek.FunctionCall) sobek.Value {
		if s.state != wsOpen {
			vu.throwf("WebSocket.send: the socket is not open (readyState %d)", s.state)
		}
		typ, data := websocket.TextMessage, []byte(nil)
		if b, ok := vu.bytesOf(call.Argument(0)); ok {
			typ, data = websocket.BinaryMessage, b
		} else {
			data = []byte(call.Argument(0).String())
		}
		_ = s.c.send(typ, data) // on a broken connection the reader fails and the socket closes
		return sobek.Undefined()
	})
	_ = o.Set("ping", func(sobek.FunctionCall) sobek.Value {
		if s.state == wsOpen {
			_ = s.c.ping()
		}
		return sobek.Undefined()
	})
	_ = o.Set("close", func(call sobek.FunctionCall) sobek.Value {
		code := websocket.CloseNormalClosure
		if a := call.Argument(0); !isNullish(a) {
			code = int(a.ToInteger())
		}
		reason := ""
		if a := call.Argument(1); !isNullish(a) {
			reason = a.String()
		}
		if s.state == wsOpen {
			s.setState(wsClosing)
			if s.c.closeFrame(code, reason) == nil {
				s.c.count(s.c.m.sent) // k6 counts the close frame as a message sent
			}
		}
		return sobek.Undefined()
	})
}

func (s *browserSocket) setState(st int) {
	s.state = st
	_ = s.obj.Set("readyState", st)
}

// opened runs on the VU's goroutine once the dial is over.
func (s *browserSocket) opened(c *wsConn, samples []metrics.Sample, err error) error {
	vu := s.vu
	vu.state.Emit(samples...)
	if err != nil {
		s.setState(wsClosed)
		if ferr := s.fire("error", s.event("error", "error", vu.rt.ToValue(err.Error()))); ferr != nil {
			return ferr
		}
		return s.fire("close", s.event("close", "code", vu.rt.ToValue(websocket.CloseAbnormalClosure)))
	}
	s.c = c
	_ = s.obj.Set("protocol", c.conn.Subprotocol())
	s.setState(wsOpen)
	return s.threw(s.fire("open", s.event("open")))
}

// handle runs on the VU's goroutine for each event of the reader.
func (s *browserSocket) handle(ev wsEvent) error {
	rt := s.vu.rt
	switch ev.kind {
	case websocket.TextMessage, websocket.BinaryMessage:
		s.c.count(s.c.m.received)
		data := rt.ToValue(string(ev.data))
		if ev.kind == websocket.BinaryMessage {
			data = s.vu.arrayBuffer(ev.data)
		}
		return s.threw(s.fire("message", s.event("message", "data", data, "origin", s.obj.Get("url"))))
	case websocket.PingMessage:
		return s.threw(s.fire("ping", s.event("ping")))
	case websocket.PongMessage:
		if ev.rtt >= 0 {
			s.c.emitPing(ev.rtt)
		}
		return s.threw(s.fire("pong", s.event("pong")))
	}
	s.setState(wsClosed)
	s.c.end()
	if ev.err != nil && s.vu.ctx.Err() == nil {
		if err := s.fire("error", s.event("error", "error", rt.ToValue(ev.err.Error()))); err != nil {
			return err
		}
	}
	return s.fire("close", s.event("close", "code", rt.ToValue(ev.code)))
}

// threw passes on the error of a listener of the open socket after
// closing it as k6 does: readyState CLOSED and a close event without a
// code (the loop then abandons the connection, and no
// ws_session_duration is recorded).
func (s *browserSocket) threw(err error) error {
	if err != nil && s.state != wsClosed && s.vu.ctx.Err() == nil {
		s.setState(wsClosed)
		_ = s.fire("close", s.event("close", "reason", "")) // the first error is the one thrown
	}
	return err
}

// event makes an event object of type typ with key, value pairs.
func (s *browserSocket) event(typ string, kv ...any) sobek.Value {
	o := s.vu.rt.NewObject()
	_ = o.Set("type", typ)
	_ = o.Set("target", s.obj)
	for i := 0; i+1 < len(kv); i += 2 {
		_ = o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// fire calls the on<event> handler, then the listeners.
func (s *browserSocket) fire(event string, ev sobek.Value) error {
	if fn, ok := sobek.AssertFunction(s.obj.Get("on" + event)); ok {
		if _, err := fn(s.obj, ev); err != nil {
			return err
		}
	}
	for _, fn := range s.listeners[event] {
		if _, err := fn(s.obj, ev); err != nil {
			return err
		}
	}
	return nil
}

// settle implements task: the socket has closed; its close event ran.
func (s *browserSocket) settle() error {
	s.wg.Wait()
	return nil
}

// abandon implements task: the iteration ended with the socket open.
func (s *browserSocket) abandon(error) {
	s.cancel()
	s.mu.Lock()
	if s.live != nil {
		_ = s.live.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
