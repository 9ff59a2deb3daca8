// Package grpctest is a loopback gRPC server for tests and benchmarks: an
// echo service built at run time from its .proto text (protocompile and
// dynamicpb), so no generated code is committed. It serves server
// reflection (v1 and v1alpha) too.
//
//	srv, err := grpctest.Start(grpctest.Config{})
//	defer srv.Stop()
//	// dial srv.Addr; the service is echo.Echo, its .proto is grpctest.Proto
package grpctest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Proto is the service's .proto file, "echo.proto".
const Proto = `syntax = "proto3";
package echo;

message Msg {
  string text = 1;
  int64 n = 2;
  repeated string tags = 3;
}

service Echo {
  // Say answers the message as it came; the request's metadata key
  // "x-echo" comes back as the header "x-echo" and the trailer "x-trailer".
  rpc Say(Msg) returns (Msg);
  // Fail answers the status code n with message text.
  rpc Fail(Msg) returns (Msg);
  // Chat answers every message of the stream; "end" ends it.
  rpc Chat(stream Msg) returns (stream Msg);
}
`

// Server is a running echo server.
type Server struct {
	Addr  string // host:port on loopback
	Files *protoregistry.Files
	srv   *grpc.Server
	wg    sync.WaitGroup
}

// Compile returns the file descriptor of Proto.
func Compile(ctx context.Context) (protoreflect.FileDescriptor, error) {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"echo.proto": Proto}),
	})}
	files, err := c.Compile(ctx, "echo.proto")
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// Config changes the server; the zero value serves both reflection
// versions.
type Config struct {
	// OnlyV1Alpha serves server reflection v1alpha only, as older servers
	// do.
	OnlyV1Alpha bool
	// TLS, when set, serves over TLS with it instead of plaintext.
	TLS *tls.Config
	// StreamInterceptor, when set, sees every stream, reflection's too.
	StreamInterceptor grpc.StreamServerInterceptor
}

// Start serves the echo service on a free loopback port.
func Start(cfg Config) (*Server, error) {
	fd, err := Compile(context.Background())
	if err != nil {
		return nil, fmt.Errorf("grpctest: %w", err)
	}
	files := &protoregistry.Files{}
	if err := files.RegisterFile(fd); err != nil {
		return nil, err
	}
	sd := fd.Services().ByName("Echo")
	msg := fd.Messages().ByName("Msg")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var serverOpts []grpc.ServerOption
	if cfg.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	if cfg.StreamInterceptor != nil {
		serverOpts = append(serverOpts, grpc.StreamInterceptor(cfg.StreamInterceptor))
	}
	s := &Server{Addr: ln.Addr().String(), Files: files, srv: grpc.NewServer(serverOpts...)}
	desc := grpc.ServiceDesc{ServiceName: string(sd.FullName()), HandlerType: (*any)(nil)}
	unary := func(name string, answer func(ctx context.Context, in *dynamicpb.Message) (*dynamicpb.Message, error)) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := dynamicpb.NewMessage(msg)
			if err := dec(in); err != nil {
				return nil, err
			}
			return answer(ctx, in)
		}}
	}
	desc.Methods = []grpc.MethodDesc{
		unary("Say", func(ctx context.Context, in *dynamicpb.Message) (*dynamicpb.Message, error) {
			if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-echo")) > 0 {
				_ = grpc.SetHeader(ctx, metadata.Pairs("x-echo", md.Get("x-echo")[0]))
				_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", md.Get("x-echo")[0]))
			}
			return in, nil
		}),
		unary("Fail", func(_ context.Context, in *dynamicpb.Message) (*dynamicpb.Message, error) {
			n := in.Get(msg.Fields().ByName("n")).Int()
			return nil, status.Error(codes.Code(n), in.Get(msg.Fields().ByName("text")).String())
		}),
	}
	desc.Streams = []grpc.StreamDesc{{StreamName: "Chat", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			for {
				in := dynamicpb.NewMessage(msg)
				if err := stream.RecvMsg(in); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
				if in.Get(msg.Fields().ByName("text")).String() == "end" {
					return nil
				}
				if err := stream.SendMsg(in); err != nil {
					return err
				}
			}
		}}}
	s.srv.RegisterService(&desc, nil)
	opts := reflection.ServerOptions{Services: s.srv, DescriptorResolver: resolvers{files, protoregistry.GlobalFiles}}
	if !cfg.OnlyV1Alpha {
		v1reflectiongrpc.RegisterServerReflectionServer(s.srv, reflection.NewServerV1(opts))
	}
	v1alphareflectiongrpc.RegisterServerReflectionServer(s.srv, reflection.NewServer(opts))
	s.wg.Go(func() { _ = s.srv.Serve(ln) })
	return s, nil
}

// Stop stops the server and waits for it.
func (s *Server) Stop() {
	s.srv.Stop()
	s.wg.Wait()
}

// resolvers finds descriptors in the first resolver that has them: the
// echo service's, then the reflection service's own.
type resolvers []*protoregistry.Files

func (rs resolvers) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	for _, r := range rs {
		if fd, err := r.FindFileByPath(path); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (rs resolvers) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, r := range rs {
		if d, err := r.FindDescriptorByName(name); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}
