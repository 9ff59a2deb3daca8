// Command slow-requests shows a user's own Output plugged into
// loadtest.Run: while the test runs it prints every request slower than a
// limit, with its endpoint, status and time — the outliers a summary's
// percentiles hide, which k6 can only show with an extension.
//
//	go run ./examples/slow-requests -slower 40ms
//
// The test is 3 s of 4 VUs against the built-in target on loopback, with
// one endpoint that answers in 50 ms.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/target"
)

func main() {
	slower := flag.Duration("slower", 40*time.Millisecond, "print requests that took longer than this")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *slower, 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "slow-requests:", err)
		os.Exit(1)
	}
}

// run starts the target, runs the test for d with the slow-request
// Output, and prints the outliers and a count.
func run(ctx context.Context, w io.Writer, slower, d time.Duration) error {
	srv, err := target.New(target.Config{})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil {
		return err
	}
	defer srv.Close()
	out := &slowRequests{w: w, slower: float64(slower) / float64(time.Millisecond)}
	res, err := loadtest.Run(ctx, loadtest.Plan{
		Name:      "slow-requests",
		Scenarios: scenarios.Scenarios{"default": scenarios.ConstantVUs{VUs: 4, Duration: d}},
		Target: &loadtest.Target{BaseURL: srv.URL(), Endpoints: []loadtest.Endpoint{
			{Path: "/", Name: "home"},
			{Path: "/delay/50", Name: "slow page"},
		}},
	}, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d of %.0f requests took longer than %s\n", out.count, res.Metrics[metrics.HTTPReqs].Values["count"], slower)
	return nil
}

// slowRequests is the Output: it looks at each http_req_duration sample as
// it arrives. The engine calls AddSamples from one goroutine at a time,
// so it needs no lock, and it keeps nothing of a batch after the call.
type slowRequests struct {
	w      io.Writer
	slower float64 // ms, as http_req_duration's values
	start  time.Time
	count  int
}

var _ loadtest.Output = (*slowRequests)(nil)

func (o *slowRequests) Start(info loadtest.RunInfo) error {
	o.start = info.Start
	return nil
}

func (o *slowRequests) AddSamples(batch []metrics.Sample) {
	for _, s := range batch {
		if s.Metric.Name != metrics.HTTPReqDuration || s.Value <= o.slower {
			continue
		}
		o.count++
		name, _ := s.Tags.Get("name")
		status, _ := s.Tags.Get("status")
		fmt.Fprintf(o.w, "%7s  %-10s %s  %.1f ms\n", s.Time.Sub(o.start).Round(time.Millisecond), name, status, s.Value)
	}
}

func (o *slowRequests) Stop(loadtest.Result) error { return nil }
