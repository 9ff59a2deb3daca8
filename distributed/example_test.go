package distributed_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// One test on two runners: 90 shared iterations, split by execution
// segments, merged into one Result. The runners run in this process here;
// `loadlens run --runners N` starts them as processes (distributed.Local)
// and Kubernetes as an Indexed Job.
func Example() {
	ctx := context.Background()
	srv, err := distributed.StartServer(ctx, distributed.ServerOptions{})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	// The archive is whatever the runners rebuild the plan from: here the
	// number of iterations.
	build := func(_ context.Context, archive []byte, _ distributed.Assignment) (loadtest.Plan, []loadtest.Output, error) {
		n, err := strconv.ParseInt(string(archive), 10, 64)
		return loadtest.Plan{
			Scenarios: scenarios.Scenarios{"shared": scenarios.SharedIterations{VUs: 4, Iterations: n}},
			Program:   loadtest.Funcs{"default": func(context.Context, *loadtest.VU) error { return nil }},
		}, nil, err
	}
	archive := []byte("90")

	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range 2 {
		wg.Go(func() {
			nc, err := nats.Connect(srv.ClientURL())
			if err != nil {
				panic(err)
			}
			defer nc.Close()
			r := &distributed.Runner{Conn: nc, RunID: "example", Index: i, Build: build}
			res, err := r.Run(ctx)
			if err != nil {
				panic(err)
			}
			_ = res // the runner's own share
		})
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	plan, _, err := build(ctx, archive, distributed.Assignment{})
	if err != nil {
		panic(err)
	}
	coord := &distributed.Coordinator{Conn: nc, URL: srv.ClientURL(), RunID: "example", Runners: 2,
		Archive: archive, JoinTimeout: 20 * time.Second}
	plan.Remote = coord
	res, err := loadtest.Run(ctx, plan)
	if err != nil {
		panic(err)
	}
	fmt.Println("status:", res.Status)
	fmt.Println("iterations:", res.Metrics["iterations"].Values["count"])
	for _, s := range coord.Stats() {
		fmt.Printf("runner %d: lost %q\n", s.Index, s.Lost)
	}
	// Output:
	// status: passed
	// iterations: 90
	// runner 0: lost ""
	// runner 1: lost ""
}
