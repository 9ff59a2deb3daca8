package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/pgtest"
	"github.com/loadlens/loadlens/store"
)

// slotLog records the slots a scheduler started, by schedule.
type slotLog struct {
	mu    sync.Mutex
	slots map[string][]time.Time
}

func (l *slotLog) start(_ context.Context, sc store.Schedule, slot time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = map[string][]time.Time{}
	}
	l.slots[sc.ID] = append(l.slots[sc.ID], slot)
	return true
}

func (l *slotLog) of(id string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.slots[id]...)
}

// openScheduleStore opens a store (a file, or a PostgreSQL URL); more
// handles on the same one stand for more agent replicas.
func openScheduleStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

func addSchedule(t *testing.T, st *store.Store, sc store.Schedule, now time.Time) store.Schedule {
	t.Helper()
	if _, err := st.Tenant(t.Context(), "acme"); err != nil {
		_, err := st.AddTenant(t.Context(), "acme")
		require.NoError(t, err)
	}
	sc.Enabled = true
	if sc.Missed == "" {
		sc.Missed = store.MissedRunOnce
	}
	sc, err := CreateSchedule(t.Context(), st, "acme", sc, now)
	require.NoError(t, err)
	return sc
}

func newTestScheduler(st *store.Store, replica string, log *slotLog) *scheduler {
	return &scheduler{st: st, logger: slog.New(slog.DiscardHandler), replica: replica, grace: time.Minute, start: log.start}
}

var midnight = time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)

// An every-minute schedule over a simulated day, polled twice at each
// minute of fake time: exactly 1 440 runs, one per minute, in order.
func TestScheduleEveryMinuteForADay(t *testing.T) {
	t.Parallel()
	st := openScheduleStore(t, filepath.Join(t.TempDir(), "a.db"))
	sc := addSchedule(t, st, store.Schedule{Name: "every minute", Cron: "* * * * *"}, midnight)
	log := &slotLog{}
	sd := newTestScheduler(st, "a", log)
	for now := midnight; !now.After(midnight.Add(24 * time.Hour)); now = now.Add(time.Minute) {
		for range 2 {
			_, err := sd.runDue(t.Context(), now)
			require.NoError(t, err)
		}
	}
	slots := log.of(sc.ID)
	require.Len(t, slots, 1440)
	for i, s := range slots {
		require.Equal(t, midnight.Add(time.Duration(i+1)*time.Minute), s.UTC(), "slot %d", i)
	}
}

// A 2-hour outage of the only agent: the missed slots run once when it
// is back (run_once), or not at all (skip); either way the schedule then
// goes on at its next slot.
func TestScheduleOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		missed  string
		catchUp int
	}{{store.MissedRunOnce, 1}, {store.MissedSkip, 0}} {
		t.Run(tc.missed, func(t *testing.T) {
			t.Parallel()
			st := openScheduleStore(t, filepath.Join(t.TempDir(), "a.db"))
			sc := addSchedule(t, st, store.Schedule{Name: "10 min", Cron: "*/10 * * * *", Missed: tc.missed}, midnight)
			log := &slotLog{}
			sd := newTestScheduler(st, "a", log)
			tick := func(from, to time.Time) {
				for now := from; !now.After(to); now = now.Add(30 * time.Second) {
					_, err := sd.runDue(t.Context(), now)
					require.NoError(t, err)
				}
			}
			tick(midnight, midnight.Add(time.Hour)) // slots 00:10 … 01:00
			require.Len(t, log.of(sc.ID), 6)
			// Down from 01:05 to 03:05: 12 slots (01:10 … 03:00) missed.
			back := midnight.Add(3*time.Hour + 5*time.Minute)
			n, err := sd.runDue(t.Context(), back)
			require.NoError(t, err)
			assert.Equal(t, tc.catchUp, n, "runs started when the agent came back")
			slots := log.of(sc.ID)
			require.Len(t, slots, 6+tc.catchUp)
			if tc.catchUp == 1 {
				assert.Equal(t, midnight.Add(3*time.Hour), slots[6].UTC(), "the catch-up runs the latest missed slot")
			}
			tick(back, midnight.Add(4*time.Hour)) // 03:10 … 04:00 on time
			assert.Len(t, log.of(sc.ID), 6+tc.catchUp+6)
			got, err := st.Schedule(t.Context(), "acme", sc.ID)
			require.NoError(t, err)
			assert.Equal(t, midnight.Add(4*time.Hour+10*time.Minute), got.Next.UTC())
		})
	}
}

// Two replicas on one store (a SQLite file, a PostgreSQL database),
// polling the same simulated hours at the same fake instants from two
// goroutines: every slot runs once, on one of them.
func TestScheduleTwoReplicasRunEachSlotOnce(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testTwoReplicasRunEachSlotOnce(t, filepath.Join(t.TempDir(), "shared.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testTwoReplicasRunEachSlotOnce(t, pgtest.Database(t))
	})
}

func testTwoReplicasRunEachSlotOnce(t *testing.T, path string) {
	stA, stB := openScheduleStore(t, path), openScheduleStore(t, path)
	sc := addSchedule(t, stA, store.Schedule{Name: "every minute", Interval: time.Minute, Jitter: 20 * time.Second}, midnight)
	logA, logB := &slotLog{}, &slotLog{}
	replicas := []*scheduler{newTestScheduler(stA, "a", logA), newTestScheduler(stB, "b", logB)}
	const hours = 2
	var wg sync.WaitGroup
	for _, sd := range replicas {
		wg.Go(func() {
			for now := midnight; !now.After(midnight.Add(hours*time.Hour + 30*time.Second)); now = now.Add(20 * time.Second) {
				if _, err := sd.runDue(context.Background(), now); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[time.Time]string{}
	for name, log := range map[string]*slotLog{"a": logA, "b": logB} {
		for _, s := range log.of(sc.ID) {
			if other, dup := seen[s]; dup {
				t.Fatalf("slot %s ran on replica %s and on %s", s, other, name)
			}
			seen[s] = name
		}
	}
	assert.Len(t, seen, hours*60, "every slot ran once")
	t.Logf("replica a ran %d slots, b %d", len(logA.of(sc.ID)), len(logB.of(sc.ID)))
}

// A cron expression is read in its time zone, across a change of daylight
// saving time; jitter delays a slot by the same amount on every replica.
func TestScheduleTimezoneAndJitter(t *testing.T) {
	t.Parallel()
	st := openScheduleStore(t, filepath.Join(t.TempDir(), "a.db"))
	sc := addSchedule(t, st, store.Schedule{Name: "nightly", Cron: "30 2 * * *", Timezone: "America/New_York",
		Jitter: 10 * time.Minute}, midnight)
	log := &slotLog{}
	sd := newTestScheduler(st, "a", log)
	// The fake clock jumps to each run time the store says is due.
	for range 4 {
		cur, err := st.Schedule(t.Context(), "acme", sc.ID)
		require.NoError(t, err)
		n, err := sd.runDue(t.Context(), cur.Due.Add(-time.Nanosecond))
		require.NoError(t, err)
		require.Zero(t, n, "nothing runs before its jittered time")
		n, err = sd.runDue(t.Context(), cur.Due)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	slots := log.of(sc.ID)
	require.Len(t, slots, 4)
	for _, s := range slots {
		local := s.In(ny)
		assert.Equal(t, 2, local.Hour(), s)
		assert.Equal(t, 30, local.Minute(), s)
		j := jitterOf(sc.ID, s, sc.Jitter)
		assert.True(t, j >= 0 && j < sc.Jitter, "jitter %s", j)
		assert.Equal(t, j, jitterOf(sc.ID, s, sc.Jitter))
	}
	// Daylight saving time has been on in New York since 8 March: 06:30 UTC.
	assert.Equal(t, 6, slots[0].UTC().Hour())
}
