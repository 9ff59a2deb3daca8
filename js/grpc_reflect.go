package js

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// reflectFiles asks the server for its services' files with gRPC server
// reflection, v1 first and v1alpha when the server lacks it, as k6's
// connect({reflect: true}) does.
func reflectFiles(ctx context.Context, conn *grpc.ClientConn) ([]protoreflect.FileDescriptor, error) {
	fdps, err := reflectV1(ctx, conn)
	if status.Code(err) == codes.Unimplemented {
		fdps, err = reflectV1Alpha(ctx, conn)
	}
	if err != nil {
		return nil, err
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	for _, b := range fdps {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			return nil, err
		}
		if !seen[fd.GetName()] {
			seen[fd.GetName()] = true
			set.File = append(set.File, fd)
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, err
	}
	return allFiles(files), nil
}

// reflectV1 returns the serialized files of every service the server
// lists (with their dependencies, as servers send them).
func reflectV1(ctx context.Context, conn *grpc.ClientConn) ([][]byte, error) {
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.CloseSend() }()
	ask := func(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
		// io.EOF: the server has ended the stream (a server without this
		// version may answer Unimplemented before the request is written),
		// and Recv returns its status.
		if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return nil, fmt.Errorf("%s", e.GetErrorMessage())
		}
		return resp, nil
	}
	list, err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, svc := range list.GetListServicesResponse().GetService() {
		resp, err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc.GetName()}})
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.GetName(), err)
		}
		out = append(out, resp.GetFileDescriptorResponse().GetFileDescriptorProto()...)
	}
	if len(out) == 0 {
		return nil, errors.New("the server lists no services")
	}
	return out, nil
}
