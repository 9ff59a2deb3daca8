//lint:file-ignore SA1019 v1alpha is deprecated, and older servers speak only it: k6 falls back to it too

package js

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// reflectV1Alpha is reflectV1 for servers of the older protocol.
func reflectV1Alpha(ctx context.Context, conn *grpc.ClientConn) ([][]byte, error) {
	stream, err := rpbalpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.CloseSend() }()
	ask := func(req *rpbalpha.ServerReflectionRequest) (*rpbalpha.ServerReflectionResponse, error) {
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
	list, err := ask(&rpbalpha.ServerReflectionRequest{MessageRequest: &rpbalpha.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, svc := range list.GetListServicesResponse().GetService() {
		resp, err := ask(&rpbalpha.ServerReflectionRequest{MessageRequest: &rpbalpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc.GetName()}})
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
