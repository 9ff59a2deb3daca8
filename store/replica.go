package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Heartbeat tells the store that replica still runs its live runs, and
// keeps their latest numbers (stats, by run ID) for the other replicas'
// status and event streams. It returns the IDs of replica's live runs that
// another replica asked to cancel (RequestCancel).
func (s *Store) Heartbeat(ctx context.Context, replica string, now time.Time, stats map[string]Stats) (cancel []string, err error) {
	err = s.tx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET heartbeat_ns = ? WHERE replica = ? AND state IN (?, ?)",
			nanos(now), replica, Queued, Running); err != nil {
			return err
		}
		for id, st := range stats {
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE runs SET stats = ? WHERE id = ? AND replica = ? AND state IN (?, ?)",
				string(b), id, replica, Queued, Running); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, "SELECT id FROM runs WHERE replica = ? AND cancel_ns != 0 AND state IN (?, ?)", replica, Queued, Running)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			cancel = append(cancel, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: heartbeat: %w", err)
	}
	return cancel, nil
}

// RequestCancel asks the replica that runs tenant's live run id to cancel
// it (it learns so at its next Heartbeat). It fails with ErrNotFound, or
// with ErrConflict when the run has ended.
func (s *Store) RequestCancel(ctx context.Context, tenant, id string, at time.Time) error {
	return s.update(ctx, tenant, id, "request cancel", "UPDATE runs SET cancel_ns = ? WHERE tenant = ? AND id = ? AND state IN (?, ?)",
		nanos(at), tenant, id, Queued, Running)
}

// InterruptStale marks interrupted, at the given time, every live run
// whose replica's last heartbeat is older than before (the replica died),
// and returns them.
func (s *Store) InterruptStale(ctx context.Context, before, at time.Time, reason string) ([]Run, error) {
	rows, err := s.w.QueryContext(ctx, `UPDATE runs SET state = ?, ended_ns = ?, error = ? WHERE state IN (?, ?) AND heartbeat_ns < ?
		RETURNING `+summaryCols, Interrupted, nanos(at), reason, Queued, Running, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("store: interrupt stale runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, _, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("store: interrupt stale runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: interrupt stale runs: %w", err)
	}
	return out, nil
}
