package distributed

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const idleFor = 10 * time.Second

// BenchmarkIdle measures the CPU an idle process spends per second (this
// test process: its embedded NATS server and the clients in it): the
// server with no JetStream store; with one memory stream, which starts
// nats-server's access-time service (server/ats: a 100 ms ticker while any
// store exists, a constant, not an option); and an idle pool runner, which
// also keeps the pool's stream and bucket.
//
//	go test ./distributed -run '^$' -bench Idle -benchtime 1x
func BenchmarkIdle(b *testing.B) {
	for _, c := range []struct {
		name  string
		start func(ctx context.Context, nc *nats.Conn) (stop func(), err error)
	}{
		{"server", func(context.Context, *nats.Conn) (func(), error) { return func() {}, nil }},
		{"server+stream", func(ctx context.Context, nc *nats.Conn) (func(), error) {
			js, err := jetstream.New(nc)
			if err != nil {
				return nil, err
			}
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "idle", Subjects: []string{"idle"},
				Storage: jetstream.MemoryStorage})
			return func() {}, err
		}},
		{"pool-runner", func(ctx context.Context, nc *nats.Conn) (func(), error) {
			ctx, cancel := context.WithCancel(ctx)
			r := &PoolRunner{Conn: nc, Name: "idle", Start: func(context.Context) (Process, error) {
				return nil, errors.New("an idle runner gets no session")
			}}
			var wg sync.WaitGroup
			wg.Go(func() { _ = r.Run(ctx) })
			return func() { cancel(); wg.Wait() }, nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				srv, err := StartServer(b.Context(), ServerOptions{})
				if err != nil {
					b.Fatal(err)
				}
				nc, err := nats.Connect(srv.ClientURL())
				if err != nil {
					b.Fatal(err)
				}
				stop, err := c.start(b.Context(), nc)
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(time.Second) // what it does at the start is not idle
				from := processCPU()
				time.Sleep(idleFor) // the measurement: a process left alone
				cpu := processCPU() - from
				stop()
				nc.Close()
				srv.Shutdown()
				b.ReportMetric(cpu.Seconds()*1e3/idleFor.Seconds(), "cpu-ms/s")
			}
		})
	}
}
