package store_test

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/store"
)

func TestSchedules(t *testing.T) { eachBackend(t, testSchedules) }

func testSchedules(t *testing.T, st *store.Store, path string) {
	ctx := t.Context()
	for _, ten := range []string{"a", "b"} {
		_, err := st.AddTenant(ctx, ten)
		require.NoError(t, err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sc, err := st.AddSchedule(ctx, "a", store.Schedule{Name: "nightly", Cron: "0 2 * * *", Timezone: "Europe/Paris", Enabled: true,
		Missed: store.MissedRunOnce, Spec: json.RawMessage(`{"test_type":"smoke"}`), Created: t0, Next: t0.Add(time.Hour), Due: t0.Add(time.Hour + time.Second)})
	require.NoError(t, err)
	_, err = st.AddSchedule(ctx, "nobody", store.Schedule{Name: "x"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Schedule(ctx, "b", sc.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's schedule is not found")
	require.ErrorIs(t, st.RemoveSchedule(ctx, "b", sc.ID), store.ErrNotFound)
	got, err := st.Schedule(ctx, "a", sc.ID)
	require.NoError(t, err)
	assert.Equal(t, "Europe/Paris", got.Timezone)
	assert.Equal(t, t0, got.Created)
	assert.Equal(t, t0.Add(time.Hour+time.Second), got.Due)
	assert.JSONEq(t, `{"test_type":"smoke"}`, string(got.Spec))

	due, err := st.DueSchedules(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, due, "not due before its jittered time")
	due, err = st.DueSchedules(ctx, t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Len(t, due, 1)

	// Two replicas (two handles on the database) claim each slot at once:
	// one wins, every time.
	st2, err := store.Open(ctx, path)
	require.NoError(t, err)
	defer st2.Close()
	slot := got.Next
	for i := range 20 {
		next := slot.Add(time.Hour)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for r, h := range []*store.Store{st, st2, st, st2} {
			wg.Go(func() {
				won, err := h.ClaimSlot(ctx, store.Claim{Tenant: "a", Schedule: sc.ID, Slot: slot, Run: slot, Next: next, Due: next,
					Replica: string(rune('a' + r))})
				assert.NoError(t, err)
				if won {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, wins.Load(), "slot %d", i)
		slot = next
	}
	// A slot already run is not run again, even by a stale read.
	won, err := st.ClaimSlot(ctx, store.Claim{Tenant: "a", Schedule: sc.ID, Slot: slot.Add(-time.Hour), Run: slot.Add(-time.Hour),
		Next: slot, Due: slot})
	require.NoError(t, err)
	assert.False(t, won)

	require.NoError(t, st.SetScheduleOutcome(ctx, "a", sc.ID, slot, "run-1", ""))
	sc.Enabled, sc.Name = false, "renamed"
	up, err := st.UpdateSchedule(ctx, "a", sc)
	require.NoError(t, err)
	assert.False(t, up.Enabled)
	assert.Equal(t, "run-1", up.LastRun)
	due, err = st.DueSchedules(ctx, t0.Add(1000*time.Hour))
	require.NoError(t, err)
	assert.Empty(t, due, "a disabled schedule is never due")
	list, err := st.Schedules(ctx, "a")
	require.NoError(t, err)
	require.Len(t, list, 1)

	// A removed tenant's schedules go with it.
	require.NoError(t, st.RemoveTenant(ctx, "a"))
	list, err = st.Schedules(ctx, "a")
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestBudgets(t *testing.T) { eachBackend(t, testBudgets) }

func testBudgets(t *testing.T, st *store.Store, _ string) {
	ctx := t.Context()
	_, err := st.AddTenant(ctx, "a")
	require.NoError(t, err)
	_, err = st.Budgets(ctx, "a", "checkout")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, st.SetBudgets(ctx, "a", "checkout", json.RawMessage(`{"no_findings":"high"}`)))
	require.NoError(t, st.SetBudgets(ctx, "a", "checkout", json.RawMessage(`{"no_findings":"critical"}`)))
	b, err := st.Budgets(ctx, "a", "checkout")
	require.NoError(t, err)
	assert.JSONEq(t, `{"no_findings":"critical"}`, string(b))
	require.ErrorIs(t, st.SetBudgets(ctx, "nobody", "x", json.RawMessage(`{}`)), store.ErrNotFound)

	for i, want := range []struct {
		breached, changed bool
	}{{false, false}, {true, true}, {true, false}, {false, true}} {
		changed, err := st.MarkBreached(ctx, "a", "checkout", want.breached)
		require.NoError(t, err)
		assert.Equal(t, want.changed, changed, "check %d", i)
	}

	var ids []string
	for i := range 3 {
		r, err := st.CreateRun(ctx, "a", store.Run{Name: "checkout", TestType: "load"})
		require.NoError(t, err)
		ids = append(ids, r.ID)
		if i == 1 {
			continue // a run without a check is not in the history
		}
		require.NoError(t, st.SetRunBudget(ctx, "a", r.ID, "breached", json.RawMessage(`{"status":"breached"}`)))
	}
	h, err := st.BudgetHistory(ctx, "a", "checkout", 0)
	require.NoError(t, err)
	require.Len(t, h, 2)
	assert.Equal(t, ids[2], h[0].ID, "newest first")
	assert.Equal(t, "breached", h[0].BudgetStatus)
	assert.JSONEq(t, `{"status":"breached"}`, string(h[0].Check))
	require.NoError(t, st.RemoveBudgets(ctx, "a", "checkout"))
	require.ErrorIs(t, st.RemoveBudgets(ctx, "a", "checkout"), store.ErrNotFound)
}
