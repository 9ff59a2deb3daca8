package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// AuditEvent is one entry of a tenant's audit log: who did what to which
// run.
type AuditEvent struct {
	Time time.Time `json:"time"`
	// Actor is a KeyID, or "agent" for what the agent did by itself.
	Actor string `json:"actor"`
	// Action is what happened: "start", "cancel", "scale", "baseline",
	// "interrupted"…
	Action string `json:"action"`
	RunID  string `json:"run_id,omitempty"`
	// Detail is free text; never a secret.
	Detail string `json:"detail,omitempty"`
}

// Audit appends an event to tenant's audit log; a zero Time means now.
func (s *Store) Audit(ctx context.Context, tenant string, e AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := s.w.ExecContext(ctx, "INSERT INTO audit (tenant, at_ns, actor, action, run_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
		tenant, e.Time.UnixNano(), e.Actor, e.Action, e.RunID, e.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditLog returns tenant's audit events, newest first, limit at a time (0
// means DefaultLimit, at most MaxLimit); cursor and next page as ListRuns.
func (s *Store) AuditLog(ctx context.Context, tenant string, limit int, cursor string) (events []AuditEvent, next string, err error) {
	before := int64(1<<63 - 1)
	if cursor != "" {
		before, err = strconv.ParseInt(cursor, 36, 64)
		if err != nil || before <= 0 {
			return nil, "", fmt.Errorf("store: audit log: cursor %q: %w", cursor, ErrBadCursor)
		}
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at_ns, actor, action, run_id, detail FROM audit
		WHERE tenant = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, tenant, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var e AuditEvent
		var seq, at int64
		if err := rows.Scan(&seq, &at, &e.Actor, &e.Action, &e.RunID, &e.Detail); err != nil {
			return nil, "", fmt.Errorf("store: audit log: %w", err)
		}
		if len(events) == limit {
			next = strconv.FormatInt(last, 36)
			break
		}
		e.Time = fromNanos(at)
		events, last = append(events, e), seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: audit log: %w", err)
	}
	return events, next, nil
}
