package js

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/loadlens/loadlens/internal/grpctest"
)

// TestReflectFilesV1AlphaAfterServerEnded makes the race of a server
// without reflection v1 certain: every stream waits for the server's
// answer before the client writes, so Send finds the stream ended
// (io.EOF) and the Unimplemented status is only in Recv. reflectFiles
// must still fall back to v1alpha.
func TestReflectFilesV1AlphaAfterServerEnded(t *testing.T) {
	t.Parallel()
	srv, err := grpctest.Start(grpctest.Config{OnlyV1Alpha: true})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	waitForServer := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil || method != "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" {
			return cs, err
		}
		_, _ = cs.Header() // returns once the server answered: here, Unimplemented
		return cs, nil
	}
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStreamInterceptor(waitForServer))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	files, err := reflectFiles(t.Context(), conn)
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Path())
	}
	require.Contains(t, names, "echo.proto")
}
