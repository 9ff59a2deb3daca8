package js

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/grafana/sobek"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/loadlens/loadlens/metrics"
)

// grpcStream is a grpc.Stream: its messages arrive on a goroutine of its
// own and their handlers run on the VU's event loop, which waits for the
// stream to end, as in k6.
type grpcStream struct {
	vu       *VU
	c        *grpcClient
	m        *grpcMetrics
	md       protoreflect.MethodDescriptor
	cs       grpc.ClientStream
	tags     metrics.Tags
	start    time.Time
	handlers map[string][]sobek.Callable
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

var _ task = (*grpcStream)(nil)

func (vu *VU) newGRPCStream(m *grpcMetrics, call sobek.ConstructorCall) *sobek.Object {
	vu.mustNotInit("new grpc.Stream()")
	var c *grpcClient
	if o, ok := call.Argument(0).(*sobek.Object); ok {
		c, _ = o.Get("__grpc_client").Export().(*grpcClient)
	}
	if c == nil {
		vu.typeErrorf("grpc.Stream: the first argument must be a grpc.Client")
	}
	if c.conn == nil {
		vu.throwf("grpc.Stream: no connection; call connect first")
	}
	md := c.method(call.Argument(1).String())
	s := &grpcStream{vu: vu, c: c, m: m, md: md, handlers: map[string][]sobek.Callable{}}
	var tags metrics.Tags
	ctx, cancel := context.WithCancel(vu.ctx)
	s.cancel = cancel
	if params, ok := call.Argument(2).(*sobek.Object); ok {
		if h := metadataOf(params); h != nil {
			ctx = metadata.NewOutgoingContext(ctx, h)
		}
		tags = vu.paramTags(params)
	}
	s.tags = vu.state.Tags().Merge(tags).Merge(c.sysTags(md))
	full := "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
	s.start = time.Now()
	cs, err := c.conn.NewStream(ctx, &grpc.StreamDesc{StreamName: string(md.Name()),
		ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, full)
	if err != nil {
		cancel()
		vu.throwf("grpc.Stream: %v", err)
	}
	s.cs = cs
	vu.state.Emit(metrics.Sample{Metric: m.streams, Time: s.start, Value: 1, Tags: s.tags})
	s.define(call.This)
	vu.loop.start(s)
	s.wg.Go(s.read)
	return nil
}

// read receives the messages until the stream ends, posting their
// handlers to the VU's loop, then completes the task.
func (s *grpcStream) read() {
	vu := s.vu
	for {
		msg := dynamicpb.NewMessage(s.md.Output())
		err := s.cs.RecvMsg(msg)
		if err != nil {
			end := time.Now()
			vu.loop.post(func() error { return s.finish(err, end) })
			vu.loop.complete(s)
			return
		}
		vu.loop.post(func() error {
			vu.state.Emit(metrics.Sample{Metric: s.m.received, Time: time.Now(), Value: 1, Tags: s.tags})
			return s.fire("data", s.c.messageValue(msg))
		})
	}
}

// finish records grpc_req_duration and fires error (unless the stream
// ended well) and end.
func (s *grpcStream) finish(err error, end time.Time) error {
	if errors.Is(err, io.EOF) {
		err = nil
	}
	st := status.Convert(err)
	s.vu.state.Emit(metrics.Sample{Metric: s.m.duration, Time: end, Value: msSince(s.start, end),
		Tags: s.tags.With("status", fmt.Sprint(int(st.Code())))})
	if err != nil {
		e := s.vu.rt.NewObject()
		_ = e.Set("code", int(st.Code()))
		_ = e.Set("message", st.Message())
		_ = e.Set("details", s.vu.rt.NewArray())
		if ferr := s.fire("error", e); ferr != nil {
			return ferr
		}
	}
	return s.fire("end")
}

func (s *grpcStream) fire(event string, args ...sobek.Value) error {
	for _, h := range s.handlers[event] {
		if _, err := h(sobek.Undefined(), args...); err != nil {
			return err
		}
	}
	return nil
}

// define sets on, write and end on o.
func (s *grpcStream) define(o *sobek.Object) {
	vu := s.vu
	_ = o.Set("on", func(call sobek.FunctionCall) sobek.Value {
		h, ok := sobek.AssertFunction(call.Argument(1))
		if !ok {
			vu.typeErrorf("grpc.Stream.on: the handler must be a function")
		}
		ev := call.Argument(0).String()
		s.handlers[ev] = append(s.handlers[ev], h)
		return sobek.Undefined()
	})
	_ = o.Set("write", func(call sobek.FunctionCall) sobek.Value {
		msg := s.c.message(s.md.Input(), call.Argument(0))
		if err := s.cs.SendMsg(msg); err == nil {
			vu.state.Emit(metrics.Sample{Metric: s.m.sent, Time: time.Now(), Value: 1, Tags: s.tags})
		}
		return sobek.Undefined()
	})
	_ = o.Set("end", func(sobek.FunctionCall) sobek.Value {
		_ = s.cs.CloseSend()
		return sobek.Undefined()
	})
}

// settle implements task: the stream has ended and its end handlers ran.
func (s *grpcStream) settle() error {
	s.wg.Wait()
	s.cancel()
	return nil
}

// abandon implements task: the iteration ended with the stream open.
func (s *grpcStream) abandon(error) {
	s.cancel()
	s.wg.Wait()
}
