package loadtest

import (
	"context"
	"math"
	"runtime"
	"sync"
	"time"
)

// healthSampler measures the generator's own CPU and memory once a second,
// so that a saturated generator can be told apart from a slow target.
type healthSampler struct {
	c              *collector
	mu             sync.Mutex // guards the fields below: summary is read during the run
	cpus           int
	lastCPU        time.Duration
	lastAt         time.Time
	sum, n, maxCPU float64
	maxRSS         float64
}

func newHealthSampler(c *collector) *healthSampler {
	h := &healthSampler{c: c, cpus: runtime.GOMAXPROCS(0)}
	h.lastCPU, _ = processCPUTime()
	h.lastAt = time.Now()
	return h
}

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
