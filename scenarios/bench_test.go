package scenarios

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// noopVU completes every iteration at once.
type noopVU struct{ n *atomic.Int64 }

func (v noopVU) Iterate(context.Context, Iteration) bool {
	v.n.Add(1)
	return true
}

// noopPool hands out no-op VUs without limit.
type noopPool struct{ n atomic.Int64 }

func (p *noopPool) Get(context.Context) (VU, error) { return noopVU{&p.n}, nil }
func (p *noopPool) Put(VU)                          {}

// BenchmarkConstantArrivalRate5000 paces a real (not synctest) 10 s
// constant-arrival-rate run at 5 000 iterations/s of a no-op iteration and
// reports the achieved rate, iteration_lateness quantiles and drops. Run it
// alone, one iteration at a time:
//
//	go test -run '^$' -bench ConstantArrivalRate5000 -benchtime 1x -count 3 ./scenarios/
func BenchmarkConstantArrivalRate5000(b *testing.B) {
	if testing.Short() {
		b.Skip("a 10 s real-time run")
	}
	const rate, d = 5000, 10 * time.Second
	for b.Loop() {
		pool := &noopPool{}
		reg := metrics.NewRegistry()
		var (
			mu       sync.Mutex
			lateness = make([]float64, 0, rate*10)
			dropped  float64
		)
		rt := Runtime{Pool: pool, Metrics: reg, Emit: func(s metrics.Sample) {
			mu.Lock()
			defer mu.Unlock()
			switch s.Metric.Name {
			case metrics.IterationLateness:
				lateness = append(lateness, s.Value)
			case metrics.DroppedIterations:
				dropped += s.Value
			}
		}}
		ex := ConstantArrivalRate{Rate: rate, Duration: d, PreAllocatedVUs: 50, MaxVUs: 200}.NewExecutor("bench", nil)
		start := time.Now()
		if err := ex.Run(context.Background(), rt); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		mu.Lock()
		slices.Sort(lateness)
		q := func(p float64) float64 {
			if len(lateness) == 0 {
				return 0
			}
			return lateness[int(p*float64(len(lateness)-1))]
		}
		b.ReportMetric(float64(pool.n.Load())/d.Seconds(), "iters/s")
		b.ReportMetric(float64(pool.n.Load())/(rate*d.Seconds())*100, "%target")
		b.ReportMetric(q(0.5), "p50-late-ms")
		b.ReportMetric(q(0.99), "p99-late-ms")
		b.ReportMetric(q(1), "max-late-ms")
		b.ReportMetric(dropped, "dropped")
		b.ReportMetric(elapsed.Seconds(), "run-s")
		mu.Unlock()
	}
}
