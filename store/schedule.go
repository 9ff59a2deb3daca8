package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// What a schedule does about slots that passed while no agent ran it.
const (
	// MissedRunOnce runs the latest missed slot once, at once, however
	// many were missed (the default).
	MissedRunOnce = "run_once"
	// MissedSkip skips missed slots: the next run is the next slot to come.
	MissedSkip = "skip"
)

// Schedule is a recurring test of a tenant: a cron expression (in a time
// zone) or a fixed interval, and the test to start at each slot. The
// service computes the slots; the store keeps them and hands each slot to
// one agent replica only ([Store.ClaimSlot]).
type Schedule struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Cron is a cron expression (5 fields or a descriptor such as
	// @daily), read in Timezone (an IANA name; "" means UTC). Either Cron
	// or Interval is set.
	Cron     string        `json:"cron,omitempty"`
	Timezone string        `json:"timezone,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
	// Jitter delays each slot's run by up to this much, the same amount
	// for a slot on every replica.
	Jitter  time.Duration `json:"jitter,omitempty"`
	Enabled bool          `json:"enabled"`
	// Missed is MissedRunOnce or MissedSkip.
	Missed string `json:"missed"`
	// Spec is the test spec as given, secrets included: the agent needs
	// them to run it. Never show it unredacted.
	Spec    json.RawMessage `json:"spec"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	// Next is the next slot; Due is when it runs (Next plus its jitter).
	Next time.Time `json:"next,omitzero"`
	Due  time.Time `json:"due,omitzero"`
	// LastSlot, LastRun and LastError say what the latest claimed slot
	// did: the run it started, or why it started none.
	LastSlot  time.Time `json:"last_slot,omitzero"`
	LastRun   string    `json:"last_run,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

const scheduleCols = `id, tenant, name, cron, timezone, interval_ns, jitter_ns, enabled, missed, spec, created_ns, updated_ns,
	next_ns, due_ns, last_slot_ns, last_run, last_error`

func scanSchedule(sc scanner) (Schedule, error) {
	var (
		s                                   Schedule
		interval, jitter                    int64
		enabled                             int64
		spec                                string
		created, updated, next, due, lastNs int64
	)
	err := sc.Scan(&s.ID, &s.Tenant, &s.Name, &s.Cron, &s.Timezone, &interval, &jitter, &enabled, &s.Missed, &spec,
		&created, &updated, &next, &due, &lastNs, &s.LastRun, &s.LastError)
	if err != nil {
		return Schedule{}, err
	}
	s.Interval, s.Jitter, s.Enabled = time.Duration(interval), time.Duration(jitter), enabled != 0
	s.Spec = json.RawMessage(spec)
	s.Created, s.Updated, s.Next, s.Due, s.LastSlot = fromNanos(created), fromNanos(updated), fromNanos(next), fromNanos(due), fromNanos(lastNs)
	return s, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// AddSchedule records a new schedule of tenant and returns it with its ID
// and times. sc's definition (Name, Cron, Timezone, Interval, Jitter,
// Enabled, Missed, Spec), its Created time (zero: now) and its first Next
// and Due are kept, the rest ignored. It fails with ErrNotFound when the
// tenant does not exist.
func (s *Store) AddSchedule(ctx context.Context, tenant string, sc Schedule) (Schedule, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	if sc.Created.IsZero() {
		sc.Created = now
	}
	sc.ID, sc.Tenant, sc.Updated = randomID("sch-", 8), tenant, now
	sc.LastSlot, sc.LastRun, sc.LastError = time.Time{}, "", ""
	if len(sc.Spec) == 0 {
		sc.Spec = json.RawMessage("{}")
	}
	err := s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schedules (`+scheduleCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', '')`,
			sc.ID, tenant, sc.Name, sc.Cron, sc.Timezone, int64(sc.Interval), int64(sc.Jitter), b2i(sc.Enabled), sc.Missed,
			string(sc.Spec), nanos(sc.Created), nanos(now), nanos(sc.Next), nanos(sc.Due))
		return err
	})
	if err != nil {
		return Schedule{}, fmt.Errorf("store: add schedule: %w", err)
	}
	return sc, nil
}

// Schedule returns a schedule of tenant, or ErrNotFound (another tenant's
// too).
func (s *Store) Schedule(ctx context.Context, tenant, id string) (Schedule, error) {
	sc, err := scanSchedule(s.r.QueryRowContext(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Schedule{}, fmt.Errorf("store: schedule %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("store: schedule %s: %w", id, err)
	}
	return sc, nil
}

// Schedules lists tenant's schedules, oldest first.
func (s *Store) Schedules(ctx context.Context, tenant string) ([]Schedule, error) {
	return s.schedules(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE tenant = ? ORDER BY created_ns, id", tenant)
}

// DueSchedules lists the enabled schedules of every tenant whose next slot
// is due at now (Due <= now), soonest first.
func (s *Store) DueSchedules(ctx context.Context, now time.Time) ([]Schedule, error) {
	return s.schedules(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE enabled = 1 AND due_ns <= ? ORDER BY due_ns, id", nanos(now))
}

func (s *Store) schedules(ctx context.Context, query string, args ...any) ([]Schedule, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: schedules: %w", err)
	}
	defer rows.Close()
	var out []Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: schedules: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: schedules: %w", err)
	}
	return out, nil
}

// UpdateSchedule replaces the definition of tenant's schedule sc.ID (the
// fields AddSchedule keeps, Next and Due included) and returns it as
// stored. It fails with ErrNotFound when tenant has no such schedule.
func (s *Store) UpdateSchedule(ctx context.Context, tenant string, sc Schedule) (Schedule, error) {
	if len(sc.Spec) == 0 {
		sc.Spec = json.RawMessage("{}")
	}
	res, err := s.w.ExecContext(ctx, `UPDATE schedules SET name = ?, cron = ?, timezone = ?, interval_ns = ?, jitter_ns = ?,
		enabled = ?, missed = ?, spec = ?, updated_ns = ?, next_ns = ?, due_ns = ? WHERE tenant = ? AND id = ?`,
		sc.Name, sc.Cron, sc.Timezone, int64(sc.Interval), int64(sc.Jitter), b2i(sc.Enabled), sc.Missed, string(sc.Spec),
		time.Now().UnixNano(), nanos(sc.Next), nanos(sc.Due), tenant, sc.ID)
	if err != nil {
		return Schedule{}, fmt.Errorf("store: update schedule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Schedule{}, fmt.Errorf("store: schedule %s: %w", sc.ID, ErrNotFound)
	}
	return s.Schedule(ctx, tenant, sc.ID)
}

// RemoveSchedule removes tenant's schedule id; runs it made keep its ID.
// It fails with ErrNotFound when tenant has no such schedule.
func (s *Store) RemoveSchedule(ctx context.Context, tenant, id string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM schedules WHERE tenant = ? AND id = ?", tenant, id)
	if err != nil {
		return fmt.Errorf("store: remove schedule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: schedule %s: %w", id, ErrNotFound)
	}
	return nil
}

// Claim moves a schedule past its due slot.
type Claim struct {
	Tenant, Schedule string
	// Slot is the schedule's Next as read: the claim fails when another
	// replica (or an update) moved it since.
	Slot time.Time
	// Run is the slot that will run (the latest one missed, or Slot);
	// zero when the slots are skipped.
	Run time.Time
	// Next and Due are the schedule's following slot and its run time.
	Next, Due time.Time
	// Replica names the agent that claims, for the record.
	Replica string
}

// slotKeep is how long claimed slots are kept: long enough that no replica
// could still try to claim one, short enough to bound the table.
const slotKeep = 7 * 24 * time.Hour

// ClaimSlot is the lease that lets one agent replica, and only one, act on
// a schedule's slot: in one transaction it moves the schedule from c.Slot
// to c.Next (only if its Next is still c.Slot) and records c.Run in the
// schedule's slots (only if no replica recorded it). It reports whether
// this caller won; the loser does nothing.
func (s *Store) ClaimSlot(ctx context.Context, c Claim) (bool, error) {
	won := false
	err := s.tx(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET next_ns = ?, due_ns = ? WHERE tenant = ? AND id = ? AND next_ns = ? AND enabled = 1`,
			nanos(c.Next), nanos(c.Due), c.Tenant, c.Schedule, nanos(c.Slot))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if c.Run.IsZero() {
			won = true
			return nil
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO schedule_slots (schedule, slot_ns, claimed_ns, replica) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, c.Schedule, nanos(c.Run), time.Now().UnixNano(), c.Replica)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM schedule_slots WHERE schedule = ? AND slot_ns < ?",
			c.Schedule, nanos(c.Run.Add(-slotKeep))); err != nil {
			return err
		}
		won = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: claim slot of schedule %s: %w", c.Schedule, err)
	}
	return won, nil
}

// SetScheduleOutcome records what a claimed slot did: the run it started,
// or why it started none (errMsg).
func (s *Store) SetScheduleOutcome(ctx context.Context, tenant, id string, slot time.Time, runID, errMsg string) error {
	_, err := s.w.ExecContext(ctx, "UPDATE schedules SET last_slot_ns = ?, last_run = ?, last_error = ? WHERE tenant = ? AND id = ?",
		nanos(slot), runID, errMsg, tenant, id)
	if err != nil {
		return fmt.Errorf("store: schedule %s outcome: %w", id, err)
	}
	return nil
}
