package scenarios

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loadlens/loadlens/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// event is one iteration seen by a fake VU; times are offsets from the
// harness's start.
type event struct {
	VU         int
	It         Iteration
	Start, End time.Duration
	Completed  bool
}

// harness is a fake engine: a VU pool whose VUs "run" an iteration by
// waiting (on the synctest clock) for iterDur, and a sink for samples and
// log records. It is safe for concurrent use.
type harness struct {
	t0        time.Time
	iterDur   func(vu int, it Iteration) time.Duration
	preinit   int           // VUs available without delay
	initDelay time.Duration // time to initialise each VU beyond preinit
	limit     int           // most VUs the pool initialises; 0 = no limit
	reg       *metrics.Registry

	mu      sync.Mutex
	events  []event
	samples []metrics.Sample
	idle    []*fakeVU
	created int
	gets    int
	puts    int
	logs    []string
}

func newHarness(iterDur time.Duration) *harness {
	return &harness{
		t0:      time.Now(),
		iterDur: func(int, Iteration) time.Duration { return iterDur },
		preinit: 1 << 30,
		reg:     metrics.NewRegistry(),
	}
}

type fakeVU struct {
	id int
	h  *harness
}

func (v *fakeVU) Iterate(ctx context.Context, it Iteration) bool {
	start := time.Since(v.h.t0)
	t := time.NewTimer(v.h.iterDur(v.id, it))
	defer t.Stop()
	ok := false
	select {
	case <-t.C:
		ok = true
	case <-ctx.Done():
	}
	v.h.mu.Lock()
	v.h.events = append(v.h.events, event{VU: v.id, It: it, Start: start, End: time.Since(v.h.t0), Completed: ok})
	v.h.mu.Unlock()
	return ok
}

func (h *harness) Get(ctx context.Context) (VU, error) {
	h.mu.Lock()
	if n := len(h.idle); n > 0 {
		vu := h.idle[n-1]
		h.idle = h.idle[:n-1]
		h.gets++
		h.mu.Unlock()
		return vu, nil
	}
	if h.limit > 0 && h.created >= h.limit {
		h.mu.Unlock()
		return nil, errors.New("no more VUs")
	}
	h.created++
	vu := &fakeVU{id: h.created, h: h}
	delay := h.created > h.preinit
	h.mu.Unlock()
	if delay && h.initDelay > 0 {
		t := time.NewTimer(h.initDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	h.mu.Lock()
	h.gets++
	h.mu.Unlock()
	return vu, nil
}

func (h *harness) Put(vu VU) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.idle = append(h.idle, vu.(*fakeVU))
	h.puts++
}

func (h *harness) runtime() Runtime {
	return Runtime{
		Pool:    h,
		Emit:    h.emit,
		Metrics: h.reg,
		Tags:    metrics.NewTags("testid", "t1"),
		Logger:  slog.New(&captureHandler{h: h}),
	}
}

func (h *harness) emit(s metrics.Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
}

// sampleValues returns the values of the samples of one metric.
func (h *harness) sampleValues(name string) []float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []float64
	for _, s := range h.samples {
		if s.Metric.Name == name {
			out = append(out, s.Value)
		}
	}
	return out
}

func (h *harness) eventList() []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.events)
	slices.SortFunc(out, func(a, b event) int {
		if c := int(a.Start - b.Start); c != 0 {
			return c
		}
		return a.VU - b.VU
	})
	return out
}

// perVU counts iterations by VU id.
func (h *harness) perVU() map[int]int {
	out := map[int]int{}
	for _, e := range h.eventList() {
		out[e.VU]++
	}
	return out
}

func (h *harness) counts() (completed, interrupted int) {
	for _, e := range h.eventList() {
		if e.Completed {
			completed++
		} else {
			interrupted++
		}
	}
	return completed, interrupted
}

// checkPool asserts that every VU taken from the pool was given back.
func (h *harness) checkPool(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Equal(t, h.gets, h.puts, "every VU taken from the pool is put back")
}

// checkSampleTags asserts that executor samples carry the run's tags plus
// the scenario, and nothing else.
func (h *harness) checkSampleTags(t *testing.T, scenario string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	want := metrics.NewTags("testid", "t1", "scenario", scenario)
	for _, s := range h.samples {
		assert.True(t, s.Tags.Equal(want), "%s tags %s", s.Metric.Name, s.Tags)
	}
}

type captureHandler struct {
	h     *harness
	attrs []slog.Attr
}

func (c *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (c *captureHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	for _, a := range c.attrs {
		msg += " " + a.String()
	}
	c.h.mu.Lock()
	c.h.logs = append(c.h.logs, msg)
	c.h.mu.Unlock()
	return nil
}
func (c *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{h: c.h, attrs: append(slices.Clone(c.attrs), as...)}
}
func (c *captureHandler) WithGroup(string) slog.Handler { return c }

// run runs ex and returns how long Run took on the synctest clock.
func run(t *testing.T, ex Executor, ctx context.Context, h *harness) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, ex.Run(ctx, h.runtime()))
	return time.Since(start)
}

// cancelAt cancels the returned context at d with cause (nil = plain).
func cancelAt(t *testing.T, d time.Duration, cause error) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := context.AfterFunc(ctx, func() {})
	timer := time.AfterFunc(d, func() { cancel(cause) })
	t.Cleanup(func() {
		timer.Stop()
		stop()
		cancel(nil)
	})
	return ctx
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func ptr[T any](v T) *T { return &v }
