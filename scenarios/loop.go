package scenarios

import (
	"context"
	"sync"
	"time"
)

// runLooping gets n VUs from the pool, starts the schedule's clock and runs
// loop on each VU in its own goroutine until all have returned. It is the
// body of the executors with a fixed number of VUs.
func runLooping(ctx context.Context, rt Runtime, t *tracker, n int64, regular, grace time.Duration, loop func(st *stopper, vu VU)) error {
	vus, err := getVUs(ctx, rt, t.scenario, n)
	if err != nil {
		return err
	}
	t.vus.Store(n)
	st := newStopper(ctx, t.started(), regular, grace)
	var wg sync.WaitGroup
	for _, vu := range vus {
		t.active.Add(1)
		wg.Go(func() {
			defer t.active.Add(-1)
			defer rt.Pool.Put(vu)
			loop(st, vu)
		})
	}
	wg.Wait()
	st.release()
	return nil
}
