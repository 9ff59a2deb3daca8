package distributed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure an embedded NATS server. The zero value listens
// on a random loopback port.
type ServerOptions struct {
	// Host is the address to listen on; default 127.0.0.1. A coordinator
	// that runners on other machines reach listens on 0.0.0.0.
	Host string
	// Port is the port; 0 picks a free one.
	Port int
}

// Server is a NATS server with JetStream running in this process, its
// store in a temporary folder that Shutdown removes.
type Server struct {
	ns  *server.Server
	dir string
}

// StartServer starts an embedded NATS server with JetStream and returns
// once it accepts connections.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	dir, err := os.MkdirTemp("", "loadlens-nats-")
	if err != nil {
		return nil, err
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: port, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	deadline := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = min(deadline, time.Until(d))
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		ns.WaitForShutdown()
		_ = os.RemoveAll(dir)
		return nil, errors.New("nats server: not ready for connections in time")
	}
	return &Server{ns: ns, dir: dir}, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server, waits for it and removes its store.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	_ = os.RemoveAll(s.dir)
}
