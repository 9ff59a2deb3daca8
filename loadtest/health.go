package loadtest

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// healthSampler measures the generator's own CPU and memory once a second,
// so that a saturated generator can be told apart from a slow target; and
// the host's CPU and the generator's scheduling latency, so that other
// processes taking the CPU can be told apart from both.
type healthSampler struct {
	c              *collector
	mu             sync.Mutex // guards the fields below: summary is read during the run
	cpus           int
	lastCPU        time.Duration
	lastAt         time.Time
	sum, n, maxCPU float64
	maxRSS         float64
	host           hostCPU
	sched          []metrics.Sample
	lastSched      []uint64 // the scheduling-latency histogram's counts at the last sample
}

// schedLatencies is the runtime metric of how long goroutines waited in
// the runnable state before running.
const schedLatencies = "/sched/latencies:seconds"

func newHealthSampler(c *collector) *healthSampler {
	h := &healthSampler{c: c, cpus: runtime.GOMAXPROCS(0), sched: []metrics.Sample{{Name: schedLatencies}}}
	h.lastCPU, _ = processCPUTime()
	h.lastAt = time.Now()
	h.host.busy, h.host.total, _ = hostCPUTimes()
	metrics.Read(h.sched)
	if h.sched[0].Value.Kind() == metrics.KindFloat64Histogram {
		h.lastSched = append([]uint64(nil), h.sched[0].Value.Float64Histogram().Counts...)
	}
	return h
}

// hostCPU holds the host's CPU counters at the last sample.
type hostCPU struct{ busy, total float64 }

// run samples every second until ctx ends.
func (h *healthSampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.sample(now)
		}
	}
}

func (h *healthSampler) sample(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cpu, err := processCPUTime()
	if err == nil {
		wall := now.Sub(h.lastAt)
		if wall > 0 {
			pct := 100 * float64(cpu-h.lastCPU) / float64(wall) / float64(h.cpus)
			pct = math.Max(0, math.Min(100, pct))
			h.sum, h.n, h.maxCPU = h.sum+pct, h.n+1, math.Max(h.maxCPU, pct)
			h.c.setGauge(now.Add(-time.Millisecond), SeriesGeneratorCPU, nil, "%", pct)
		}
		h.lastCPU, h.lastAt = cpu, now
	}
	if rss, err := processRSS(); err == nil {
		h.maxRSS = math.Max(h.maxRSS, rss)
		h.c.setGauge(now.Add(-time.Millisecond), SeriesGeneratorRSS, nil, "bytes", rss)
	}
	if busy, total, err := hostCPUTimes(); err == nil {
		if dt := total - h.host.total; dt > 0 {
			pct := math.Max(0, math.Min(100, 100*(busy-h.host.busy)/dt))
			h.c.setGauge(now.Add(-time.Millisecond), SeriesHostCPU, nil, "%", pct)
		}
		h.host = hostCPU{busy, total}
	}
	if p99, ok := h.schedP99(); ok {
		h.c.setGauge(now.Add(-time.Millisecond), SeriesGeneratorSched, nil, "ms", p99)
	}
}

// schedP99 returns the p99 of the goroutine scheduling latencies since the
// last sample, in ms (the upper bound of the histogram bucket it falls in),
// and false when there were none.
func (h *healthSampler) schedP99() (float64, bool) {
	metrics.Read(h.sched)
	if h.sched[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, false
	}
	hist := h.sched[0].Value.Float64Histogram()
	if len(h.lastSched) != len(hist.Counts) {
		h.lastSched = make([]uint64, len(hist.Counts))
	}
	var n uint64
	for i, c := range hist.Counts {
		n += c - h.lastSched[i]
	}
	p99, seen, rank := 0.0, uint64(0), uint64(math.Ceil(0.99*float64(n)))
	for i, c := range hist.Counts {
		seen += c - h.lastSched[i]
		if n > 0 && seen >= rank {
			p99 = hist.Buckets[i+1]
			break
		}
	}
	copy(h.lastSched, hist.Counts)
	if n == 0 || math.IsInf(p99, 0) {
		return 0, false
	}
	return p99 * 1000, true
}

func (h *healthSampler) summary() GeneratorHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := GeneratorHealth{CPUs: h.cpus, CPUMax: h.maxCPU, RSSMaxBytes: h.maxRSS}
	if h.n > 0 {
		g.CPUAvg = h.sum / h.n
	}
	return g
}
