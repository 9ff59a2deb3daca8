package scenarios

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExternallyControlledRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(sec(0.7))
		ex := ExternallyControlled{VUs: 1, MaxVUs: 3}.NewExecutor("ext", nil).(*ExternalExecutor)
		ctx := cancelAt(t, sec(5.05), nil) // duration 0: runs until cancelled
		done := make(chan time.Duration)
		go func() { done <- run(t, ex, ctx, h) }()

		activeAt := func(at time.Duration) int64 {
			time.Sleep(at - time.Since(h.t0))
			synctest.Wait()
			return ex.Progress().ActiveVUs
		}
		assert.Equal(t, int64(1), activeAt(sec(1)))
		require.NoError(t, ex.SetVUs(3))
		assert.Equal(t, int64(3), activeAt(sec(1.5)))

		err := ex.SetVUs(4)
		require.ErrorIs(t, err, ErrVUsOutOfRange)
		assert.ErrorContains(t, err, "maxVUs 3")
		require.ErrorIs(t, ex.SetVUs(-1), ErrVUsOutOfRange)

		// VU2 and VU3 started at 1s: their iterations run 1.0, 1.7, 2.4-3.1.
		activeAt(sec(2.5))
		require.NoError(t, ex.SetVUs(1))
		assert.Equal(t, int64(3), activeAt(sec(3)), "removed VUs finish their iteration")
		assert.Equal(t, int64(1), activeAt(sec(3.2)))
		assert.Equal(t, int64(1), ex.VUs())

		assert.Equal(t, sec(5.05), <-done, "no gracefulStop")
		last := lastIteration(h)
		assert.Equal(t, sec(3.1), last[2].End)
		assert.True(t, last[2].Completed)
		assert.Equal(t, sec(3.1), last[3].End)
		assert.True(t, last[3].Completed)
		assert.Equal(t, sec(5.05), last[1].End)
		assert.False(t, last[1].Completed, "interrupted at the end")
		require.ErrorIs(t, ex.SetVUs(1), ErrNotRunning)
		h.checkPool(t)
	})
}

func TestExternallyControlledDuration(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(sec(0.7))
		ex := ExternallyControlled{Duration: 3 * time.Second, MaxVUs: 2}.NewExecutor("ext", nil).(*ExternalExecutor)
		require.NoError(t, ex.SetVUs(2), "before Run")
		assert.Equal(t, 3*time.Second, run(t, ex, context.Background(), h))
		assert.Equal(t, map[int]int{1: 5, 2: 5}, h.perVU(), "4 complete + 1 interrupted each")
		_, interrupted := h.counts()
		assert.Equal(t, 2, interrupted)
		h.checkPool(t)
	})
}

func TestExternallyControlledNotDistributable(t *testing.T) {
	t.Parallel()
	ex := ExternallyControlled{VUs: 1}.NewExecutor("ext", mustTuple(t, "0:1/2", ""))
	require.ErrorContains(t, ex.Run(context.Background(), newHarness(0).runtime()), "cannot be split")
}
